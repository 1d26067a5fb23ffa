/**
 * Fine-tuning speed, each figure beside a baseline measured in the same run.
 * Run: node --import tsx bench/finetune.ts [--only micro|steps|cli] [--train 200] [--val 100]
 *        [--epochs 3] [--no-torch] [--no-tfjs] [--no-variants] [--torch-workers 0]
 *
 * micro: one VGG16 block5 convolution step (8x11x11x512 input, 3x3x512x512 filter,
 *        forward + backward) on wasm with tlkit's gradient kernels (the tfjs fallback)
 *        vs the tfjs cpu backend.
 * steps: cached-prefix epochs: block5 + the book's head trained at batch 32 on VGG16@180's
 *        prefix output (11x11x512, `--train` samples, `--val` validated every epoch):
 *        tlkit on ONNX Runtime (generated training graphs; variants: stride-1 conv input
 *        gradients as flipped-filter Convs instead of ConvTranspose, the update on the host),
 *        tlkit on tfjs wasm, and PyTorch on the same tensors.
 * cli:   the whole command a user runs, timed from outside: `tlkit train --mode finetune
 *        --from RUN --unfreeze 4 --epochs 3` over `--train` + `--val` shared JPEGs at 180x180,
 *        beside bench/finetune_pytorch.py doing the same epochs (JPEGs decoded every epoch,
 *        prefix under no_grad, block5 + head trained, validation every epoch). Both use
 *        random VGG16 weights (no ImageNet weights offline); the speed is the same.
 * PyTorch is Debian's python3-torch (+ python3-pil for JPEGs) with libopenblas0-pthread,
 * installed with apt-get when missing; where that fails its rows are skipped with a note.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { registerWasmGradientKernels } from '../src/tfjs/gradients/index.js';
import { initBackend } from '../src/tfjs/backend.js';
import { loadBase } from '../src/applications/loadBase.js';
import { listImageFiles } from '../src/data/splits.js';
import { OrtTrainer, type OrtTrainerOptions } from '../src/ortTraining/ortTrainer.js';
import { buildHeadForTraining, compileHeadForTraining } from '../src/fit/head.js';
import { makeOptimizer } from '../src/fit/optimizer.js';
import { buildSuffixModel, cutForUnfreeze } from '../src/fit/suffixModel.js';
import { Rng } from '../src/io/rng.js';
import { writeNpy } from '../src/io/npy.js';
import { readMeta } from '../src/run/meta.js';
import { ensureTorch, machineLine, runPythonJson } from './pytorch.js';
import { flag, numberArg, stringArg } from './args.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sharedData = path.resolve(repoRoot, '../shared/data/cats_vs_dogs_small');
const torchScript = path.join(repoRoot, 'bench/finetune_pytorch.py');
const SIZE: [number, number] = [180, 180];
const PREFIX_SHAPE = [11, 11, 512];
const BATCH = 32;

const only = stringArg('--only');
const nTrain = numberArg('--train', 200);
const nVal = numberArg('--val', 100);
const epochs = numberArg('--epochs', 3);
const torchWorkers = numberArg('--torch-workers', 0);
const withTorch = !flag('--no-torch') && ensureTorch({ packages: ['python3-pil'], modules: ['PIL'] });
const withTfjs = !flag('--no-tfjs');
const withVariants = !flag('--no-variants');

/** Seconds for one forward + backward step of conv2d(x, w) on `backend` (best of `reps` after a warm-up). */
async function convStepSeconds(backend: 'wasm' | 'cpu', reps: number, batch = 8): Promise<number> {
  await tf.setBackend(backend);
  const x = tf.randomNormal([batch, 11, 11, 512]) as tf.Tensor4D;
  const w = tf.mul(tf.randomNormal([3, 3, 512, 512]), 0.02) as tf.Tensor4D;
  const gradStep = () => {
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))))([
      x,
      w,
    ]);
    dx.dataSync();
    dw.dataSync();
    tf.dispose([dx, dw]);
  };
  if (reps > 1) gradStep();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    gradStep();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  tf.dispose([x, w]);
  return best;
}

