/**
 * The book's head trained on cached features: tlkit on tfjs (wasm), tlkit on ONNX
 * Runtime (ortTraining/'s generated graphs) and PyTorch, in the same run.
 * Run: node --import tsx bench/head.ts [--shape vgg16|mobilenet] [--train N] [--val N] [--epochs 20]
 *        [--activation relu|linear] [--no-torch] [--no-variants] [--no-tfjs]
 *
 * Features (random, ReLU-like, labels from a fixed linear rule: no ImageNet weights offline):
 *   --shape vgg16      VGG16@180's output, 5x5x512; 300 train + 100 validation samples by default
 *   --shape mobilenet  MobileNet@224's, 7x7x1024; 600 train + 200 validation by default
 * Head: Flatten -> Dense(256, relu | linear) -> Dropout(0.5) -> Dense(1), RMSprop (Keras
 * defaults), binary cross-entropy from logits, batch 32, validation every epoch.
 *
 * Rows:
 *   steps       the bare loop: trainOnBatch over the shuffled batches + evaluate on validation, every epoch.
 *   fit loop    tlkit's phase (fit loop + the run's records) into a run folder: the same, plus the best checkpoint (the head model
 *               saved when val_loss improves), history.json, log.csv, curves (PNG + SVG) and the
 *               resume state after every epoch: what `tlkit train --mode features` does.
 *   PyTorch     nn.Sequential(Flatten, Linear, ReLU, Dropout, Linear), BCEWithLogitsLoss, RMSprop
 *               (alpha 0.9, eps 1e-7), DataLoader(shuffle=True, batch 32), validation under no_grad every
 *               epoch, torch.save(state_dict) when val_loss improves: as a PyTorch user writes it.
 * PyTorch is Debian's python3-torch with libopenblas0-pthread, installed with apt-get when missing;
 * where that fails the PyTorch row is skipped with a note.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/tfjs/backend.js';
import { OrtTrainer, type OrtTrainerOptions } from '../src/ortTraining/ortTrainer.js';
import { featureBatches } from '../src/fit/batchSources.js';
import { memoryRows } from '../src/features/featureRows.js';
import { evaluateOn } from '../src/fit/fitLoop.js';
import type { TrainableModel } from '../src/fit/trainable.js';
import { buildHeadForTraining, compileHeadForTraining, trainableHead } from '../src/fit/head.js';
import { makeOptimizer } from '../src/fit/optimizer.js';
import type { FeatureSplit } from '../src/features/splits.js';
import { Rng } from '../src/io/rng.js';
import { writeNpy } from '../src/io/npy.js';
import { emptyHistory } from '../src/run/history.js';
import { META_VERSION, type RunMeta } from '../src/run/meta.js';
import { RunWriter } from '../src/run/runFolder.js';
import { fileSystemIO } from '../src/weights/tfjsFiles.js';
import { withTrainDefaults } from '../src/workflows/options.js';
import { runPhase } from '../src/workflows/phase.js';
import { RunRecords } from '../src/workflows/records.js';
import { ensureTorch, machineLine, runPythonJson } from './pytorch.js';
import { numberArg, flag, stringArg } from './args.js';

const SHAPES: Record<string, { features: number[]; train: number; val: number; base: string; size: number }> = {
  vgg16: { features: [5, 5, 512], train: 300, val: 100, base: 'VGG16@180', size: 180 },
  mobilenet: { features: [7, 7, 1024], train: 600, val: 200, base: 'MobileNet@224', size: 224 },
};
const shapeName = stringArg('--shape', 'vgg16');
const SHAPE = SHAPES[shapeName];
if (!SHAPE) throw new Error(`--shape ${shapeName}: one of ${Object.keys(SHAPES).join(', ')}`);
const nTrain = numberArg('--train', SHAPE.train);
const nVal = numberArg('--val', SHAPE.val);
const activation = stringArg('--activation', 'relu') as 'relu' | 'linear';
const epochs = numberArg('--epochs', 20);
const withTorch = !flag('--no-torch');
const withVariants = !flag('--no-variants');
const withTfjs = !flag('--no-tfjs');
const BATCH = 32;
const SEED = 1337;
const FEATURE_SHAPE = SHAPE.features;
const D = FEATURE_SHAPE.reduce((a, b) => a * b, 1);

function makeSplit(seed: number, n: number, proj: Float32Array): FeatureSplit {
  const rng = new Rng(seed);
  const features = new Float32Array(n * D);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < D; j++) {
      // ReLU-like, sparse, positive features as a conv base's last block gives.
      const v = Math.max(0, Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()));
      features[i * D + j] = v;
      s += v * proj[j];
    }
    labels[i] = s + 0.5 * (rng.next() - 0.5) > 0 ? 1 : 0;
  }
  return { features, labels, n, featureShape: FEATURE_SHAPE };
}

const projRng = new Rng(99);
const proj = Float32Array.from({ length: D }, () => projRng.next() - 0.5);
const train = makeSplit(1, nTrain, proj);
const validation = makeSplit(2, nVal, proj);

function sources() {
  return {
    train: featureBatches(memoryRows(train), { batchSize: BATCH, numClasses: 2, seed: SEED, shuffle: true }),
    validation: featureBatches(memoryRows(validation), { batchSize: BATCH, numClasses: 2, seed: SEED, shuffle: false }),
  };
}

function head() {
  const models = buildHeadForTraining(FEATURE_SHAPE, { numClasses: 2, units: 256, activation, dropout: 0.5, seed: SEED });
  compileHeadForTraining(models.logits, 2, makeOptimizer('rmsprop'));
  return models;
}

interface Timed {
  seconds: number;
  valLoss: number;
  valAccuracy: number;
}

/** The bare loop: batches, trainOnBatch, evaluate on validation each epoch. */
async function steps(engine: 'tfjs' | 'ort', ortOpts: OrtTrainerOptions = {}): Promise<Timed> {
  const models = head();
  const trainer = engine === 'ort' ? await OrtTrainer.create(models.logits, { head: trainableHead(models.logits), ...ortOpts }) : undefined;
  const model: TrainableModel = trainer ?? models.logits;
  const src = sources();
  const t0 = performance.now();
  let val = { loss: NaN, accuracy: NaN };
  for (let e = 0; e < epochs; e++) {
    for await (const { xs, ys } of src.train.batches(e)) {
      await model.trainOnBatch(xs, ys);
      tf.dispose([xs, ys]);
    }
    val = (await evaluateOn(model, src.validation)) as typeof val;
  }
  const seconds = (performance.now() - t0) / 1000;
  await trainer?.dispose();
  models.head.dispose();
  return { seconds, valLoss: val.loss, valAccuracy: val.accuracy };
}

