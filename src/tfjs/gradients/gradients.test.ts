import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradientKernels } from './index.js';
import { patchLimits } from './conv2dBackpropFilter.js';
import { assertWorstError } from '../../testing/numerics.js';

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
type Stride = number | [number, number];

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

interface Grads {
  dx: Float32Array;
  dw: Float32Array;
}

/**
 * Gradients of sum(conv(x, w) * r) with respect to x and w on `backend`: r
 * fixed random weights, so that dy is not constant and every tap matters.
 */
async function convGrads(
  backend: 'cpu' | 'wasm',
  conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  xShape: number[],
  wShape: number[],
): Promise<Grads> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const x = tf.tensor4d(
      values(
        xShape.reduce((a, b) => a * b),
        7,
      ),
      xShape as [number, number, number, number],
    );
    const w = tf.tensor4d(
      values(
        wShape.reduce((a, b) => a * b),
        11,
      ),
      wShape as [number, number, number, number],
    );
    const yShape = conv(x, w).shape;
    const r = tf.tensor(
      values(
        yShape.reduce((a, b) => a * b),
        13,
      ),
      yShape,
    );
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), r)))([x, w]);
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

async function assertParity(conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D, xShape: number[], wShape: number[]): Promise<void> {
  const expected = await convGrads('cpu', conv, xShape, wShape);
  const actual = await convGrads('wasm', conv, xShape, wShape);
  assertWorstError(
    [
      { name: 'dx', actual: actual.dx, expected: expected.dx },
      { name: 'dw', actual: actual.dw, expected: expected.dw },
    ],
    1e-4,
  );
}

registerWasmGradientKernels();
registerWasmGradientKernels(); // idempotent

test('the missing kernels are registered for wasm', () => {
  for (const name of ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
    assert.ok(tf.getKernel(name, 'wasm'), name);
  }
});

const convCases: Array<{ x: number[]; w: number[]; strides: Stride; pad: Pad }> = [
  { x: [2, 7, 9, 3], w: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { x: [2, 7, 9, 3], w: [3, 3, 3, 4], strides: 1, pad: 'valid' },
  { x: [2, 7, 9, 3], w: [3, 3, 3, 4], strides: 2, pad: 'same' },
  { x: [2, 7, 9, 3], w: [3, 3, 3, 4], strides: 2, pad: 'valid' },
  { x: [2, 8, 8, 5], w: [3, 3, 5, 6], strides: 2, pad: 'same' }, // even size: asymmetric 'same' padding
  { x: [1, 8, 5, 2], w: [2, 4, 2, 3], strides: [2, 1], pad: 'same' }, // even, non-square kernel
  { x: [1, 10, 6, 4], w: [5, 5, 4, 2], strides: 3, pad: 'valid' }, // stride leaves a remainder
  { x: [3, 6, 6, 8], w: [1, 1, 8, 16], strides: 1, pad: 'valid' }, // pointwise
  {
    x: [2, 6, 7, 3],
    w: [3, 3, 3, 2],
    strides: 1,
    pad: [
      [0, 0],
      [2, 0],
      [1, 3],
      [0, 0],
    ],
  }, // explicit, pad > kernel-1
  { x: [2, 9, 9, 16], w: [3, 3, 16, 32], strides: 1, pad: 'same' },
];

for (const c of convCases) {
  test(`conv2d gradients match cpu: x ${c.x} w ${c.w} strides ${c.strides} pad ${JSON.stringify(c.pad)}`, async () => {
    await assertParity((x, w) => tf.conv2d(x, w, c.strides, c.pad as 'same'), c.x, c.w);
  });
}

test('conv2d filter gradient built a few images at a time (large patch matrices) matches cpu', async () => {
  const saved = patchLimits.maxPatchValues;
  patchLimits.maxPatchValues = 2 * 7 * 9 * 27; // two images' patches per chunk: chunks of 2, 2, 1
  try {
    await assertParity((x, w) => tf.conv2d(x, w, 1, 'same'), [5, 7, 9, 3], [3, 3, 3, 4]);
  } finally {
    patchLimits.maxPatchValues = saved;
  }
});

test('fused conv2d (bias + relu, as tfjs-layers calls it) gradients match cpu', async () => {
  await assertParity(
    (x, w) => tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias: tf.linspace(-0.5, 0.5, 4), activation: 'relu' }),
    [2, 6, 5, 3],
    [3, 3, 3, 4],
  );
});

const depthwiseCases: Array<{ x: number[]; w: number[]; strides: Stride; pad: Pad }> = [
  { x: [2, 7, 9, 3], w: [3, 3, 3, 1], strides: 1, pad: 'same' },
  { x: [2, 7, 9, 3], w: [3, 3, 3, 1], strides: 1, pad: 'valid' },
  { x: [2, 7, 9, 3], w: [3, 3, 3, 1], strides: 2, pad: 'same' },
  { x: [2, 7, 9, 3], w: [3, 3, 3, 1], strides: 2, pad: 'valid' },
  { x: [2, 8, 8, 4], w: [3, 3, 4, 2], strides: 2, pad: 'same' },
  { x: [1, 6, 11, 4], w: [3, 5, 4, 2], strides: [2, 1], pad: 'valid' },
  { x: [2, 5, 6, 3], w: [3, 3, 3, 2], strides: 1, pad: 'same' },
];

for (const c of depthwiseCases) {
  test(`depthwise conv gradients match cpu: x ${c.x} w ${c.w} strides ${c.strides} pad ${JSON.stringify(c.pad)}`, async () => {
    await assertParity((x, w) => tf.depthwiseConv2d(x, w, c.strides, c.pad as 'same'), c.x, c.w);
  });
}

test('matMul with transposed operands (Dense gradients) matches cpu', async () => {
  for (const [ta, tb] of [
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    const aShape = ta ? [7, 5] : [5, 7];
    const bShape = tb ? [3, 7] : [7, 3];
    const mm = (x: tf.Tensor4D, w: tf.Tensor4D) =>
      tf.reshape(tf.matMul(tf.reshape(x, aShape), tf.reshape(w, bShape), ta, tb), [1, 5, 3, 1]) as tf.Tensor4D;
    await assertParity(mm, [1, aShape[0], aShape[1], 1], [1, bShape[0], bShape[1], 1]);
  }
});

test('the kernels release their intermediate tensors', async () => {
  await tf.setBackend('wasm');
  const x = tf.tensor4d(values(2 * 7 * 9 * 3, 1), [2, 7, 9, 3]);
  const w = tf.tensor4d(values(3 * 3 * 3 * 2, 2), [3, 3, 3, 2]);
  const dw = tf.tensor4d(values(3 * 3 * 3 * 2, 3), [3, 3, 3, 2]);
  const step = () => {
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')))([x, w]);
    const [hx, hw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')))([
      x,
      dw,
    ]);
    tf.dispose([gx, gw, hx, hw]);
  };
  step();
  const before = tf.memory().numTensors;
  const bytesBefore = tf.memory().numBytes;
  step();
  assert.equal(tf.memory().numTensors, before);
  assert.equal(tf.memory().numBytes, bytesBefore);
  tf.dispose([x, w, dw]);
});
