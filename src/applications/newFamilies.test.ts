import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { assertKerasFigures, type KerasFigures } from '../testing/kerasFigures.js';
import { FAMILIES, type FamilyArgs, type FamilyName, getFamily, defaultUnfreezeCount } from './index.js';
import { correctPad } from './efficientnet.js';

await initBackend();

// Expected figures derived from Keras's architecture code (keras/src/applications/resnet.py,
// efficientnet.py, convnext.py), not from tlkit's own output: parameter totals computed
// below layer by layer, and the totals Keras documents for these models.

const conv = (k: number, cin: number, cout: number, bias = true) => k * k * cin * cout + (bias ? cout : 0);
const bn = (c: number) => 4 * c; // gamma, beta, moving mean, moving variance
const ln = (c: number) => 2 * c;

/** ResNet50 (v1, use_bias): stem, then stages [64, 3], [128, 4], [256, 6], [512, 3] of bottleneck blocks. */
function resnet50Params(top: boolean): { total: number; nonTrainable: number } {
  let total = conv(7, 3, 64) + bn(64);
  let moving = 2 * 64;
  let cin = 64;
  for (const [f, blocks] of [
    [64, 3],
    [128, 4],
    [256, 6],
    [512, 3],
  ]) {
    for (let b = 1; b <= blocks; b++) {
      if (b === 1) {
        total += conv(1, cin, 4 * f) + bn(4 * f);
        moving += 2 * 4 * f;
      }
      total += conv(1, cin, f) + bn(f) + conv(3, f, f) + bn(f) + conv(1, f, 4 * f) + bn(4 * f);
      moving += 2 * (f + f + 4 * f);
      cin = 4 * f;
    }
  }
  if (top) total += 2048 * 1000 + 1000;
  return { total, nonTrainable: moving };
}

/** EfficientNetB0: Normalization (mean, variance, count), stem, 16 MBConv blocks with squeeze-excite, top conv. */
function efficientnetB0Params(top: boolean): { total: number; nonTrainable: number } {
  const stages: Array<[number, number, number, number, number]> = [
    // kernel, repeats, in, out, expand
    [3, 1, 32, 16, 1],
    [3, 2, 16, 24, 6],
    [5, 2, 24, 40, 6],
    [3, 3, 40, 80, 6],
    [5, 3, 80, 112, 6],
    [5, 4, 112, 192, 6],
    [3, 1, 192, 320, 6],
  ];
  // Normalization: 3 means + 3 variances + the count, all non-trainable
  let total = 7 + conv(3, 3, 32, false) + bn(32);
  let moving = 7 + 2 * 32;
  for (const [k, repeats, fin0, fout, expand] of stages) {
    for (let j = 0; j < repeats; j++) {
      const fin = j === 0 ? fin0 : fout;
      const filters = fin * expand;
      const se = Math.max(1, Math.trunc(fin * 0.25));
      if (expand !== 1) total += conv(1, fin, filters, false) + bn(filters);
      total += k * k * filters + bn(filters); // depthwise, no bias
      total += conv(1, filters, se) + conv(1, se, filters); // squeeze-and-excite
      total += conv(1, filters, fout, false) + bn(fout);
      moving += 2 * ((expand !== 1 ? filters : 0) + filters + fout);
    }
  }
  total += conv(1, 320, 1280, false) + bn(1280);
  moving += 2 * 1280;
  if (top) total += 1280 * 1000 + 1000;
  return { total, nonTrainable: moving };
}

/** ConvNeXtTiny: stem (4x4/4 conv + LN), 4 stages [3, 3, 9, 3] of blocks at widths [96, 192, 384, 768]. */
function convnextTinyParams(top: boolean): { total: number; nonTrainable: number } {
  const dims = [96, 192, 384, 768];
  const depths = [3, 3, 9, 3];
  let total = conv(4, 3, 96) + ln(96);
  dims.forEach((d, i) => {
    if (i > 0) total += ln(dims[i - 1]) + conv(2, dims[i - 1], d);
    // 7x7 grouped conv (1 input channel a group) + bias, LN, Dense 4d, Dense d, LayerScale
    total += depths[i] * (49 * d + d + ln(d) + (d * 4 * d + 4 * d) + (4 * d * d + d) + d);
  });
  total += ln(768); // the top's LayerNormalization, or the one Keras puts after the base without it
  if (top) total += 768 * 1000 + 1000;
  return { total, nonTrainable: 0 };
}

