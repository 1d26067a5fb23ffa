import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { tileGradConfig, registerTileGradient } from './tileGrad.js';

await tf.setBackend('wasm');

/** dL/dx of L = sum(tile(x, reps) * r) by brute force: each x element collects r at every copy of it. */
function bruteForce(xShape: number[], reps: number[], r: Float32Array): Float32Array {
  const outShape = xShape.map((s, i) => s * reps[i]);
  const size = xShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  const total = outShape.reduce((a, b) => a * b, 1);
  for (let flat = 0; flat < total; flat++) {
    let rem = flat;
    let xi = 0;
    let stride = 1;
    const idx = new Array<number>(outShape.length);
    for (let a = outShape.length - 1; a >= 0; a--) {
      idx[a] = rem % outShape[a];
      rem = Math.floor(rem / outShape[a]);
    }
    for (let a = xShape.length - 1; a >= 0; a--) {
      xi += (idx[a] % xShape[a]) * stride;
      stride *= xShape[a];
    }
    out[xi] += r[flat];
  }
  return out;
}

const cases: Array<[number[], number[]]> = [
  [[5], [3]],
  [
    [2, 3],
    [1, 4],
  ],
  [
    [2, 1, 1, 3],
    [1, 4, 5, 1],
  ], // LayerNormalization's scale/offset tiling
  [
    [2, 3, 3, 1],
    [1, 1, 1, 7],
  ], // its statistics' tiling
  [
    [2, 2, 2],
    [2, 3, 2],
  ],
  [
    [1, 2, 1, 2, 1],
    [3, 1, 2, 1, 2],
  ],
  [
    [3, 2],
    [1, 1],
  ],
];

registerTileGradient();

for (const [xShape, reps] of cases) {
  test(`Tile gradient x ${JSON.stringify(xShape)} reps ${JSON.stringify(reps)} equals the brute-force sum`, () => {
    const x = tf.randomUniform(xShape, -1, 1, 'float32', 3);
    const outShape = xShape.map((s, i) => s * reps[i]);
    const r = tf.randomUniform(outShape, -1, 1, 'float32', 4);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.tile(t, reps), r)))(x);
    assert.deepEqual(g.shape, xShape);
    const want = bruteForce(xShape, reps, r.dataSync() as Float32Array);
    const got = g.dataSync();
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-5, `${i}: ${got[i]} vs ${want[i]}`);
  });
}

test('LayerNormalization backward on a 768-channel map: a handful of kernel calls, same gradients', async () => {
  const ln = tfl.layers.layerNormalization({ epsilon: 1e-6 });
  ln.build([null, 2, 2, 768]);
  const x = tf.randomUniform([2, 2, 2, 768], -2, 2, 'float32', 5);
  const r = tf.randomUniform([2, 2, 2, 768], -1, 1, 'float32', 6);
  const vars = ln.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const run = () => {
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(ln.apply(x) as tf.Tensor, r)) as tf.Scalar, vars);
    return vars.map((v) => Array.from(grads[v.name].dataSync()));
  };
  const profile = await tf.profile(() => {
    run();
  });
  assert.ok(profile.kernels.length < 200, `${profile.kernels.length} kernel calls`);
  // gamma's gradient is sum over positions of r * normalised x: check against a direct computation
  const [dGamma, dBeta] = run();
  const mean = tf.mean(x, -1, true);
  const variance = tf.mean(tf.square(tf.sub(x, mean)), -1, true);
  const normalised = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6)));
  const wantGamma = tf.sum(tf.mul(r, normalised), [0, 1, 2]).dataSync();
  const wantBeta = tf.sum(r, [0, 1, 2]).dataSync();
  for (let i = 0; i < 768; i++) {
    assert.ok(Math.abs(dGamma[i] - wantGamma[i]) < 1e-3, `gamma ${i}`);
    assert.ok(Math.abs(dBeta[i] - wantBeta[i]) < 1e-4, `beta ${i}`);
  }
  assert.equal(tileGradConfig.kernelName, 'Tile');
});
