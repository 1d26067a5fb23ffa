import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { Rng } from '../io/rng.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { train } from './train.js';
import { augmentImages } from '../augment/pipeline.js';
import { withAugmentationDefaults } from '../augment/params.js';
import { readMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { readHistory } from '../run/runDir.js';
import { loadTrainState, type TrainState } from '../run/trainState.js';
import { assertWorstError } from '../testing/numerics.js';

test('augmentation: the book defaults, and each part can be switched off', async () => {
  await initBackend();
  assert.deepEqual(withAugmentationDefaults(undefined), { flip: 'horizontal', rotation: 0.1, zoom: 0.2 });
  assert.deepEqual(withAugmentationDefaults({ zoom: 0.3, rotation: undefined }), { flip: 'horizontal', rotation: 0.1, zoom: 0.3 });
  const x = tf.randomUniform([3, 8, 8, 3], 0, 255, 'float32', 2) as tf.Tensor4D;
  const same = augmentImages(x, { flip: 'none', rotation: 0, zoom: 0 }, new Rng(1));
  assert.deepEqual(Array.from(same.dataSync()), Array.from(x.dataSync()));
  const changed = augmentImages(x, withAugmentationDefaults(undefined), new Rng(1));
  assert.deepEqual(changed.shape, x.shape);
  assert.ok(tf.max(tf.abs(tf.sub(changed, x))).dataSync()[0] > 1);
});

test('train --mode augment: the head trains on augmented images through the frozen base; one loadable model', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 16, validation: 8, test: 0 });
  fs.rmSync(path.join(data, 'test'), { recursive: true });
  const out = path.join(root, 'run');
  const result = await train(
    {
      data,
      base: 'vgg16',
      weights: 'none',
      imageSize: 32,
      mode: 'augment',
      out,
      epochs: 2,
      // 8 steps an epoch at 0.01: the random-weight VGG16 features need them to separate the classes.
      batchSize: 4,
      headUnits: 8,
      learningRate: 0.01,
      cacheDir: path.join(root, 'cache'),
      verbose: 0,
      augmentation: { rotation: 0.05 },
    },
    { log: () => {} },
  );
  assert.ok(result.bestEpoch >= 0);
  // The head learned (random VGG16 weights: each run differs; measured over seven runs): val_loss
  // falls by 0.03 or more (measured 0.064 to 0.104) to 0.62 or less, 0.07 under ln 2, a coin
  // toss's loss (measured 0.480 to 0.561); the training loss falls by 0.1 or more (measured 0.20 to 0.42).
  const { loss, val_loss } = result.history.history;
  assert.ok(val_loss[0] - val_loss[1] >= 0.03 && val_loss[1] <= 0.62, `val_loss ${JSON.stringify(val_loss)}`);
  assert.ok(loss[0] - loss[1] >= 0.1, `loss ${JSON.stringify(loss)}`);
  const meta = await readMeta(out);
  assert.equal(meta.mode, 'augment');
  assert.deepEqual((meta as unknown as { augmentation: unknown }).augmentation, { flip: 'horizontal', rotation: 0.05, zoom: 0.2 });
  assert.ok(meta.timings.augmentImagesPerSecond > 0);
  assert.equal((await readHistory(out))?.epoch.length, 2);
  const model = await tfl.loadLayersModel(fileSystemIO(runPaths(out).model));
  assert.equal(model.layers[1].name, 'preprocess');
  assert.deepEqual((model.predict(tf.zeros([1, 32, 32, 3])) as tf.Tensor).shape, [1, 1]);
});

test('train --mode augment: --resume after Ctrl-C restores the weights and every optimizer slot: it ends where an uninterrupted run ends', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 16, validation: 8 });
  const base = await makeTinyBase(path.join(root, 'base'));
  // No dropout: its masks restart from the seed on a resume, while each epoch's batches and
  // augmentation draws depend only on (seed, epoch). Training is then a pure function of the saved state.
  const opts = {
    data,
    base,
    mode: 'augment' as const,
    epochs: 4,
    batchSize: 8,
    headUnits: 8,
    dropout: 0,
    learningRate: 0.01,
    cacheDir: path.join(root, 'cache'),
    verbose: 0 as const,
  };
  const steadyOut = path.join(root, 'steady');
  const steady = await train({ ...opts, out: steadyOut }, { log: () => {} });

  const out = path.join(root, 'run');
  const controller = new AbortController();
  let seen = 0;
  // 4 batches an epoch: stop one batch into the third epoch.
  const stopper = new tfl.CustomCallback({
    onBatchEnd: async () => {
      if (++seen === 4 * 2 + 1) controller.abort();
    },
  }) as unknown as tfl.Callback;
  const r = await train({ ...opts, out, signal: controller.signal }, { log: () => {}, callbacks: [stopper] });
  assert.equal(r.interrupted, true);
  assert.deepEqual(r.history.epoch, [0, 1]);
  const state = await loadTrainState(out);
  assert.equal(state?.phase, 'augment');
  assert.equal(state?.optimizer.find((w) => w.name === 'iter')?.data[0], 8);

  const resumed = await train({ ...opts, out, resume: true }, { log: () => {} });
  assert.deepEqual(resumed.history.epoch, [0, 1, 2, 3]);
  const [a, b] = [steady.history.history.val_loss, resumed.history.history.val_loss];
  assert.deepEqual(b.slice(0, 2), a.slice(0, 2), 'the epochs before the interruption are kept as they were');
  // The states after epoch 4, slot by slot: RMSprop's mean squares (and iter) and the weights.
  // Measured: identical (error 0); allowed 1e-6 relative. One slot zeroed on resume ends 0.95
  // away (relative), no slot restored 3.2 away.
  const [want, got] = [(await loadTrainState(steadyOut))!, (await loadTrainState(out))!];
  assert.equal(got.epoch, 4);
  // (Variable names carry a per-process suffix: head_dense/kernel/rms in one model, head_dense/kernel_5/rms in the next.)
  const unsuffixed = (s: TrainState) => s.optimizer.map((w) => w.name.replace(/_\d+\//, '/'));
  assert.deepEqual(unsuffixed(got), unsuffixed(want));
  assert.equal(got.optimizer[0].data[0], 16, 'iter: 4 epochs of 4 batches');
  const slots = (s: TrainState) => [...s.optimizer.slice(1), ...s.weights].map((w) => ({ name: w.name, actual: w.data }));
  assertWorstError(
    slots(got).map((c, i) => ({ ...c, expected: slots(want)[i].actual })),
    1e-6,
  );
  // And the head learned: val_accuracy 1 and val_loss under 0.05 (measured 0.0043) at the end.
  assert.ok(resumed.history.history.val_accuracy[3] === 1 && b[3] < 0.05, JSON.stringify(resumed.history.history));
  b.slice(2).forEach((v, i) =>
    assert.ok(Math.abs(v - a[i + 2]) <= 1e-6, `epoch ${i + 3}: resumed val_loss ${v}, uninterrupted ${a[i + 2]}`),
  );
});