async function micro(): Promise<void> {
  registerWasmGradientKernels();
  const flops = 3 * 2 * 8 * 11 * 11 * 512 * 9 * 512; // forward + input gradient + filter gradient
  const wasm = await convStepSeconds('wasm', 3);
  console.log('micro: conv 8x11x11x512 * 3x3x512x512, forward + backward (dx and dW)');
  console.log(`  wasm + tlkit kernels: ${(wasm * 1000).toFixed(0)} ms/step (${(flops / wasm / 1e9).toFixed(1)} GFLOP/s)`);
  // The cpu backend's backprop kernels are scalar loops (minutes for this step): time batch 1, scale by 8.
  const cpu = 8 * (await convStepSeconds('cpu', 1, 1));
  console.log(`  tfjs cpu backend:     ${(cpu * 1000).toFixed(0)} ms/step (${(flops / cpu / 1e9).toFixed(2)} GFLOP/s; batch 1 timed, x8)`);
  console.log(`  ratio cpu/wasm: ${(cpu / wasm).toFixed(1)}x`);
  await tf.setBackend('wasm');
}

/** block5 + the book's head on VGG16@180's prefix output, compiled as tlkit's finetune compiles it. */
async function block5AndHead(): Promise<tfl.LayersModel> {
  const base = await loadBase({ base: 'vgg16', weights: 'none', imageSize: SIZE });
  const suffix = buildSuffixModel(base.model, cutForUnfreeze(base.model, 4));
  const head = buildHeadForTraining(base.model.outputs[0].shape.slice(1) as number[], {
    numClasses: 2,
    units: 256,
    activation: 'linear',
    dropout: 0.5,
    pooling: 'flatten',
    seed: 1,
  });
  const model = tfl.model({
    inputs: suffix.model.inputs,
    outputs: head.logits.apply(suffix.model.outputs[0]) as tfl.SymbolicTensor,
    name: 'finetune',
  });
  compileHeadForTraining(model, 2, makeOptimizer('rmsprop', 1e-5));
  return model;
}

interface Split {
  x: Float32Array;
  y: Float32Array;
  n: number;
}

/** Prefix-like tensors (ReLU'd noise, as after block4_pool) and 0/1 labels. */
function randomSplit(n: number, rng: Rng): Split {
  const per = PREFIX_SHAPE.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: n * per }, () => Math.max(0, rng.next() * 2 - 0.5));
  const y = Float32Array.from({ length: n }, () => rng.int(2));
  return { x, y, n };
}

function batchesOf(split: Split, order: number[]): Array<[tf.Tensor, tf.Tensor]> {
  const per = PREFIX_SHAPE.reduce((a, b) => a * b, 1);
  const out: Array<[tf.Tensor, tf.Tensor]> = [];
  for (let s = 0; s < order.length; s += BATCH) {
    const idx = order.slice(s, s + BATCH);
    const x = new Float32Array(idx.length * per);
    idx.forEach((j, k) => x.set(split.x.subarray(j * per, (j + 1) * per), k * per));
    out.push([
      tf.tensor(x, [idx.length, ...PREFIX_SHAPE]),
      tf.tensor2d(
        idx.map((j) => split.y[j]),
        [idx.length, 1],
      ),
    ]);
  }
  return out;
}

