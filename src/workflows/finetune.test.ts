import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { isUserError } from '../errors.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import type { TrainOptionsInput } from './options.js';
import { train } from './train.js';
import { readMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { readHistory } from '../run/runDir.js';
import { loadTrainState } from '../run/trainState.js';
import { Rng } from '../io/rng.js';

// VGG16 with random weights at 32x32 on 64 tiny images (48 train, 16 validation).
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
const dataReady = makeTinyDataset(path.join(root, 'data'), { train: 24, validation: 8, test: 0 }).then((dir) => {
  fs.rmSync(path.join(dir, 'test'), { recursive: true });
  return dir;
});

const quiet = { log: () => {} };

async function options(out: string, extra: Partial<TrainOptionsInput> = {}): Promise<TrainOptionsInput> {
  return {
    data: await dataReady,
    base: 'vgg16',
    weights: 'none',
    imageSize: 32,
    mode: 'finetune',
    out,
    epochs: 1,
    batchSize: 16,
    headUnits: 16,
    cacheDir: path.join(root, 'cache'),
    verbose: 0,
    ...extra,
  };
}

async function layerWeights(runDir: string): Promise<Map<string, Float32Array[]>> {
  const model = await tfl.loadLayersModel(fileSystemIO(runPaths(runDir).model));
  const out = new Map(model.layers.map((l) => [l.name, l.getWeights().map((w) => w.dataSync() as Float32Array)]));
  model.dispose();
  return out;
}

function same(a: Float32Array[] | undefined, b: Float32Array[] | undefined): boolean {
  assert.ok(a && b && a.length === b.length && a.length > 0);
  return a.every((w, i) => w.length === b[i].length && w.every((v, j) => v === b[i][j]));
}

test('finetune --unfreeze 4 trains block5 of VGG16 and the head, nothing before it; the result is one loadable model', async () => {
  const headRun = path.join(root, 'head');
  await train(await options(headRun, { mode: 'features' }), quiet);
  const tuned = path.join(root, 'tuned');
  const result = await train(await options(tuned, { from: headRun, unfreeze: 4, learningRate: 1e-4, epochs: 2 }), quiet);
  assert.equal(result.history.epoch.length, 3);

  // What fine-tuning trained: the state after its last epoch holds exactly block5's convolutions and the head.
  const before = await layerWeights(headRun);
  const state = await loadTrainState(tuned);
  assert.equal(state?.phase, 'finetune');
  assert.deepEqual(
    [...new Set(state!.weights.map((w) => w.name.split('/')[0]))],
    ['block5_conv1', 'block5_conv2', 'block5_conv3', 'head_dense', 'head_output'],
  );
  for (const w of state!.weights) {
    const layer = w.name.split('/')[0];
    const original = before.get(layer)![w.name.endsWith('kernel') ? 0 : 1];
    assert.ok(
      w.data.some((v, i) => v !== original[i]),
      `${w.name} should have changed`,
    );
  }
  // The kept model (a fine-tuned epoch, or the head's if none beat it) has the frozen layers untouched.
  const after = await layerWeights(tuned);
  for (const name of ['preprocess', 'block1_conv1', 'block3_conv2', 'block4_conv3']) {
    assert.ok(same(before.get(name), after.get(name)), `${name} should be frozen`);
  }

  const meta = await readMeta(tuned);
  assert.equal(meta.mode, 'finetune');
  assert.equal(meta.phase, 'finetune');
  assert.deepEqual(meta.unfrozen, ['block5_conv1', 'block5_conv2', 'block5_conv3', 'block5_pool']);
  assert.equal(meta.bestValLoss, Math.min(...result.history.history.val_loss), 'the kept model is the best epoch of both phases');
  const history = await readHistory(tuned);
  assert.equal(history?.fineTuneStartEpoch, 1);

  const model = await tfl.loadLayersModel(fileSystemIO(runPaths(tuned).model));
  const y = model.predict(tf.fill([2, 32, 32, 3], 128)) as tf.Tensor;
  assert.deepEqual(y.shape, [2, 1]);
  y.dispose();
  model.dispose();
});

test('finetune without --from trains a head first, in the same run dir', async () => {
  const out = path.join(root, 'both');
  await train(await options(out, { unfreeze: 2 }), quiet);
  const history = await readHistory(out);
  assert.deepEqual(history?.epoch, [0, 1]);
  assert.equal(history?.fineTuneStartEpoch, 1);
  assert.equal(fs.readFileSync(runPaths(out).log, 'utf8').trim().split('\n').length, 3, 'log.csv: header + one line per epoch');
});

test("diverging fine-tuning (SGD, learning rate 10) keeps the head phase's best model, whatever happens to the loss", async () => {
  const out = path.join(root, 'diverge');
  await train(await options(out, { mode: 'features', epochs: 2 }), quiet);
  const modelFiles = () =>
    fs
      .readdirSync(runPaths(out).model)
      .map((f) => fs.readFileSync(path.join(runPaths(out).model, f)).toString('base64'))
      .join();
  const good = modelFiles();
  const headMeta = await readMeta(out);
  // Fine-tune in place: the run's own head phase is the best so far. Before, the first
  // fine-tuning epoch always replaced it (a kept "best" of val_loss 7.9e25).
  let error: unknown;
  try {
    await train(await options(out, { from: out, optimizer: 'sgd', learningRate: 10, epochs: 2 }), quiet);
  } catch (e) {
    error = e;
  }
  if (error) {
    assert.ok(isUserError(error), String(error));
    assert.match((error as Error).message, /Training diverged: .*The best model so far \(epoch \d+, val_loss [0-9.]+\) is kept/);
  }
  const meta = await readMeta(out);
  const history = (await readHistory(out))!;
  const tuned = history.history.val_loss.slice(headMeta.epochsDone).filter(Number.isFinite);
  // The rule: a fine-tuning epoch replaces the model only when its val_loss beats the best so far.
  assert.equal(Math.min(...tuned) < headMeta.bestValLoss!, false, `fine-tuning val_loss ${tuned} vs the head's ${headMeta.bestValLoss}`);
  assert.equal(modelFiles(), good, "the checkpoint on disk is still the head phase's best");
  assert.equal(meta.bestEpoch, headMeta.bestEpoch);
  assert.equal(meta.bestValLoss, headMeta.bestValLoss);
});

test('finetune: Ctrl-C in the fine-tuning phase, then --resume, gives the same curve as an uninterrupted run', async () => {
  // A fixed base (a saved folder) and no dropout: training is then a pure function of the saved state.
  const base = await makeTinyBase(path.join(root, 'tiny-base'));
  const tiny = { base, weights: undefined, imageSize: undefined, epochs: 3, dropout: 0, unfreeze: 2, batchSize: 16, learningRate: 1e-3 };
  const steadyOut = path.join(root, 'ft-steady');
  const steady = await train(await options(steadyOut, tiny), quiet);
  assert.equal(steady.history.epoch.length, 6);

  const out = path.join(root, 'ft-interrupted');
  const controller = new AbortController();
  // 3 batches an epoch: 3 head epochs (9 batches), one fine-tuning epoch (3), then 1 batch into the next.
  let seen = 0;
  const stopper = new tfl.CustomCallback({
    onBatchEnd: async () => {
      if (++seen === 9 + 3 + 1) controller.abort();
    },
  }) as unknown as tfl.Callback;
  const r = await train(await options(out, { ...tiny, signal: controller.signal }), { ...quiet, callbacks: [stopper] });
  assert.equal(r.interrupted, true);
  assert.deepEqual(r.history.epoch, [0, 1, 2, 3]);
  const state = await loadTrainState(out);
  assert.equal(state?.phase, 'finetune');
  assert.equal(state?.epoch, 4);
  assert.equal((await readMeta(out)).phase, 'finetune');

  const resumed = await train(await options(out, { ...tiny, resume: true }), quiet);
  assert.deepEqual(resumed.history.epoch, [0, 1, 2, 3, 4, 5]);
  assert.equal(resumed.history.fineTuneStartEpoch, 3);
  steady.history.history.val_loss.forEach((v, i) =>
    assert.ok(Math.abs(v - resumed.history.history.val_loss[i]) < 1e-5, `epoch ${i}: ${v} vs ${resumed.history.history.val_loss[i]}`),
  );
  assert.deepEqual((await layerWeights(out)).get('conv1'), (await layerWeights(steadyOut)).get('conv1'));
});

test('finetune --from: Ctrl-C before the first fine-tuning epoch ends, then --resume, starts fine-tuning from its beginning, says so, and gives the uninterrupted curve', async () => {
  // Before, the interrupted run had no saved state (none of its own epochs had finished) and --resume refused it.
  const base = await makeTinyBase(path.join(root, 'tiny-base-from'));
  const tiny = { base, weights: undefined, imageSize: undefined, epochs: 2, dropout: 0, batchSize: 16, learningRate: 1e-3 };
  const headRun = path.join(root, 'from-head');
  await train(await options(headRun, { ...tiny, mode: 'features' }), quiet);
  const steady = await train(await options(path.join(root, 'from-steady'), { ...tiny, from: headRun, unfreeze: 2 }), quiet);
  assert.deepEqual(steady.history.epoch, [0, 1, 2, 3]);

  const out = path.join(root, 'from-interrupted');
  const controller = new AbortController();
  const stopper = new tfl.CustomCallback({ onBatchEnd: async () => controller.abort() }) as unknown as tfl.Callback;
  const r = await train(await options(out, { ...tiny, from: headRun, unfreeze: 2, signal: controller.signal }), {
    ...quiet,
    callbacks: [stopper],
  });
  assert.equal(r.interrupted, true);
  assert.deepEqual(r.history.epoch, [0, 1], 'no fine-tuning epoch finished');

  const lines: string[] = [];
  const resumed = await train(await options(out, { ...tiny, from: headRun, unfreeze: 2, resume: true }), { log: (l) => lines.push(l) });
  assert.match(
    lines.join('\n'),
    /^resume: no epoch of fine-tuning had finished in .*from-interrupted, so it starts again from its first epoch\./m,
  );
  assert.deepEqual(resumed.history.epoch, [0, 1, 2, 3]);
  assert.equal(resumed.history.fineTuneStartEpoch, 2);
  assert.equal(resumed.interrupted, false);
  steady.history.history.val_loss.forEach((v, i) =>
    assert.ok(Math.abs(v - resumed.history.history.val_loss[i]) < 1e-5, `epoch ${i}: ${v} vs ${resumed.history.history.val_loss[i]}`),
  );
  assert.equal(
    fs.readFileSync(runPaths(out).log, 'utf8').trim().split('\n').length,
    5,
    "log.csv: header + the head's 2 epochs + 2 fine-tuning epochs",
  );
});

test('finetune without --from: Ctrl-C in the head phase records phase head, and --resume finishes the head, then fine-tunes', async () => {
  const base = await makeTinyBase(path.join(root, 'tiny-base-head'));
  const tiny = { base, weights: undefined, imageSize: undefined, epochs: 2, dropout: 0, unfreeze: 2, batchSize: 16, learningRate: 1e-3 };
  const out = path.join(root, 'head-interrupted');
  const controller = new AbortController();
  // 3 batches an epoch: stopped in the head's second epoch.
  let seen = 0;
  const stopper = new tfl.CustomCallback({
    onBatchEnd: async () => {
      if (++seen === 4) controller.abort();
    },
  }) as unknown as tfl.Callback;
  const r = await train(await options(out, { ...tiny, signal: controller.signal }), { ...quiet, callbacks: [stopper] });
  assert.equal(r.interrupted, true);
  assert.equal((await readMeta(out)).phase, 'head');
  assert.equal((await loadTrainState(out))?.phase, 'head');
  const resumed = await train(await options(out, { ...tiny, resume: true }), quiet);
  assert.deepEqual(resumed.history.epoch, [0, 1, 2, 3]);
  assert.equal(resumed.history.fineTuneStartEpoch, 2);
  assert.equal((await readMeta(out)).phase, 'finetune');
});

// VGG16 only: a random-weight MobileNet at 32x32 gives near-constant features and a flat curve, which
// would compare nothing; every family's fine-tuning gradients are compared in ortTraining/families.test.ts.
for (const base of ['vgg16'] as const) {
  test(`finetune on ONNX Runtime (generated graphs for the unfrozen layers + head): 3 epochs give the tfjs path's curve within 1e-4 per epoch, and learn (${base})`, async (t) => {
    // The random base weights come from Math.random (tfjs seeds its initializers with it): drawn
    // from a fixed seed, every run compares the same network. Unseeded, the difference was 6e-8
    // to 7e-6 in eight draws, but 1.1e-4 in one draw under CI: a comparison that could fail by chance.
    const rng = new Rng(20261207);
    const random = Math.random;
    Math.random = () => rng.next();
    t.after(() => {
      Math.random = random;
    });
    const headRun = path.join(root, `parity-head-${base}`);
    await train(await options(headRun, { base, mode: 'features', dropout: 0, engine: 'tfjs' }), quiet);
    type Curves = Record<'loss' | 'val_loss' | 'accuracy' | 'val_accuracy', number[]>;
    const curves: Record<string, Curves> = {};
    for (const engine of ['ort', 'tfjs'] as const) {
      const lines: string[] = [];
      const out = path.join(root, `parity-${base}-${engine}`);
      await train(await options(out, { base, from: headRun, dropout: 0, learningRate: 1e-5, epochs: 3, engine, verbose: 1 }), {
        log: (l) => lines.push(l),
      });
      const said = lines.join('\n');
      if (engine === 'ort') {
        assert.match(said, /train on ONNX Runtime/, said);
        assert.doesNotMatch(said, /trains on tfjs instead/, said);
      }
      const h = (await readHistory(out))!;
      const start = h.fineTuneStartEpoch ?? 0;
      const tuned = (key: keyof Curves) => h.history[key].slice(start);
      curves[engine] = {
        loss: tuned('loss'),
        val_loss: tuned('val_loss'),
        accuracy: tuned('accuracy'),
        val_accuracy: tuned('val_accuracy'),
      };
      assert.equal(curves[engine].loss.length, 3);
    }
    // Measured (random VGG16 weights, each run a new draw before the seed above): ORT and tfjs within
    // 1.2e-7 on loss and val_loss in most draws, 7e-6 in some; the same accuracies. Allowed: 1e-4, and
    // accuracies within 1e-4 (one image is 1/48 or 1/16).
    for (const key of ['loss', 'val_loss', 'accuracy', 'val_accuracy'] as const) {
      curves.ort[key].forEach((v, i) =>
        assert.ok(Math.abs(v - curves.tfjs[key][i]) <= 1e-4, `${key} epoch ${i + 1}: ORT ${v}, tfjs ${curves.tfjs[key][i]}`),
      );
    }
    // It learned: the loss and val_loss fall every epoch, by 0.03 and 0.02 or more in all (measured over
    // six runs: 0.069 to 0.140 and 0.050 to 0.100; 3 * 10^4 times the tolerance). Accuracy is no
    // measure here: in some runs every image stays on one side of 0.5 for all three epochs.
    const { loss, val_loss } = curves.ort;
    for (const c of [loss, val_loss]) assert.ok(c[1] < c[0] && c[2] < c[1], `falls every epoch: ${JSON.stringify(curves.ort)}`);
    assert.ok(loss[0] - loss[2] >= 0.03 && val_loss[0] - val_loss[2] >= 0.02, `barely moved: ${JSON.stringify(curves.ort)}`);
  });
}
