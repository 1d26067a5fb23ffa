import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { preprocessInput, preprocessingLayer, PREPROCESS_MODES } from './preprocess.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';

await initBackend();
const close = (a: ArrayLike<number>, b: number[], tol = 1e-4) =>
  Array.from(a).forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= tol, `${v} vs ${b[i]} at ${i}`));

test('preprocessInput matches Keras imagenet_utils for each mode', () => {
  const px = tf.tensor4d([10, 20, 30, 255, 0, 128], [1, 1, 2, 3]); // two RGB pixels
  // caffe: BGR order, minus [103.939, 116.779, 123.68]
  close(preprocessInput(px, 'caffe').dataSync(), [30 - 103.939, 20 - 116.779, 10 - 123.68, 128 - 103.939, 0 - 116.779, 255 - 123.68]);
  close(
    preprocessInput(px, 'tf').dataSync(),
    [10, 20, 30, 255, 0, 128].map((v) => v / 127.5 - 1),
  );
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  close(
    preprocessInput(px, 'torch').dataSync(),
    [10, 20, 30, 255, 0, 128].map((v, i) => (v / 255 - mean[i % 3]) / std[i % 3]),
  );
  close(preprocessInput(px, 'none').dataSync(), [10, 20, 30, 255, 0, 128]);
});

test('preprocessingLayer: a frozen 1x1 Conv2D equal to preprocessInput, saved and loaded by plain tfjs', async () => {
  const x = tf.randomUniform([2, 5, 4, 3], 0, 255);
  for (const mode of PREPROCESS_MODES) {
    const input = tfl.input({ shape: [5, 4, 3] });
    const layer = preprocessingLayer(mode);
    const m = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
    assert.equal(layer.getClassName(), 'Conv2D');
    assert.equal(layer.trainable, false);
    assert.equal(layer.name, 'preprocess');
    assert.equal(m.trainableWeights.length, 0);
    close((m.predict(x) as tf.Tensor).dataSync(), Array.from(preprocessInput(x, mode).dataSync()), 1e-3);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-pre-'));
    await m.save(fileSystemIO(dir));
    const back = await tfl.loadLayersModel(fileSystemIO(dir));
    assert.equal(back.layers[1].trainable, false);
    close((back.predict(x) as tf.Tensor).dataSync(), Array.from(preprocessInput(x, mode).dataSync()), 1e-3);
  }
});
