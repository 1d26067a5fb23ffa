import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { loadBase } from '../applications/loadBase.js';
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
