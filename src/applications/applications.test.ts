import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { assertKerasFigures, type KerasFigures } from '../testing/kerasFigures.js';
import { FAMILIES, type FamilyArgs, type FamilyName, getFamily } from './index.js';
import { makeDivisible } from './mobilenetV2.js';
import { UserError } from '../errors.js';

await initBackend();

const VGG16_CONV_BASE = [
  'input_layer',
  'block1_conv1',
  'block1_conv2',
  'block1_pool',
  'block2_conv1',
  'block2_conv2',
  'block2_pool',
  'block3_conv1',
  'block3_conv2',
  'block3_conv3',
  'block3_pool',
  'block4_conv1',
  'block4_conv2',
  'block4_conv3',
  'block4_pool',
  'block5_conv1',
  'block5_conv2',
  'block5_conv3',
  'block5_pool',
];

/** Keras's figures (model.summary() totals, layers) for a family built with `args`. */
interface Case extends KerasFigures {
  family: FamilyName;
  args: FamilyArgs;
}

const base = { weights: 'none', includeTop: false } as const;
// Figures from Keras 3 (model.count_params(), len(model.layers), output shapes).
const CASES: Case[] = [
  {
    family: 'vgg16',
    args: { ...base, inputShape: [180, 180, 3] },
    params: 14_714_688,
    nonTrainable: 0,
    output: [null, 5, 5, 512],
    layers: 19,
    name: 'vgg16',
    has: VGG16_CONV_BASE,
  },
  {
    family: 'vgg16',
    args: { weights: 'none', includeTop: true },
    params: 138_357_544,
    nonTrainable: 0,
    output: [null, 1000],
    layers: 23,
    name: 'vgg16',
    has: [...VGG16_CONV_BASE, 'flatten', 'fc1', 'fc2', 'predictions'],
  },
  {
    family: 'vgg16',
    args: { ...base, pooling: 'avg' },
    params: 14_714_688,
    nonTrainable: 0,
    output: [null, 512],
    layers: 20,
    name: 'vgg16',
    has: ['block5_pool', 'global_average_pooling2d'],
  },
  {
    family: 'mobilenet',
    args: { ...base, inputShape: [224, 224, 3] },
    params: 3_228_864,
    nonTrainable: 21_888,
    output: [null, 7, 7, 1024],
    layers: 86,
    name: 'mobilenet_1.00_224',
    has: [
      'input_layer',
      'conv1',
      'conv1_bn',
      'conv1_relu',
      'conv_dw_1',
      'conv_dw_1_bn',
      'conv_dw_1_relu',
      'conv_pw_1',
      'conv_pw_1_bn',
      'conv_pw_1_relu',
      'conv_pad_2',
      'conv_dw_2',
      'conv_pad_12',
      'conv_pw_13_relu',
    ],
    hasNot: ['conv1_pad', 'conv_pad_1', 'conv_pad_3'],
  },
  {
    family: 'mobilenet',
    args: { weights: 'none', includeTop: true },
    params: 4_253_864,
    nonTrainable: 21_888,
    output: [null, 1000],
    layers: 91,
    name: 'mobilenet_1.00_224',
    has: ['conv_pw_13_relu', 'global_average_pooling2d', 'dropout', 'conv_preds', 'reshape_2', 'predictions'],
  },
  {
    family: 'mobilenet',
    args: { ...base, inputShape: [180, 180, 3] },
    params: 3_228_864,
    nonTrainable: 21_888,
    output: [null, 5, 5, 1024],
    layers: 86,
    name: 'mobilenet_1.00_180',
    has: ['conv_pw_13_relu'],
  },
  {
    family: 'mobilenet',
    args: { ...base, inputShape: [128, 128, 3], alpha: 0.25 },
    params: 218_544,
    nonTrainable: 5_472,
    output: [null, 4, 4, 256],
    layers: 86,
    name: 'mobilenet_0.25_128',
    has: ['conv_pw_13_relu'],
  },
  {
    family: 'mobilenet_v2',
    args: { ...base, inputShape: [224, 224, 3] },
    params: 2_257_984,
    nonTrainable: 34_112,
    output: [null, 7, 7, 1280],
    layers: 154,
    name: 'mobilenetv2_1.00_224',
    has: [
      'input_layer',
      'Conv1',
      'bn_Conv1',
      'Conv1_relu',
      'expanded_conv_depthwise',
      'expanded_conv_depthwise_BN',
      'expanded_conv_depthwise_relu',
      'expanded_conv_project',
      'expanded_conv_project_BN',
      'block_1_expand',
      'block_1_expand_BN',
      'block_1_expand_relu',
      'block_1_pad',
      'block_1_depthwise',
      'block_2_add',
      'block_16_project_BN',
      'Conv_1',
      'Conv_1_bn',
      'out_relu',
    ],
    hasNot: ['block_1_add', 'block_16_add', 'expanded_conv_add', 'block_2_pad'],
  },
  {
    family: 'mobilenet_v2',
    args: { weights: 'none', includeTop: true },
    params: 3_538_984,
    nonTrainable: 34_112,
    output: [null, 1000],
    layers: 156,
    name: 'mobilenetv2_1.00_224',
    has: ['out_relu', 'global_average_pooling2d', 'predictions'],
  },
  {
    family: 'mobilenet_v2',
    args: { ...base, inputShape: [180, 180, 3] },
    params: 2_257_984,
    nonTrainable: 34_112,
    output: [null, 6, 6, 1280],
    layers: 154,
    name: 'mobilenetv2_1.00_180',
    has: ['out_relu'],
  },
  {
    family: 'mobilenet_v2',
    args: { ...base, inputShape: [224, 224, 3], alpha: 1.4 },
    params: 4_363_712,
    nonTrainable: 47_936,
    output: [null, 7, 7, 1792],
    layers: 154,
    name: 'mobilenetv2_1.40_224',
    has: ['out_relu'],
  },
];