/**
 * tlkit's FitLoop into a run folder, checkpoints and records included. `ortOpts` reach the
 * OrtTrainer the phase creates (the baseline row: the hidden kernel's gradient output by the graph).
 */
async function fitLoop(engine: 'tfjs' | 'ort', ortOpts: OrtTrainerOptions = {}): Promise<Timed> {
  const create = OrtTrainer.create;
  OrtTrainer.create = (model, opts) => create.call(OrtTrainer, model, { ...opts, ...ortOpts });
  try {
    return await fitLoopRun(engine);
  } finally {
    OrtTrainer.create = create;
  }
}

async function fitLoopRun(engine: 'tfjs' | 'ort'): Promise<Timed> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tlkit-bench-head-${engine}-`));
  const run = await RunWriter.open(dir, { resume: false, log: () => {} });
  const meta: RunMeta = {
    version: META_VERSION,
    tool: 'tlkit',
    classes: ['cats', 'dogs'],
    labelMode: 'binary',
    preprocessing: 'caffe',
    imageSize: [SHAPE.size, SHAPE.size],
    base: shapeName,
    baseFamily: shapeName === 'vgg16' ? 'vgg16' : 'mobilenet',
    baseSource: 'bench (random features)',
    mode: 'features',
    head: { units: 256, activation, dropout: 0.5, pooling: 'flatten' },
    bestEpoch: -1,
    bestValLoss: null,
    epochsDone: 0,
    finished: false,
    options: { engine },
    timings: {},
    createdAt: new Date().toISOString(),
    updatedAt: '',
  };
  const records = new RunRecords(run, meta, emptyHistory());
  // Compiled (and put on ONNX Runtime for 'ort') by the phase, as `tlkit train` does.
  const models = buildHeadForTraining(FEATURE_SHAPE, { numClasses: 2, units: 256, activation, dropout: 0.5, seed: SEED });
  const opts = withTrainDefaults({ data: dir, base: 'vgg16', out: dir, engine, verbose: 0 });
  const t0 = performance.now();
  await runPhase({ opts, naming: 'api', run, log: () => {} }, records, {
    name: 'features',
    what: 'The head',
    model: models.logits,
    numClasses: 2,
    ...sources(),
    optimizer: { name: 'rmsprop' },
    firstEpoch: 0,
    epochs,
    saver: { save: async (d: string) => void (await models.head.save(fileSystemIO(d))), dispose: () => {} },
    owns: [models.head],
  });
  await records.finish({ interrupted: false });
  const seconds = (performance.now() - t0) / 1000;
  await run.close();
  const h = records.history.history;
  fs.rmSync(dir, { recursive: true, force: true });
  return { seconds, valLoss: h.val_loss[h.val_loss.length - 1], valAccuracy: h.val_accuracy[h.val_accuracy.length - 1] };
}

const TORCH_SCRIPT = String.raw`
import json, sys, time
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

