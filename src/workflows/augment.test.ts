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
import { loadTrainState } from '../run/trainState.js';

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
      batchSize: 16,
      headUnits: 8,
      cacheDir: path.join(root, 'cache'),
      verbose: 0,
      augmentation: { rotation: 0.05 },
    },
    { log: () => {} },
  );
  assert.ok(result.bestEpoch >= 0);
  const meta = await readMeta(out);
  assert.equal(meta.mode, 'augment');
  assert.deepEqual((meta as unknown as { augmentation: unknown }).augmentation, { flip: 'horizontal', rotation: 0.05, zoom: 0.2 });
  assert.ok(meta.timings.augmentImagesPerSecond > 0);
  assert.equal((await readHistory(out))?.epoch.length, 2);
  const model = await tfl.loadLayersModel(fileSystemIO(runPaths(out).model));
  assert.equal(model.layers[1].name, 'preprocess');
  assert.deepEqual((model.predict(tf.zeros([1, 32, 32, 3])) as tf.Tensor).shape, [1, 1]);
});

test('train --mode augment: --resume continues after Ctrl-C with the optimizer state, the curve continuing the interrupted one', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 16, validation: 8 });
  const base = await makeTinyBase(path.join(root, 'base'));
  const opts = {
    data,
    base,
    mode: 'augment' as const,
    epochs: 4,
    batchSize: 8,
    headUnits: 8,
    learningRate: 0.01,
    cacheDir: path.join(root, 'cache'),
    verbose: 0 as const,
  };
  const steady = await train({ ...opts, out: path.join(root, 'steady') }, { log: () => {} });

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
  // The augmentation draws differ after a resume (noise), but training continues from
  // where it was: far closer to the uninterrupted run than to a run restarted from scratch.
  const restart = Math.abs(a[0] - a[3]);
  assert.ok(Math.abs(b[3] - a[3]) <= Math.max(0.02, restart / 2), `resumed val_loss ${b[3]} vs uninterrupted ${a[3]} (epoch 1: ${a[0]})`);
});