for (const c of CASES) {
  test(`${c.family} ${JSON.stringify(c.args)}: Keras params, output shape and layer names`, () => {
    const m = getFamily(c.family).architecture(c.args);
    try {
      assertKerasFigures(m, c);
    } finally {
      m.dispose();
    }
  });
}

test('Keras-default initializers and batch-norm settings', () => {
  const v1 = FAMILIES.mobilenet.architecture({ ...base, inputShape: [64, 64, 3] });
  const v2 = FAMILIES.mobilenet_v2.architecture({ ...base, inputShape: [64, 64, 3] });
  for (const m of [v1, v2]) {
    for (const layer of m.layers) {
      const cfg = layer.getConfig() as Record<string, { className?: string } | number | undefined>;
      for (const key of ['kernelInitializer', 'depthwiseInitializer']) {
        // tfjs serialises glorotUniform as VarianceScaling(scale 1, fanAvg, uniform), as Keras does
        if (cfg[key])
          assert.deepEqual(
            cfg[key],
            { className: 'VarianceScaling', config: { scale: 1, mode: 'fanAvg', distribution: 'uniform', seed: null } },
            `${layer.name} ${key}`,
          );
      }
    }
  }
  const bn = (m: tfl.LayersModel, name: string) => m.getLayer(name).getConfig() as { momentum: number; epsilon: number };
  assert.deepEqual([bn(v1, 'conv_dw_3_bn').momentum, bn(v1, 'conv_dw_3_bn').epsilon], [0.99, 1e-3]);
  assert.deepEqual([bn(v2, 'block_3_expand_BN').momentum, bn(v2, 'block_3_expand_BN').epsilon], [0.999, 1e-3]);
  // glorot_uniform stays within +-sqrt(6 / (fan_in + fan_out)); biases start at zero
  const vgg = FAMILIES.vgg16.architecture({ ...base, inputShape: [32, 32, 3] });
  const [kernel, bias] = vgg.getLayer('block1_conv2').getWeights();
  const limit = Math.sqrt(6 / (9 * 64 + 9 * 64));
  const k = kernel.dataSync();
  assert.ok(k.every((v) => Math.abs(v) <= limit));
  assert.ok(Math.max(...k) > 0.9 * limit, 'uniform, not normal, fills the range');
  assert.ok(bias.dataSync().every((v) => v === 0));
  for (const m of [v1, v2, vgg]) m.dispose();
});

test('makeDivisible matches Keras _make_divisible', () => {
  assert.equal(makeDivisible(32 * 0.35, 8), 16);
  assert.equal(makeDivisible(1280 * 1.4, 8), 1792);
  assert.equal(makeDivisible(Math.trunc(24 * 0.35), 8), 8);
  assert.equal(makeDivisible(Math.trunc(16 * 0.75), 8), 16);
});

test('input checks raise UserErrors like Keras does', () => {
  const tooSmall = (f: FamilyName) => () => getFamily(f).architecture({ ...base, inputShape: [10, 10, 3] });
  for (const f of ['vgg16', 'mobilenet', 'mobilenet_v2'] as const) {
    assert.throws(tooSmall(f), (e: unknown) => e instanceof UserError && /at least 32x32/.test((e as Error).message));
  }
  assert.throws(
    () => FAMILIES.vgg16.architecture({ includeTop: true, weights: 'imagenet', inputShape: [180, 180, 3] }),
    /must be \(224, 224, 3\)/,
  );
  assert.throws(() => FAMILIES.vgg16.architecture({ includeTop: true, weights: 'imagenet', classes: 2 }), /classes must be 1000/);
  assert.throws(() => FAMILIES.mobilenet.architecture({ includeTop: false, weights: 'imagenet', alpha: 0.3 }), /alpha 0.25, 0.5, 0.75, 1/);
  assert.throws(
    () => FAMILIES.mobilenet.architecture({ includeTop: false, weights: 'imagenet', depthMultiplier: 2 }),
    /depth multiplier 1/,
  );
  assert.throws(() => FAMILIES.mobilenet_v2.architecture({ includeTop: false, weights: 'imagenet', alpha: 0.9 }), /alpha 0.35/);
  assert.throws(() => FAMILIES.vgg16.architecture({ includeTop: false, weights: 'imagenet', inputShape: [64, 64, 1] }), /3 input channels/);
  assert.throws(() => getFamily('vgg17'), /Unknown model family "vgg17". Did you mean vgg16\?/);
  assert.equal(getFamily('MobileNetV2').name, 'mobilenet_v2');
  // no input shape and no top: any size, as in Keras
  const any = FAMILIES.vgg16.architecture({ ...base });
  assert.deepEqual(any.inputs[0].shape, [null, null, null, 3]);
  any.dispose();
});

test('inputTensor: the application is built on a given input', () => {
  const input = tfl.input({ shape: [96, 96, 3], name: 'images' });
  const m = FAMILIES.mobilenet_v2.architecture({ ...base, inputTensor: input });
  assert.equal(m.inputs[0], input);
  assert.deepEqual(m.outputs[0].shape, [null, 3, 3, 1280]);
  assert.equal(m.name, 'mobilenetv2_1.00_96');
  m.dispose();
});
