import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '../io/rng.js';
import { FILL_MODES, flipImage, mapCoord, warpImage, type FillMode } from './kernels.js';

await tf.setBackend('cpu');

/** Bit for bit: -0 against 0 and NaN against NaN count. */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): string | undefined {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `element ${i}: ${a[i]} against ${b[i]}`;
  return undefined;
}

/**
 * TF's per-pixel formula written plainly: every coordinate through the fill-mode
 * mapping, every neighbour through the bounds check. warpImage's shortcuts must give
 * exactly this.
 */
function plainWarp(src: Float32Array, [h, w, c]: number[], m: Float32Array, mode: FillMode, bilinear: boolean, fill: number): Float32Array {
  const out = new Float32Array(h * w * c);
  const read = (y: number, x: number, ch: number) => (y >= 0 && y < h && x >= 0 && x < w ? src[(y * w + x) * c + ch] : fill);
  const round = (v: number) => (v < 0 ? -Math.round(-v) : Math.round(v));
  let o = 0;
  for (let oy = 0; oy < h; oy++) {
    for (let ox = 0; ox < w; ox++) {
      const k = m[6] * ox + m[7] * oy + 1;
      if (k === 0) {
        for (let ch = 0; ch < c; ch++) out[o++] = fill;
        continue;
      }
      const x = mapCoord((m[0] * ox + m[1] * oy + m[2]) / k, w, mode);
      const y = mapCoord((m[3] * ox + m[4] * oy + m[5]) / k, h, mode);
      for (let ch = 0; ch < c; ch++) {
        if (!bilinear) {
          out[o++] = read(round(y), round(x), ch);
          continue;
        }
        const [y0, x0] = [Math.floor(y), Math.floor(x)];
        const top = (x0 + 1 - x) * read(y0, x0, ch) + (x - x0) * read(y0, x0 + 1, ch);
        const bottom = (x0 + 1 - x) * read(y0 + 1, x0, ch) + (x - x0) * read(y0 + 1, x0 + 1, ch);
        out[o++] = (y0 + 1 - y) * top + (y - y0) * bottom;
      }
    }
  }
  return out;
}

test('warpImage gives bit for bit the plain per-pixel formula: every fill mode, both interpolations, affine and projective matrices', () => {
  const rng = new Rng(7);
  for (const [h, w, c] of [
    [9, 13, 3],
    [1, 6, 2],
    [8, 8, 1],
  ]) {
    const image = Float32Array.from({ length: h * w * c }, () => rng.next() * 255);
    for (let trial = 0; trial < 12; trial++) {
      const m = Float32Array.from({ length: 8 }, (_, i) =>
        i < 6 ? (rng.next() - 0.5) * 4 : trial % 3 === 0 ? (rng.next() - 0.5) * 0.2 : 0,
      );
      // Integer translations put samples exactly on pixels and edges, where the shortcuts start and stop.
      if (trial % 4 === 1) m.set([1, 0, Math.round((rng.next() - 0.5) * 2 * w), 0, 1, Math.round((rng.next() - 0.5) * 2 * h), 0, 0]);
      for (const mode of FILL_MODES) {
        for (const bilinear of [true, false]) {
          const got = new Float32Array(h * w * c + 5).fill(-1);
          // At an offset inside a larger buffer, as a worker writes one image of a batch.
          const src = new Float32Array(image.length + 4);
          src.set(image, 4);
          warpImage(src, 4, got, 5, [h, w, c], new Float32Array([0, 0, ...m]), 2, {
            fillMode: mode,
            interpolation: bilinear ? 'bilinear' : 'nearest',
            fillValue: 3.5,
          });
          assert.deepEqual(Array.from(got.subarray(0, 5)), [-1, -1, -1, -1, -1], 'nothing written before the image');
          const want = plainWarp(image, [h, w, c], m, mode, bilinear, 3.5);
          const diff = firstDifference(got.subarray(5), want);
          assert.equal(diff, undefined, `${h}x${w}x${c} ${mode} ${bilinear ? 'bilinear' : 'nearest'} matrix ${Array.from(m)}: ${diff}`);
        }
      }
    }
  }
});

test('flipImage is tf.reverse on the chosen axes, value for value', () => {
  const [h, w, c] = [3, 4, 2];
  const x = tf.tensor3d(
    Float32Array.from({ length: h * w * c }, (_, i) => i * 1.5 - 7),
    [h, w, c],
  );
  const src = x.dataSync();
  for (const [horizontal, vertical] of [
    [true, false],
    [false, true],
    [true, true],
    [false, false],
  ]) {
    const axes = [...(vertical ? [0] : []), ...(horizontal ? [1] : [])];
    const want = axes.length ? tf.reverse(x, axes).dataSync() : src;
    const got = new Float32Array(src.length + 2);
    flipImage(src, 0, got, 2, [h, w, c], horizontal, vertical);
    assert.equal(firstDifference(got.subarray(2), want), undefined, `horizontal ${horizontal}, vertical ${vertical}`);
  }
});
