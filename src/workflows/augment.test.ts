import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../engine/backend.js';
import { Rng } from '../io/rng.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { makeTinyDataset } from '../testing/tinyRun.js';
import { withTrainDefaults } from './options.js';
import { trainAugment } from './augment.js';
import { augmentImages, withAugmentationDefaults } from '../fit/batchSources.js';
import { readHistory, readMeta, runPaths } from '../run/runDir.js';

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
  const result = await trainAugment({
    ...withTrainDefaults({ data, base: 'vgg16', weights: 'none', imageSize: 32, mode: 'augment', out, epochs: 2, batchSize: 16, headUnits: 8, cacheDir: path.join(root, 'cache'), verbose: 0 }),
    augmentation: { rotation: 0.05 },
  });
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