interface Case extends Omit<KerasFigures, 'nonTrainable'> {
  family: FamilyName;
  args: FamilyArgs;
  derived: { total: number; nonTrainable: number };
}

const notop = { weights: 'none', includeTop: false, inputShape: [224, 224, 3] as [number, number, number] };
const withTop = { weights: 'none', includeTop: true };
const CASES: Case[] = [
  {
    family: 'resnet50',
    args: withTop,
    params: 25_636_712,
    derived: resnet50Params(true),
    output: [null, 1000],
    layers: 177,
    name: 'resnet50',
    has: [
      'input_layer',
      'conv1_pad',
      'conv1_conv',
      'conv1_bn',
      'conv1_relu',
      'pool1_pad',
      'pool1_pool',
      'conv2_block1_1_conv',
      'conv2_block1_0_conv',
      'conv2_block1_add',
      'conv2_block1_out',
      'conv5_block3_out',
      'avg_pool',
      'predictions',
    ],
    hasNot: ['conv2_block2_0_conv'],
  },
  {
    family: 'resnet50',
    args: notop,
    params: 23_587_712,
    derived: resnet50Params(false),
    output: [null, 7, 7, 2048],
    layers: 175,
    name: 'resnet50',
    has: ['conv4_block6_out', 'conv5_block1_0_bn', 'conv5_block3_out'],
    hasNot: ['avg_pool'],
  },
  {
    family: 'resnet50',
    args: { ...notop, pooling: 'max' },
    params: 23_587_712,
    derived: resnet50Params(false),
    output: [null, 2048],
    layers: 176,
    name: 'resnet50',
    has: ['conv5_block3_out', 'max_pool'],
  },
  {
    family: 'efficientnet_b0',
    args: withTop,
    params: 5_330_571,
    derived: efficientnetB0Params(true),
    output: [null, 1000],
    layers: 240,
    name: 'efficientnetb0',
    has: [
      'input_layer',
      'rescaling',
      'normalization',
      'stem_conv_pad',
      'stem_conv',
      'stem_bn',
      'stem_activation',
      'block1a_dwconv',
      'block1a_se_squeeze',
      'block1a_se_reshape',
      'block1a_se_reduce',
      'block1a_se_expand',
      'block1a_se_excite',
      'block1a_project_conv',
      'block2a_expand_conv',
      'block2a_dwconv_pad',
      'block2b_drop',
      'block2b_add',
      'block6d_add',
      'block7a_project_bn',
      'top_conv',
      'top_bn',
      'top_activation',
      'avg_pool',
      'top_dropout',
      'predictions',
    ],
    hasNot: ['rescaling_1', 'block1a_expand_conv', 'block1a_add', 'block2a_add', 'block5a_dwconv_pad', 'block7a_add'],
  },
  {
    family: 'efficientnet_b0',
    args: notop,
    params: 4_049_571,
    derived: efficientnetB0Params(false),
    output: [null, 7, 7, 1280],
    layers: 237,
    name: 'efficientnetb0',
    has: ['top_activation'],
    hasNot: ['avg_pool'],
  },
  {
    family: 'convnext_tiny',
    args: withTop,
    params: 28_589_128,
    derived: convnextTinyParams(true),
    output: [null, 1000],
    layers: 153,
    name: 'convnext_tiny',
    has: [
      'input_layer',
      'convnext_tiny_prestem_normalization',
      'convnext_tiny_stem',
      'convnext_tiny_stage_0_block_0_depthwise_conv',
      'convnext_tiny_stage_0_block_0_layernorm',
      'convnext_tiny_stage_0_block_0_pointwise_conv_1',
      'convnext_tiny_stage_0_block_0_gelu',
      'convnext_tiny_stage_0_block_0_pointwise_conv_2',
      'convnext_tiny_stage_0_block_0_layer_scale',
      'convnext_tiny_stage_0_block_0_identity',
      'add',
      'convnext_tiny_downsampling_block_0',
      'add_14',
      'convnext_tiny_downsampling_block_2',
      'add_17',
      'convnext_tiny_head_gap',
      'convnext_tiny_head_layernorm',
      'convnext_tiny_head_dense',
    ],
    hasNot: ['layer_normalization', 'add_18'],
  },
  {
    family: 'convnext_tiny',
    args: notop,
    params: 27_820_128,
    derived: convnextTinyParams(false),
    output: [null, 7, 7, 768],
    layers: 151,
    name: 'convnext_tiny',
    has: ['add_17', 'layer_normalization'],
  },
  {
    family: 'convnext_tiny',
    args: { ...notop, pooling: 'avg', includePreprocessing: false },
    params: 27_820_128,
    derived: convnextTinyParams(false),
    output: [null, 768],
    layers: 151,
    name: 'convnext_tiny',
    has: ['convnext_tiny_stem', 'add_17', 'global_average_pooling2d', 'layer_normalization'],
    hasNot: ['convnext_tiny_prestem_normalization'],
  },
];

