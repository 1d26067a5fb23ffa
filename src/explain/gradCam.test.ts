import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { camOf, gradCamOfFeatures, normalizedCam, predictedClass, scoreCoefficients } from './gradCam.js';

test('camOf: weights are the spatial mean of the gradient, the map ReLU of their sum over channels (worked by hand)', () => {
  // 1x2 map, 2 channels: A = [[1, 2], [3, -1]] (position-major), gradient [[1, 0], [3, 2]]
  const { cam, weights } = camOf([1, 2, 3, -1], [1, 0, 3, 2], 2, 2);
  assert.deepEqual(Array.from(weights), [2, 1]); // (1+3)/2, (0+2)/2
  assert.deepEqual(Array.from(cam), [4, 5]); // 2*1 + 1*2, 2*3 + 1*(-1)
  const negative = camOf([1, 2, 3, -1], [-1, 0, -3, -2], 2, 2);
  assert.deepEqual(Array.from(negative.cam), [0, 0], 'ReLU: evidence against the class is dropped');
  assert.deepEqual(Array.from(normalizedCam(new Float32Array([0, 2, 4]))), [0, 0.5, 1]);
  assert.deepEqual(Array.from(normalizedCam(new Float32Array([0, 0]))), [0, 0]);
});

test('the class score: one sigmoid unit is +z for the second class and -z for the first; k units pick their logit', () => {
  assert.deepEqual(Array.from(scoreCoefficients(1, 1)), [1]);
  assert.deepEqual(Array.from(scoreCoefficients(1, 0)), [-1]);
  assert.deepEqual(Array.from(scoreCoefficients(3, 2)), [0, 0, 1]);
  assert.equal(predictedClass([0.3]), 1);
  assert.equal(predictedClass([-0.3]), 0);
  assert.equal(predictedClass([0.1, 2, -1]), 1);
});

test('gradCamOfFeatures on a linear score: w_c is the mean of the kernel over positions, and the two classes of a sigmoid mirror each other', async () => {
  await initBackend();
  // score = sum_{p,c} K[p,c] A[p,c] + b through Flatten + Dense(1): d score / dA = K exactly.
  const input = tfl.input({ shape: [2, 2, 3] });
  const kernel = tf.tensor2d([1, -2, 0.5, 3, 0, -1, 2, 1, 1, -1, 4, 0], [12, 1]);
  const dense = tfl.layers.dense({ units: 1, name: 'head_output', weights: [kernel, tf.tensor1d([0.25])] });
  const model = tfl.model({ inputs: input, outputs: dense.apply(tfl.layers.flatten().apply(input)) as tfl.SymbolicTensor });
  const a = Float32Array.from({ length: 24 }, (_, i) => ((i * 7) % 5) - 1);
  const [one, other] = gradCamOfFeatures(model, a, [2, 2, 2, 3], [1, 0]);
  const k = kernel.dataSync();
  const mean = [0, 1, 2].map((c) => (k[c] + k[3 + c] + k[6 + c] + k[9 + c]) / 4);
  assert.deepEqual(Array.from(one.weights), mean.map(Math.fround));
  assert.deepEqual(
    Array.from(other.weights),
    mean.map((m) => Math.fround(-m)),
    'class 0 explains -z',
  );
  assert.equal(one.classIndex, 1);
  assert.equal(other.classIndex, 0);
  const z = Array.from(a.subarray(12)).reduce((s, v, i) => s + v * k[i], 0.25);
  assert.ok(Math.abs(other.score - -z) < 1e-5, `score of class 0 is -z: ${other.score} vs ${-z}`);
  // undefined targets explain the predicted class
  const [auto] = gradCamOfFeatures(model, a.subarray(0, 12), [1, 2, 2, 3]);
  const z0 = Array.from(a.subarray(0, 12)).reduce((s, v, i) => s + v * k[i], 0.25);
  assert.equal(auto.classIndex, z0 >= 0 ? 1 : 0);
  assert.ok(auto.score >= 0, 'the predicted class has a non-negative score');
  model.dispose();
  tf.dispose(kernel);
});