d = sys.argv[1]
epochs = int(sys.argv[2])
torch.set_num_threads(int(sys.argv[3]))
torch.manual_seed(1337)
xtr = torch.from_numpy(np.load(d + '/train_x.npy')); ytr = torch.from_numpy(np.load(d + '/train_y.npy')).float().unsqueeze(1)
xva = torch.from_numpy(np.load(d + '/val_x.npy')); yva = torch.from_numpy(np.load(d + '/val_y.npy')).float().unsqueeze(1)
hidden = [nn.ReLU()] if sys.argv[4] == 'relu' else []
model = nn.Sequential(nn.Flatten(), nn.Linear(xtr[0].numel(), 256), *hidden, nn.Dropout(0.5), nn.Linear(256, 1))
opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
loss_fn = nn.BCEWithLogitsLoss()
train_loader = DataLoader(TensorDataset(xtr, ytr), batch_size=32, shuffle=True)
val_loader = DataLoader(TensorDataset(xva, yva), batch_size=32)
best = float('inf')
t0 = time.perf_counter()
for epoch in range(epochs):
    model.train()
    for xb, yb in train_loader:
        opt.zero_grad()
        out = model(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        opt.step()
    model.eval()
    total, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for xb, yb in val_loader:
            out = model(xb)
            total += loss_fn(out, yb).item() * len(xb)
            correct += ((out > 0).float() == yb).sum().item()
            n += len(xb)
    if total / n < best:
        best = total / n
        torch.save(model.state_dict(), d + '/best.pt')
seconds = time.perf_counter() - t0
print(json.dumps({'seconds': seconds, 'valLoss': total / n, 'valAccuracy': correct / n, 'torch': torch.__version__, 'threads': torch.get_num_threads(),
                  'blas': [l.strip() for l in torch.__config__.show().splitlines() if 'BLAS' in l or 'blas' in l][:3]}))
`;

async function pytorch(): Promise<(Timed & { torch: string; threads: number; blas: string[] }) | undefined> {
  if (!ensureTorch()) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-head-torch-'));
  await writeNpy(path.join(dir, 'train_x.npy'), train.features, [train.n, ...FEATURE_SHAPE]);
  await writeNpy(path.join(dir, 'train_y.npy'), train.labels, [train.n]);
  await writeNpy(path.join(dir, 'val_x.npy'), validation.features, [validation.n, ...FEATURE_SHAPE]);
  await writeNpy(path.join(dir, 'val_y.npy'), validation.labels, [validation.n]);
  fs.writeFileSync(path.join(dir, 'head.py'), TORCH_SCRIPT);
  try {
    // Every core, as PyTorch's own default would use them on a quiet machine.
    return runPythonJson(path.join(dir, 'head.py'), [dir, String(epochs), String(os.availableParallelism()), activation]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const backend = await initBackend();
console.log(
  `the book's head (Dense(256, ${activation})) on cached features: ${nTrain} train + ${nVal} validation samples of ${FEATURE_SHAPE.join('x')} (${SHAPE.base}), batch ${BATCH}, ${epochs} epochs, RMSprop`,
);
console.log(machineLine());
console.log(`tlkit: tfjs backend ${backend}; ONNX Runtime ${os.availableParallelism()} threads`);

