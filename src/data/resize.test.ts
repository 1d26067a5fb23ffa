import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { aspectCropWindow, resizeRgb } from './resize.js';
import { Rng } from '../io/rng.js';
import { assertWorstError } from '../testing/numerics.js';

function randomImage(h: number, w: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: h * w * 3 }, () => rng.int(256));
}

const full = (h: number, w: number) => ({ top: 0, left: 0, height: h, width: w });

test('bilinear resize equals tfjs resizeBilinear(alignCorners=false, halfPixelCenters=true)', async () => {
  await tf.setBackend('cpu');
  const cases: Array<[number, number, number, number]> = [
    [37, 53, 18, 18], // downscale, non-integer ratios
    [7, 5, 23, 31], // upscale
    [375, 500, 180, 180], // a typical Kaggle photo to the book's size
    [1, 1, 4, 4],
    [10, 10, 10, 10],
  ];
  for (const [h, w, oh, ow] of cases) {
    const src = randomImage(h, w, h * 1000 + w);
    const ours = new Float32Array(oh * ow * 3);
    resizeRgb(src, w, full(h, w), oh, ow, ours);
    const ref = tf.tidy(() => tf.image.resizeBilinear(tf.tensor3d(src, [h, w, 3], 'float32'), [oh, ow], false, true).dataSync());
    assertWorstError([{ name: `${h}x${w} -> ${oh}x${ow}`, actual: ours, expected: ref }], 1e-4, 'absolute');
  }
});

test('nearest resize equals tfjs resizeNearestNeighbor(halfPixelCenters=true)', async () => {
  await tf.setBackend('cpu');
  for (const [h, w, oh, ow] of [
    [37, 53, 18, 18],
    [5, 7, 13, 9],
  ]) {
    const src = randomImage(h, w, 7);
    const ours = new Float32Array(oh * ow * 3);
    resizeRgb(src, w, full(h, w), oh, ow, ours, 0, 'nearest');
    const ref = tf.tidy(() => tf.image.resizeNearestNeighbor(tf.tensor3d(src, [h, w, 3], 'float32'), [oh, ow], false, true).dataSync());
    assert.deepEqual(Array.from(ours), Array.from(ref));
  }
});

test('resizing a crop window equals resizing the cropped image; Keras smart_resize windows', async () => {
  await tf.setBackend('cpu');
  const [h, w] = [30, 40];
  const src = randomImage(h, w, 3);
  const win = aspectCropWindow(h, w, [10, 10]);
  assert.deepEqual(win, { top: 0, left: 5, height: 30, width: 30 });
  assert.deepEqual(aspectCropWindow(375, 500, [180, 180]), { top: 0, left: 62, height: 375, width: 375 });
  assert.deepEqual(aspectCropWindow(500, 375, [100, 200]), { top: 156, left: 0, height: 187, width: 375 });
  const ours = new Float32Array(10 * 10 * 3);
  resizeRgb(src, w, win, 10, 10, ours);
  const ref = tf.tidy(() =>
    tf.image.resizeBilinear(tf.slice(tf.tensor3d(src, [h, w, 3], 'float32'), [0, 5, 0], [30, 30, 3]), [10, 10], false, true).dataSync(),
  );
  for (let i = 0; i < ours.length; i++) assert.ok(Math.abs(ours[i] - ref[i]) < 1e-4);
});