for (const c of CASES) {
  test(`${c.family} ${JSON.stringify(c.args)}: Keras totals, output shape and layer names`, () => {
    assert.equal(c.derived.total, c.params, 'the derivation from the Keras code agrees with the published total');
    const m = getFamily(c.family).architecture(c.args);
    try {
      assertKerasFigures(m, { ...c, nonTrainable: c.derived.nonTrainable });
    } finally {
      m.dispose();
    }
  });
}

test('EfficientNet with imagenet weights adds the per-channel Rescaling Keras adds (rescaling_1)', () => {
  const m = FAMILIES.efficientnet_b0.architecture({ includeTop: false, weights: 'imagenet', inputShape: [64, 64, 3] });
  const names = m.layers.map((l) => l.name);
  assert.deepEqual(names.slice(0, 5), ['input_layer', 'rescaling', 'normalization', 'rescaling_1', 'stem_conv_pad']);
  const scale = (m.getLayer('rescaling_1').getConfig() as { scale: number[] }).scale;
  assert.deepEqual(
    scale.map((s) => s.toFixed(6)),
    [0.229, 0.224, 0.225].map((s) => (1 / Math.sqrt(s)).toFixed(6)),
  );
  m.dispose();
});

test('Keras initialisers: EfficientNet VarianceScaling(2, fan_out, truncated normal) convs, ConvNeXt LayerScale 1e-6, ResNet glorot uniform', () => {
  const e = FAMILIES.efficientnet_b0.architecture({ ...notop, inputShape: [32, 32, 3] });
  const cfg = (m: tfl.LayersModel, layer: string, key: string) => (m.getLayer(layer).getConfig() as Record<string, unknown>)[key];
  assert.deepEqual(cfg(e, 'stem_conv', 'kernelInitializer'), {
    className: 'VarianceScaling',
    config: { scale: 2, mode: 'fanOut', distribution: 'truncatedNormal', seed: undefined },
  });
  assert.deepEqual(cfg(e, 'block2a_dwconv', 'depthwiseInitializer'), {
    className: 'VarianceScaling',
    config: { scale: 2, mode: 'fanOut', distribution: 'truncatedNormal', seed: undefined },
  });
  assert.equal(cfg(e, 'stem_bn', 'epsilon'), 1e-3);
  const r = FAMILIES.resnet50.architecture({ ...notop, inputShape: [32, 32, 3] });
  assert.deepEqual(cfg(r, 'conv1_conv', 'kernelInitializer'), {
    className: 'VarianceScaling',
    config: { scale: 1, mode: 'fanAvg', distribution: 'uniform', seed: null },
  });
  assert.equal(cfg(r, 'conv1_bn', 'epsilon'), 1.001e-5);
  const c = FAMILIES.convnext_tiny.architecture({ ...notop, inputShape: [32, 32, 3] });
  const gamma = c.getLayer('convnext_tiny_stage_3_block_2_layer_scale').getWeights()[0];
  assert.deepEqual(Array.from(new Set(gamma.dataSync())), [Math.fround(1e-6)]);
  assert.equal(cfg(c, 'convnext_tiny_stage_0_block_0_layernorm', 'epsilon'), 1e-6);
  for (const m of [e, r, c]) m.dispose();
});