const rows: Array<[string, Timed]> = [];
const show = (name: string, t: Timed) => {
  rows.push([name, t]);
  console.log(
    `  ${name.padEnd(64)} ${t.seconds.toFixed(2).padStart(7)} s   val_loss ${t.valLoss.toFixed(4)}  val_accuracy ${t.valAccuracy.toFixed(3)}`,
  );
};
// ORT first: a warm-up of its sessions' one-off set-up is part of what a user waits for, so nothing is warmed.
show('tlkit ORT, steps (default: Gemm, kernel gradient in the update)', await steps('ort'));
show('tlkit ORT, steps (before: kernel gradient output by the graph)', await steps('ort', { outerGradient: false }));
if (withVariants) {
  show('tlkit ORT, steps (optimizer in the graph)', await steps('ort', { update: 'graph' }));
  show('tlkit ORT, steps (MatMul + Add + Transpose)', await steps('ort', { dense: 'matmul' }));
  show('tlkit ORT, steps (optimizer in the graph, fresh output buffers)', await steps('ort', { update: 'graph', reuseBuffers: false }));
  show('tlkit ORT, steps (default, 1 thread)', await steps('ort', { threads: 1 }));
}
if (withTfjs) show('tlkit tfjs, steps', await steps('tfjs'));
show('tlkit ORT, fit loop (checkpoints, records)', await fitLoop('ort'));
show('tlkit ORT, fit loop (before: kernel gradient output by the graph)', await fitLoop('ort', { outerGradient: false }));
if (withTfjs) show('tlkit tfjs, fit loop (checkpoints, records)', await fitLoop('tfjs'));
const torch = withTorch ? await pytorch() : undefined;
if (torch) show(`PyTorch ${torch.torch} (${torch.threads} threads), checkpoints`, torch);
else if (!withTorch) console.log('  PyTorch: skipped (--no-torch)');

const get = (name: string) => rows.find(([n]) => n.startsWith(name))?.[1].seconds;
const ratio = (a?: number, b?: number) => (a && b ? `${(b / a).toFixed(2)}x` : 'n/a');
console.log('speed ratios (higher = the first is faster):');
console.log(`  ORT / tfjs, steps:           ${ratio(get('tlkit ORT, steps (default'), get('tlkit tfjs, steps'))}`);
console.log(`  ORT / tfjs, fit loop:        ${ratio(get('tlkit ORT, fit loop'), get('tlkit tfjs, fit loop'))}`);
console.log(`  ORT fit loop, now / before:  ${ratio(get('tlkit ORT, fit loop (checkpoints'), get('tlkit ORT, fit loop (before'))}`);
if (torch) {
  console.log(`  tlkit ORT fit loop / PyTorch:  ${ratio(get('tlkit ORT, fit loop (checkpoints'), torch.seconds)}   (the target: >= 1.5x)`);
  console.log(`  before / PyTorch:              ${ratio(get('tlkit ORT, fit loop (before'), torch.seconds)}`);
  console.log(`  tlkit tfjs fit loop / PyTorch: ${ratio(get('tlkit tfjs, fit loop'), torch.seconds)}`);
  console.log(`  tlkit ORT steps / PyTorch:     ${ratio(get('tlkit ORT, steps (default'), torch.seconds)}`);
  console.log(`  PyTorch BLAS: ${torch.blas.join(' | ') || 'not reported'}`);
}
