import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { encodeModel } from '../onnx/proto.js';
import { OrtModel } from '../ort/ortRunner.js';
import { initBackend } from '../tfjs/backend.js';
import type { KnnIndex } from './knnIndex.js';
import { knnOnnxModel } from './knnOnnx.js';
import { knnProbabilities, poolFeatureMap } from './knnVotes.js';

// A base that passes pixels through (a 1x1 identity conv, then a shift), so that each
// query's pooled vector is known exactly and ties and signs can be set up on purpose.
function passThroughBase(shift: number): tfl.LayersModel {
  const input = tfl.input({ shape: [2, 2, 3] });
  const kernel = tf.reshape(tf.eye(3), [1, 1, 3, 3]);
  const out = tfl.layers.conv2d({ filters: 3, kernelSize: 1, weights: [kernel, tf.fill([3], shift)] }).apply(input) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

function unit(v: number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

test('the kNN graph gives the TypeScript vote: weights, negative similarities, ties at the k-th neighbour, blank images', async () => {
  await initBackend('cpu');
  const rows = [
    [1, 0, 0], // class 0
    [0.9, 0.1, 0], // class 0
    [0, 1, 0], // class 1: duplicated below in class 2, so that the k-th place is a tie
    [0, 1, 0], // class 2
    [0, 0, 1], // class 2
    [-1, 0, 0], // class 1: opposite the first
    [0.5, 0.5, 0.1], // class 1
  ].map(unit);
  const index: KnnIndex = {
    dim: 3,
    vectors: Float32Array.from(rows.flat()),
    labels: Int32Array.of(0, 0, 1, 2, 2, 1, 1),
    classes: ['a', 'b', 'c'],
    classCount: 3,
    images: rows.map((_, i) => ({ file: `/x/${i}.png`, size: 1, mtimeMs: 0 })),
  };
  const shift = -10;
  const base = passThroughBase(shift);
  // Pixel colours (before the shift): along an axis (ties between the duplicates), mixed, opposite, and the shift itself (a zero map).
  const colours = [
    [10, 11, 10],
    [10, 10.5, 10],
    [12, 10.5, 10],
    [5, 10, 10],
    [10, 10, 10],
    [11, 12, 13],
  ];
  const pixels = Float32Array.from(colours.flatMap((c) => [c, c, c, c].flat()));
  for (const k of [1, 2, 3, 4, 7, 20]) {
    const session = await OrtModel.create(encodeModel(knnOnnxModel(base, index, k)));
    try {
      const { data, shape } = await session.run(pixels, [colours.length, 2, 2, 3]);
      assert.deepEqual(shape, [colours.length, 3]);
      colours.forEach((c, i) => {
        const query = new Float32Array(3);
        poolFeatureMap(Float32Array.from(c.map((x) => x + shift)), 3, query);
        const want = knnProbabilities(index, query, k);
        const got = Array.from(data.subarray(i * 3, i * 3 + 3));
        for (let j = 0; j < 3; j++) assert.ok(Math.abs(got[j] - want[j]) < 1e-6, `k ${k}, colour ${c}: graph ${got}, TypeScript ${want}`);
      });
    } finally {
      await session.dispose();
    }
  }
  // The tie case has teeth: with k 1 the pure-green image (the first colour) gets row 2's class b, stored before row 3's c.
  const greenOnly = new Float32Array(3);
  poolFeatureMap(Float32Array.of(0, 1, 0), 3, greenOnly);
  assert.deepEqual(knnProbabilities(index, greenOnly, 1), [0, 1, 0]);
  base.dispose();
});
