import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../engine/backend.js';
import { loadBase } from '../applications/loadBase.js';
import { buildSuffixModel, cutForUnfreeze, defaultUnfreeze } from './suffixModel.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sharedMobileNet = path.resolve(repoRoot, '../shared/models/mobilenet_v1_1.0_224_imagenet_truncated');

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
  assert.deepEqual(cutForUnfreeze(base.model, 4), { cutLayer: 'block4_pool', unfrozen: ['block5_conv1', 'block5_conv2', 'block5_conv3', 'block5_pool'] });
  assert.throws(() => cutForUnfreeze(base.model, 0), /--unfreeze must be a whole number from 1 to 17/);
  assert.throws(() => cutForUnfreeze(base.model, 18), /--unfreeze/);
});