test('preprocessing: ResNet50 caffe outside the model; EfficientNet and ConvNeXt inside (RGB 0..255 in)', () => {
  assert.equal(FAMILIES.resnet50.preprocessing, 'caffe');
  assert.equal(FAMILIES.efficientnet_b0.preprocessing, 'none');
  assert.equal(FAMILIES.convnext_tiny.preprocessing, 'none');
  // ConvNeXt's prestem: (x - 255 * ImageNet mean) / (255 * ImageNet std)
  const c = FAMILIES.convnext_tiny.architecture({ ...notop, inputShape: [32, 32, 3] });
  const pre = tfl.model({ inputs: c.inputs, outputs: c.getLayer('convnext_tiny_prestem_normalization').output as tfl.SymbolicTensor });
  const y = (pre.predict(tf.tile(tf.tensor4d([255, 0, 127.5], [1, 1, 1, 3]), [1, 32, 32, 1])) as tf.Tensor).dataSync();
  const want = [(255 - 0.485 * 255) / (0.229 * 255), (0 - 0.456 * 255) / (0.224 * 255), (127.5 - 0.406 * 255) / (0.225 * 255)];
  want.forEach((w, i) => assert.ok(Math.abs(y[i] - w) < 1e-5, `channel ${i}: ${y[i]} vs ${w}`));
  c.dispose();
});

test('correct_pad as Keras computes it, for even, odd and unknown sizes', () => {
  const at = (h: number | null) => tfl.input({ shape: [h, h, 3] });
  assert.deepEqual(correctPad(at(224), 3), [
    [0, 1],
    [0, 1],
  ]);
  assert.deepEqual(correctPad(at(225), 3), [
    [1, 1],
    [1, 1],
  ]);
  assert.deepEqual(correctPad(at(56), 5), [
    [1, 2],
    [1, 2],
  ]);
  assert.deepEqual(correctPad(at(null), 5), [
    [1, 2],
    [1, 2],
  ]);
});

test("default unfreeze point: the last stage of each family (the book's block5 for VGG16)", () => {
  const expectFirst: Record<FamilyName, string> = {
    vgg16: 'block5_conv1',
    mobilenet: 'conv_pad_12',
    mobilenet_v2: 'block_15_expand',
    resnet50: 'conv5_block1_1_conv',
    efficientnet_b0: 'block7a_expand_conv',
    convnext_tiny: 'convnext_tiny_downsampling_block_2',
  };
  const expectCount: Partial<Record<FamilyName, number>> = { vgg16: 4, resnet50: 32, efficientnet_b0: 16, convnext_tiny: 26 };
  for (const name of Object.keys(expectFirst) as FamilyName[]) {
    const m = FAMILIES[name].architecture({ includeTop: false, weights: 'none', inputShape: [64, 64, 3] });
    const body = m.layers.filter((l) => l.getClassName() !== 'InputLayer');
    const n = defaultUnfreezeCount(m, name)!;
    assert.equal(body[body.length - n].name, expectFirst[name], name);
    if (expectCount[name]) assert.equal(n, expectCount[name], name);
    m.dispose();
  }
});

test('bad arguments are UserErrors naming the family', () => {
  assert.throws(
    () => FAMILIES.resnet50.architecture({ includeTop: true, weights: 'imagenet', classes: 2 }),
    /resnet50: .*classes must be 1000/,
  );
  assert.throws(
    () => FAMILIES.efficientnet_b0.architecture({ includeTop: false, weights: 'none', inputShape: [16, 16, 3] }),
    /efficientnet_b0: the input must be at least 32x32/,
  );
  assert.throws(
    () => FAMILIES.convnext_tiny.architecture({ includeTop: true, weights: 'imagenet', inputShape: [160, 160, 3] }),
    /convnext_tiny: .*input shape must be \(224, 224, 3\)/,
  );
  assert.equal(getFamily('EfficientNetB0').name, 'efficientnet_b0');
  assert.equal(getFamily('convnext-tiny').name, 'convnext_tiny');
  assert.throws(() => getFamily('resnet5'), /Did you mean resnet50\?/);
});
