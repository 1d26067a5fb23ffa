import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { isUserError } from '../errors.js';
import { exportToOnnx, buildOnnxModel } from './export.js';
import { checkParity } from '../ort/parity.js';
import { randomImages, randomizeWeights } from '../testing/testModels.js';

await initBackend();

const L = tfl.layers;
const sym = (l: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]) => l.apply(x) as tfl.SymbolicTensor;

test('unknown spatial size: same padding through auto_pad, as TF pads', async () => {
  const x = tfl.input({ shape: [null, null, 3] });
  let y = sym(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same' }), x);
  y = sym(L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same' }), y);
  y = sym(L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), y);
  y = sym(L.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }), y);
  const m = tfl.model({ inputs: x, outputs: y });
  randomizeWeights(m, 21);
  for (const [h, w] of [
    [16, 16],
    [15, 13],
  ]) {
    const r = await checkParity(m, randomImages([2, h, w, 3], -3, 3, h));
    assert.ok(r.relative <= 1e-4, `${h}x${w}: ${JSON.stringify(r)}`);
  }
});

test('only the input and output edges transpose in a conv chain', () => {
  const x = tfl.input({ shape: [8, 8, 3] });
  let y = sym(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }), x);
  y = sym(L.batchNormalization(), y);
  y = sym(L.reLU({ maxValue: 6 }), y);
  y = sym(L.depthwiseConv2d({ kernelSize: 3, padding: 'same' }), y);
  y = sym(L.add(), [y, sym(L.conv2d({ filters: 4, kernelSize: 1 }), x)]);
  y = sym(L.maxPooling2d({ poolSize: 2 }), y);
  const { model, inputShape, outputShape } = buildOnnxModel(tfl.model({ inputs: x, outputs: y }));
  const ops = (model.graph?.node ?? []).map((n) => n.opType);
  assert.equal(ops.filter((o) => o === 'Transpose').length, 2, ops.join(','));
  assert.deepEqual(inputShape, [null, 8, 8, 3]);
  assert.deepEqual(outputShape, [null, 4, 4, 4]);
});

test('nested model, cut at a top-level layer and at a layer inside the nested model', async () => {
  const innerIn = tfl.input({ shape: [6, 6, 3] });
  const c1 = sym(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'inner_conv1' }), innerIn);
  const c2 = sym(L.conv2d({ filters: 4, kernelSize: 3, name: 'inner_conv2' }), c1);
  const inner = tfl.model({ inputs: innerIn, outputs: c2, name: 'inner' });
  const x = tfl.input({ shape: [6, 6, 3] });
  const pre = sym(L.conv2d({ filters: 3, kernelSize: 1, name: 'preprocess' }), x);
  const base = inner.apply(pre) as tfl.SymbolicTensor;
  const head = sym(L.dense({ units: 2, name: 'head' }), sym(L.flatten({ name: 'flat' }), base));
  const full = tfl.model({ inputs: x, outputs: head });
  randomizeWeights(full, 3);
  const input = randomImages([2, 6, 6, 3], 0, 255, 5);
  const whole = await checkParity(full, input);
  assert.ok(whole.relative <= 1e-4, `whole: ${JSON.stringify(whole)}`);
  const cutTop = await checkParity(full, input, { upTo: 'inner' });
  assert.deepEqual(cutTop.shape, [2, 4, 4, 4]);
  assert.ok(cutTop.relative <= 1e-4);
  // Cut inside the nested model: compare with preprocess -> inner_conv1 computed on tfjs.
  const ortOnly = await checkParity(tfl.model({ inputs: x, outputs: sym(inner.getLayer('inner_conv1'), pre) }), input);
  assert.ok(ortOnly.relative <= 1e-4);
  const { outputShape } = buildOnnxModel(full, { upTo: 'inner_conv1' });
  assert.deepEqual(outputShape, [null, 6, 6, 4]);
});

test('sequential model', async () => {
  const m = tfl.sequential({
    layers: [L.conv2d({ inputShape: [5, 5, 2], filters: 3, kernelSize: 3, activation: 'relu' }), L.flatten(), L.dense({ units: 2 })],
  });
  randomizeWeights(m, 9);
  const r = await checkParity(m, randomImages([3, 5, 5, 2]));
  assert.ok(r.relative <= 1e-4);
});

test('an unsupported layer is a UserError naming the layer and its class', () => {
  const x = tfl.input({ shape: [4, 4, 2] });
  const m = tfl.model({ inputs: x, outputs: sym(L.upSampling2d({ size: [2, 2], name: 'up' }), x) });
  assert.throws(
    () => exportToOnnx(m),
    (e: unknown) => isUserError(e) && /'up'/.test((e as Error).message) && /UpSampling2D/.test((e as Error).message),
  );
});

test('an unknown cut layer is a UserError listing the layers', () => {
  const x = tfl.input({ shape: [4, 4, 2] });
  const m = tfl.model({ inputs: x, outputs: sym(L.conv2d({ filters: 1, kernelSize: 1, name: 'c' }), x) });
  assert.throws(
    () => exportToOnnx(m, { upTo: 'nope' }),
    (e: unknown) => isUserError(e) && /'nope'/.test((e as Error).message) && /\bc\b/.test((e as Error).message),
  );
});

test('tfjs tensors are not leaked by the export', () => {
  const x = tfl.input({ shape: [4, 4, 2] });
  const m = tfl.model({ inputs: x, outputs: sym(L.conv2d({ filters: 2, kernelSize: 3 }), x) });
  const before = tf.memory().numTensors;
  exportToOnnx(m);
  assert.equal(tf.memory().numTensors, before);
});
