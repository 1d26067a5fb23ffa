import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { loadBase } from '../applications/loadBase.js';
import { registerWasmGradientKernels } from '../tfjs/gradients/index.js';
import { buildSuffixModel, cutForUnfreeze, defaultUnfreeze } from './suffixModel.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sharedMobileNet = path.resolve(repoRoot, '../shared/models/mobilenet_v1_1.0_224_imagenet_truncated');

import { resnet50Architecture } from '../applications/resnet50.js';
import { efficientnetB0Architecture } from '../applications/efficientnet.js';
import { convnextTinyArchitecture } from '../applications/convnext.js';
import type { FamilyName } from '../applications/index.js';

test('MobileNet: the last two depthwise-separable blocks are the default, and prefix + suffix = the base', async () => {
  await initBackend();
  const base = await loadBase({ base: sharedMobileNet, imageSize: [64, 64] });
  const n = defaultUnfreeze(base.model, base.family);
  const cut = cutForUnfreeze(base.model, n);
  assert.equal(cut.cutLayer, 'conv_pw_11_relu');
  assert.equal(cut.unfrozen[0], 'conv_pad_12');
  assert.equal(cut.unfrozen.at(-1), base.model.layers.at(-1)!.name);

  const suffix = buildSuffixModel(base.model, cut);
  assert.deepEqual(suffix.trainable, ['conv_dw_12', 'conv_pw_12', 'conv_dw_13']);
  assert.ok(suffix.model.trainableWeights.length === 3, 'BatchNormalization stays frozen');

  const x = tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 5);
  const prefix = tfl.model({ inputs: base.model.inputs, outputs: base.model.getLayer(cut.cutLayer).output as tfl.SymbolicTensor });
  const whole = base.model.predict(x) as tf.Tensor;
  const features = prefix.predict(x) as tf.Tensor;
  const split = suffix.model.predict(features) as tf.Tensor;
  assert.ok(tf.max(tf.abs(tf.sub(whole, split))).dataSync()[0] < 1e-4);
  // Even when called as in training (fit passes training: true), BN uses its moving statistics.
  const asTraining = suffix.model.apply(features, { training: true }) as tf.Tensor;
  assert.ok(tf.max(tf.abs(tf.sub(asTraining, split))).dataSync()[0] < 1e-4);
});

test('VGG16: --unfreeze 4 cuts after block4_pool; bad counts are user errors', async () => {
  await initBackend();
  const base = await loadBase({ base: 'vgg16', weights: 'none', imageSize: [32, 32] });
  assert.equal(defaultUnfreeze(base.model, base.family), 4);
  assert.deepEqual(cutForUnfreeze(base.model, 4), {
    cutLayer: 'block4_pool',
    unfrozen: ['block5_conv1', 'block5_conv2', 'block5_conv3', 'block5_pool'],
  });
  assert.throws(() => cutForUnfreeze(base.model, 0), /--unfreeze must be a whole number from 1 to 17/);
  assert.throws(() => cutForUnfreeze(base.model, 18), /--unfreeze/);
});

test("the newer families: the default unfreeze point is the family table's last stage, and ConvNeXt cuts before a nested downsampling block", async () => {
  await initBackend('cpu');
  const cases: Array<[FamilyName, tfl.LayersModel, string]> = [
    ['resnet50', resnet50Architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] }), 'conv4_block6_out'],
    ['efficientnet_b0', efficientnetB0Architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] }), 'block6d_add'],
    ['convnext_tiny', convnextTinyArchitecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] }), 'add_14'],
  ];
  for (const [family, model, lastFrozen] of cases) {
    const n = defaultUnfreeze(model, family);
    const cut = cutForUnfreeze(model, n);
    assert.equal(cut.cutLayer, lastFrozen, family);
    const suffix = buildSuffixModel(model, cut);
    assert.deepEqual(suffix.model.outputs[0].shape, model.outputs[0].shape, family);
  }
  // Unfreeze from the last downsampling block on: the suffix starts with a nested Sequential.
  const convnext = cases[2][1];
  const names = convnext.layers.map((l) => l.name);
  const down = names.findIndex((n) => /downsampling_block_2$/.test(n));
  assert.ok(down > 0, names.join(', '));
  const cut = cutForUnfreeze(convnext, names.length - down);
  assert.match(cut.unfrozen[0], /downsampling_block_2$/);
  const suffix = buildSuffixModel(convnext, cut);
  const x = tf.randomUniform([1, ...(suffix.model.inputs[0].shape.slice(1) as number[])]);
  assert.deepEqual((suffix.model.predict(x) as tf.Tensor).shape, [1, 1, 1, 768]);
  for (const [, model] of cases) model.dispose();
});

/** One SGD step of the MobileNet suffix + a Dense on random features; conv_dw_13_bn's gamma and moving mean before and after. */
async function batchNormAfterStep(trainBn: boolean): Promise<{ trainable: string[]; before: Float32Array[]; after: Float32Array[] }> {
  await initBackend();
  registerWasmGradientKernels();
  const base = await loadBase({ base: sharedMobileNet, imageSize: [64, 64] });
  const cut = cutForUnfreeze(base.model, defaultUnfreeze(base.model, base.family));
  const suffix = buildSuffixModel(base.model, cut, { trainBn });
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(suffix.model.outputs[0]) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: 1 }).apply(pooled) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: suffix.model.inputs, outputs: logits });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: (y: tf.Tensor, p: tf.Tensor) => tf.losses.sigmoidCrossEntropy(y, p) });
  const bn = base.model.getLayer('conv_dw_13_bn');
  const read = () => [bn.getWeights()[0], bn.getWeights()[2]].map((w) => w.dataSync().slice() as Float32Array);
  const before = read();
  const features = tf.randomUniform([4, ...suffix.inputShape], 0, 6, 'float32', 11);
  await model.trainOnBatch(features, tf.tensor2d([[0], [1], [0], [1]]));
  const after = read();
  base.model.dispose();
  return { trainable: suffix.trainable, before, after };
}

test('trainBn: the suffix trains BatchNormalization in training mode (gamma and the moving mean change after a step); without it, both stay', async () => {
  const frozen = await batchNormAfterStep(false);
  assert.ok(!frozen.trainable.includes('conv_dw_13_bn'));
  assert.deepEqual(frozen.after, frozen.before, 'frozen BN: gamma and moving mean unchanged');

  const trained = await batchNormAfterStep(true);
  assert.ok(trained.trainable.includes('conv_dw_13_bn'), trained.trainable.join(', '));
  const [gammaBefore, meanBefore] = trained.before;
  const [gammaAfter, meanAfter] = trained.after;
  assert.ok(
    gammaAfter.some((v, i) => Math.abs(v - gammaBefore[i]) > 1e-7),
    'gamma trained',
  );
  assert.ok(
    meanAfter.some((v, i) => Math.abs(v - meanBefore[i]) > 1e-7),
    'moving mean updated from the batch',
  );
});