/** Seconds of each cached-prefix epoch (shuffled training batches, then a validation pass), on ORT or tfjs. */
async function tlkitSteps(engine: 'ort' | 'tfjs', train: Split, val: Split, options: OrtTrainerOptions = {}): Promise<number[]> {
  const model = await block5AndHead();
  const trainer = engine === 'ort' ? await OrtTrainer.create(model, { graphs: 'model', ...options }) : undefined;
  const rng = new Rng(3);
  const times: number[] = [];
  for (let e = 0; e < epochs; e++) {
    const order = rng.shuffle(Array.from({ length: train.n }, (_, i) => i));
    const t0 = performance.now();
    for (const [x, y] of batchesOf(train, order)) {
      await (trainer ?? model).trainOnBatch(x, y);
      tf.dispose([x, y]);
    }
    for (const [x, y] of batchesOf(
      val,
      Array.from({ length: val.n }, (_, i) => i),
    )) {
      const r = trainer ? await trainer.evaluate(x, y) : (model.evaluate(x, y, { batchSize: BATCH }) as tf.Scalar[]);
      await Promise.all(r.map((t) => t.data()));
      tf.dispose([x, y, ...r]);
    }
    times.push((performance.now() - t0) / 1000);
  }
  await trainer?.dispose();
  model.dispose();
  return times;
}

interface TorchResult {
  epochSeconds: number[];
  seconds: number;
  threads: number;
  torch: string;
}

function torchRun(args: string[]): TorchResult & { wall: number } {
  const t0 = performance.now();
  const r = runPythonJson<TorchResult>(torchScript, args);
  return { ...r, wall: (performance.now() - t0) / 1000 };
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const ratio = (slow: number, fast: number) => `${(slow / fast).toFixed(2)}x`;

async function steps(): Promise<void> {
  console.log(
    `\nsteps: cached-prefix epochs of VGG16@180 block5 + head, ${nTrain} train + ${nVal} validation prefix outputs (${PREFIX_SHAPE.join('x')}), batch ${BATCH}, ${epochs} epochs`,
  );
  const rng = new Rng(1);
  const train = randomSplit(nTrain, rng);
  const val = randomSplit(nVal, rng);
  const ort = await tlkitSteps('ort', train, val);
  // The first epoch includes ORT's session set-up and first-run allocations; later ones are the steady state.
  console.log(
    `  tlkit ONNX Runtime: ${ort.map((t) => t.toFixed(2)).join(' / ')} s per epoch (${(nTrain / mean(ort.slice(1))).toFixed(1)} train images/s after the first)`,
  );
  if (withVariants) {
    // The choices inside the graphs, each against the default in the same run.
    for (const [what, options] of [
      ['stride-1 conv input gradients as flipped-filter Convs', { convInputGradient: 'flipped' }],
      ['optimizer update in the ONNX graph', { update: 'graph' }],
    ] as Array<[string, OrtTrainerOptions]>) {
      const v = await tlkitSteps('ort', train, val, options);
      console.log(
        `  tlkit ONNX Runtime, ${what}: ${v.map((t) => t.toFixed(2)).join(' / ')} s per epoch (default / this: ${ratio(mean(v.slice(1)), mean(ort.slice(1)))})`,
      );
    }
  }
  let tfjsMean: number | undefined;
  if (withTfjs) {
    const wasm = await tlkitSteps('tfjs', train, val);
    tfjsMean = mean(wasm.slice(1));
    console.log(`  tlkit tfjs wasm:    ${wasm.map((t) => t.toFixed(2)).join(' / ')} s per epoch`);
  }
  let torchMean: number | undefined;
  if (withTorch) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-finetune-'));
    await writeNpy(path.join(dir, 'train_x.npy'), train.x, [train.n, ...PREFIX_SHAPE]);
    await writeNpy(path.join(dir, 'train_y.npy'), train.y, [train.n]);
    await writeNpy(path.join(dir, 'val_x.npy'), val.x, [val.n, ...PREFIX_SHAPE]);
    await writeNpy(path.join(dir, 'val_y.npy'), val.y, [val.n]);
    const t = torchRun(['features', dir, String(epochs)]);
    fs.rmSync(dir, { recursive: true, force: true });
    torchMean = mean(t.epochSeconds.slice(1));
    console.log(
      `  PyTorch ${t.torch} (${t.threads} threads), same tensors: ${t.epochSeconds.map((v) => v.toFixed(2)).join(' / ')} s per epoch`,
    );
  }
  const ortMean = mean(ort.slice(1));
  if (tfjsMean) console.log(`  ORT / tfjs wasm (epochs after the first): ${ratio(tfjsMean, ortMean)}`);
  if (torchMean) console.log(`  ORT / PyTorch on the same cached tensors (epochs after the first): ${ratio(torchMean, ortMean)}`);
}

/** A data folder of symlinks to the first shared JPEGs: train/ and validation/, half cats, half dogs. */
function linkedData(root: string): string {
  for (const [split, n] of [
    ['train', nTrain],
    ['validation', nVal],
  ] as const) {
    for (const [c, k] of [
      ['cats', Math.ceil(n / 2)],
      ['dogs', Math.floor(n / 2)],
    ] as const) {
      const dir = path.join(root, split, c);
      fs.mkdirSync(dir, { recursive: true });
      for (const f of listImageFiles(path.join(sharedData, split, c))
        .sort()
        .slice(0, k))
        fs.symlinkSync(f, path.join(dir, path.basename(f)));
    }
  }
  return root;
}

function tlkit(args: string[], env: Record<string, string>): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/tlkit.js'), ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) throw new Error(`tlkit ${args.join(' ')} exited with ${r.status}`);
  return (performance.now() - t0) / 1000;
}

async function cli(): Promise<void> {
  if (!fs.existsSync(path.join(repoRoot, 'dist'))) throw new Error('bin/tlkit.js runs dist/: run `npm run build` first.');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-finetune-cli-'));
  const data = linkedData(path.join(root, 'data'));
  const env = { TLKIT_CACHE: path.join(root, 'cache') };
  const common = ['--data', data, '--base', 'vgg16', '--weights', 'none', '--image-size', '180', '--batch-size', String(BATCH)];
  console.log(
    `\ncli: fine-tuning VGG16@180 (block5 + head), ${epochs} epochs over ${nTrain} train JPEGs, validation on ${nVal} every epoch, wall time of the whole command`,
  );
  // The run fine-tuning starts from (its head), not timed: the user trained it earlier.
  tlkit(['train', ...common, '--mode', 'features', '--epochs', '1', '--out', path.join(root, 'head')], env);
  const wall = tlkit(
    [
      'train',
      ...common,
      '--mode',
      'finetune',
      '--from',
      path.join(root, 'head'),
      '--unfreeze',
      '4',
      '--epochs',
      String(epochs),
      '--out',
      path.join(root, 'tuned'),
    ],
    env,
  );
  const meta = await readMeta(path.join(root, 'tuned'));
  const fitSeconds = meta.timings.finetuneTrainSeconds ?? NaN;
  const prefixSeconds = wall - fitSeconds;
  console.log(
    `  tlkit: ${wall.toFixed(1)} s (prefix output of ${nTrain + nVal} JPEGs extracted and cached, start-up: ${prefixSeconds.toFixed(1)} s; ${epochs} epochs with validation and checkpoints: ${fitSeconds.toFixed(1)} s, ${(fitSeconds / epochs).toFixed(2)} s per epoch)`,
  );
  if (withTorch) {
    const t = torchRun(['images', data, String(epochs), String(torchWorkers)]);
    console.log(
      `  PyTorch ${t.torch} (${t.threads} threads, DataLoader workers ${torchWorkers}): ${t.wall.toFixed(1)} s (epochs ${t.epochSeconds.map((v) => v.toFixed(1)).join(' / ')} s)`,
    );
    console.log(`  whole command, tlkit / PyTorch: ${ratio(t.wall, wall)}   (the target: >= 1.5x)`);
    console.log(`  cached-prefix epoch vs PyTorch epoch: ${ratio(mean(t.epochSeconds), fitSeconds / epochs)}   (the target: >= 3x)`);
  }
  fs.rmSync(root, { recursive: true, force: true });
}

console.log(machineLine());
await initBackend('wasm');
// The tfjs fallback trains with tlkit's wasm gradient kernels, as the workflows register them.
registerWasmGradientKernels();
if (!only || only === 'micro') await micro();
if (!only || only === 'steps') await steps();
if (!only || only === 'cli') await cli();
