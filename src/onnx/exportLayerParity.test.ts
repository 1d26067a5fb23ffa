import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { checkParity } from '../ort/parity.js';
import { randomImages, randomizeWeights } from '../testing/testModels.js';
import { GroupedConv2D, LayerScale, Normalization, StochasticDepth } from '../layers/index.js';

await initBackend();

type Build = (x: tfl.SymbolicTensor) => tfl.SymbolicTensor;
const L = tfl.layers;
const sym = (l: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]) => l.apply(x) as tfl.SymbolicTensor;

/** One parity case per converter (and per tricky setting of it): a tiny model through tfjs and ONNX Runtime. */
const cases: Array<{ name: string; input: [number, number, number]; build: Build }> = [
  {
    name: 'Conv2D same s1 bias relu',
    input: [7, 7, 3],
    build: (x) => sym(L.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu' }), x),
  },
  {
    name: 'Conv2D same s2 even input',
    input: [8, 8, 3],
    build: (x) => sym(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same' }), x),
  },
  {
    name: 'Conv2D same s2 odd input',
    input: [9, 7, 2],
    build: (x) => sym(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same' }), x),
  },
  {
    name: 'Conv2D same k4 s3 (asymmetric pads)',
    input: [10, 11, 2],
    build: (x) => sym(L.conv2d({ filters: 3, kernelSize: 4, strides: 3, padding: 'same' }), x),
  },
  {
    name: 'Conv2D valid dilation 2 no bias',
    input: [9, 9, 3],
    build: (x) => sym(L.conv2d({ filters: 4, kernelSize: 3, dilationRate: 2, useBias: false }), x),
  },
  {
    name: 'Conv2D same dilation 2',
    input: [8, 9, 3],
    build: (x) => sym(L.conv2d({ filters: 4, kernelSize: 3, dilationRate: 2, padding: 'same' }), x),
  },
  {
    name: 'Conv2D kernel 3x1 strides 2x1 sigmoid',
    input: [8, 6, 3],
    build: (x) => sym(L.conv2d({ filters: 2, kernelSize: [3, 1], strides: [2, 1], activation: 'sigmoid' }), x),
  },
  {
    name: 'DepthwiseConv2D same s2',
    input: [9, 8, 4],
    build: (x) => sym(L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same' }), x),
  },
  {
    name: 'DepthwiseConv2D multiplier 3 valid relu6',
    input: [6, 6, 2],
    build: (x) => sym(L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 3, activation: 'relu6' }), x),
  },
  {
    name: 'SeparableConv2D multiplier 2 same s2',
    input: [9, 9, 3],
    build: (x) =>
      sym(L.separableConv2d({ filters: 5, kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', activation: 'relu' }), x),
  },
  {
    name: 'BatchNormalization on conv',
    input: [5, 5, 3],
    build: (x) => sym(L.batchNormalization({ epsilon: 1e-3 }), sym(L.conv2d({ filters: 4, kernelSize: 1 }), x)),
  },
  {
    name: 'BatchNormalization center/scale off',
    input: [5, 5, 3],
    build: (x) => sym(L.batchNormalization({ center: false, scale: false }), x),
  },
  {
    name: 'ReLU maxValue 6',
    input: [4, 4, 3],
    build: (x) => sym(L.reLU({ maxValue: 6 }), sym(L.conv2d({ filters: 3, kernelSize: 1 }), x)),
  },
  { name: 'ReLU plain', input: [4, 4, 3], build: (x) => sym(L.reLU({}), x) },
  { name: 'LeakyReLU', input: [4, 4, 3], build: (x) => sym(L.leakyReLU({ alpha: 0.2 }), x) },
  {
    name: 'ZeroPadding2D asymmetric',
    input: [5, 4, 2],
    build: (x) =>
      sym(
        L.conv2d({ filters: 2, kernelSize: 3 }),
        sym(
          L.zeroPadding2d({
            padding: [
              [1, 2],
              [0, 3],
            ],
          }),
          x,
        ),
      ),
  },
  { name: 'MaxPooling2D valid odd input', input: [7, 7, 2], build: (x) => sym(L.maxPooling2d({ poolSize: 2 }), x) },
  {
    name: 'MaxPooling2D same 3x3 s2',
    input: [7, 8, 2],
    build: (x) => sym(L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x),
  },
  {
    name: 'AveragePooling2D same 3x3 s2 excludes padding',
    input: [7, 8, 2],
    build: (x) => sym(L.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x),
  },
  { name: 'AveragePooling2D valid', input: [6, 6, 2], build: (x) => sym(L.averagePooling2d({ poolSize: 2 }), x) },
  {
    name: 'GlobalAveragePooling2D',
    input: [5, 6, 3],
    build: (x) => sym(L.globalAveragePooling2d({}), sym(L.conv2d({ filters: 4, kernelSize: 1 }), x)),
  },
  { name: 'GlobalMaxPooling2D', input: [5, 6, 3], build: (x) => sym(L.globalMaxPooling2d({}), x) },
  {
    name: 'Add residual',
    input: [6, 6, 3],
    build: (x) => {
      const c = sym(L.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }), x);
      return sym(L.add(), [x, c]);
    },
  },
  {
    name: 'Add of three',
    input: [4, 4, 2],
    build: (x) => {
      const a = sym(L.conv2d({ filters: 2, kernelSize: 1 }), x);
      const b = sym(L.conv2d({ filters: 2, kernelSize: 1 }), x);
      return sym(L.add(), [x, a, b]);
    },
  },
  {
    name: 'Multiply / Average / Maximum / Minimum',
    input: [4, 4, 2],
    build: (x) => {
      const a = sym(L.conv2d({ filters: 2, kernelSize: 1 }), x);
      const m = sym(L.multiply(), [x, a]);
      const av = sym(L.average(), [m, x]);
      return sym(L.minimum(), [sym(L.maximum(), [av, a]), x]);
    },
  },
  {
    name: 'Multiply with channels-last input (mixed layouts)',
    input: [4, 4, 2],
    build: (x) => sym(L.multiply(), [x, sym(L.conv2d({ filters: 2, kernelSize: 1 }), x)]),
  },
  {
    name: 'Concatenate channels',
    input: [4, 5, 2],
    build: (x) => sym(L.concatenate(), [x, sym(L.conv2d({ filters: 3, kernelSize: 1 }), x)]),
  },
  {
    name: 'Concatenate axis 1 (height)',
    input: [4, 5, 2],
    build: (x) => sym(L.concatenate({ axis: 1 }), [x, sym(L.conv2d({ filters: 2, kernelSize: 1 }), x)]),
  },
  {
    name: 'Flatten then Dense keeps NHWC order',
    input: [3, 4, 5],
    build: (x) => sym(L.dense({ units: 6 }), sym(L.flatten(), sym(L.conv2d({ filters: 5, kernelSize: 1 }), x))),
  },
  {
    name: 'Dense softmax + Dropout + BatchNormalization rank 2',
    input: [2, 2, 3],
    build: (x) => {
      const f = sym(L.flatten(), x);
      const d = sym(L.dense({ units: 8, activation: 'relu' }), f);
      return sym(L.dense({ units: 4, activation: 'softmax' }), sym(L.dropout({ rate: 0.5 }), sym(L.batchNormalization(), d)));
    },
  },
  {
    name: 'Dense on a rank-4 tensor (last axis)',
    input: [3, 3, 4],
    build: (x) => sym(L.dense({ units: 2, activation: 'tanh' }), sym(L.conv2d({ filters: 4, kernelSize: 1 }), x)),
  },
  {
    name: 'Reshape then Conv2D',
    input: [4, 4, 2],
    build: (x) =>
      sym(
        L.conv2d({ filters: 2, kernelSize: 1 }),
        sym(L.reshape({ targetShape: [2, 8, 2] }), sym(L.conv2d({ filters: 2, kernelSize: 1 }), x)),
      ),
  },
  {
    name: 'Softmax layer over channels of an NCHW tensor',
    input: [3, 3, 4],
    build: (x) => sym(L.softmax({ axis: -1 }), sym(L.conv2d({ filters: 4, kernelSize: 1 }), x)),
  },
  { name: 'ELU layer', input: [3, 3, 2], build: (x) => sym(L.elu({}), x) },
  // the ops of ResNet50, EfficientNetB0 and ConvNeXtTiny
  {
    name: 'LayerNormalization on an NCHW conv output (ConvNeXt)',
    input: [5, 4, 6],
    build: (x) => sym(L.layerNormalization({ epsilon: 1e-6 }), sym(L.conv2d({ filters: 6, kernelSize: 3, padding: 'same' }), x)),
  },
  {
    name: 'LayerNormalization rank 2 after pooling (ConvNeXt head)',
    input: [4, 4, 5],
    build: (x) => sym(L.layerNormalization({ epsilon: 1e-6 }), sym(L.globalAveragePooling2d({}), x)),
  },
  {
    name: 'LayerNormalization center/scale off, channels-last input',
    input: [3, 3, 4],
    build: (x) => sym(L.layerNormalization({ center: false, scale: false }), x),
  },
  {
    name: 'Normalization with weights (EfficientNet stem)',
    input: [5, 5, 3],
    build: (x) =>
      sym(L.conv2d({ filters: 2, kernelSize: 1 }), sym(new Normalization({ axis: 3 }), sym(L.rescaling({ scale: 1 / 255 }), x))),
  },
  {
    name: 'Normalization with fixed mean/variance (ConvNeXt prestem)',
    input: [4, 4, 3],
    build: (x) => sym(new Normalization({ mean: [10, 20, 30], variance: [4, 9, 16] }), x),
  },
  {
    name: 'Rescaling per channel after a conv (EfficientNet ImageNet stem)',
    input: [4, 4, 3],
    build: (x) => sym(L.rescaling({ scale: [2, 0.5, -1] as never, offset: 0.25 }), sym(L.conv2d({ filters: 3, kernelSize: 1 }), x)),
  },
  {
    name: 'GroupedConv2D 7x7 same groups = channels (ConvNeXt)',
    input: [9, 8, 4],
    build: (x) => sym(new GroupedConv2D({ filters: 4, kernelSize: 7, padding: 'same', groups: 4 }), x),
  },
  {
    name: 'GroupedConv2D multiplier 2 strides 2 valid',
    input: [9, 9, 3],
    build: (x) => sym(new GroupedConv2D({ filters: 6, kernelSize: 3, strides: 2, groups: 3 }), x),
  },
  {
    name: 'Dense x4 -> gelu -> Dense on an NCHW tensor, LayerScale, residual Add (ConvNeXt block)',
    input: [5, 5, 4],
    build: (x) => {
      const c = sym(new GroupedConv2D({ filters: 4, kernelSize: 7, padding: 'same', groups: 4 }), x);
      let y = sym(L.layerNormalization({ epsilon: 1e-6 }), c);
      y = sym(L.dense({ units: 16 }), y);
      y = sym(L.activation({ activation: 'gelu' as never }), y);
      y = sym(L.dense({ units: 4 }), y);
      y = sym(new LayerScale({ initValues: 1e-6, projectionDim: 4 }), y);
      y = sym(new StochasticDepth({ dropPathRate: 0.3 }), y);
      return sym(L.add(), [c, y]);
    },
  },
  {
    name: 'squeeze-and-excite: GAP, Reshape to 1x1, swish and sigmoid 1x1 convs, Multiply (EfficientNet)',
    input: [6, 6, 8],
    build: (x) => {
      const c = sym(L.activation({ activation: 'swish' }), sym(L.conv2d({ filters: 8, kernelSize: 3, padding: 'same' }), x));
      let se = sym(L.globalAveragePooling2d({}), c);
      se = sym(L.reshape({ targetShape: [1, 1, 8] }), se);
      se = sym(L.conv2d({ filters: 2, kernelSize: 1, activation: 'swish' }), se);
      se = sym(L.conv2d({ filters: 8, kernelSize: 1, activation: 'sigmoid' }), se);
      return sym(L.multiply(), [c, se]);
    },
  },
  {
    name: 'Dropout with a noise shape (EfficientNet drop connect) before Add',
    input: [4, 4, 3],
    build: (x) =>
      sym(L.add(), [
        sym(L.dropout({ rate: 0.2, noiseShape: [null, 1, 1, 1] as never }), sym(L.conv2d({ filters: 3, kernelSize: 1 }), x)),
        x,
      ]),
  },
  {
    name: 'ZeroPadding2D 3 then 7x7 s2 conv, pad 1 then 3x3 s2 max pool (ResNet stem)',
    input: [16, 15, 3],
    build: (x) => {
      let y = sym(
        L.conv2d({ filters: 4, kernelSize: 7, strides: 2 }),
        sym(
          L.zeroPadding2d({
            padding: [
              [3, 3],
              [3, 3],
            ],
          }),
          x,
        ),
      );
      y = sym(L.activation({ activation: 'relu' }), sym(L.batchNormalization({ epsilon: 1.001e-5 }), y));
      return sym(
        L.maxPooling2d({ poolSize: 3, strides: 2 }),
        sym(
          L.zeroPadding2d({
            padding: [
              [1, 1],
              [1, 1],
            ],
          }),
          y,
        ),
      );
    },
  },
  ...[
    'relu',
    'relu6',
    'sigmoid',
    'softmax',
    'linear',
    'tanh',
    'elu',
    'selu',
    'softplus',
    'softsign',
    'hardSigmoid',
    'swish',
    'mish',
    'gelu',
  ].map((a) => ({
    name: `Activation ${a}`,
    input: [3, 3, 4] as [number, number, number],
    build: ((x) => sym(L.activation({ activation: a as 'relu' }), sym(L.conv2d({ filters: 4, kernelSize: 1 }), x))) as Build,
  })),
];

function tiny(c: { input: [number, number, number]; build: Build }, seed: number): tfl.LayersModel {
  const x = tfl.input({ shape: c.input });
  const m = tfl.model({ inputs: x, outputs: c.build(x) });
  randomizeWeights(m, seed);
  return m;
}

for (const [i, c] of cases.entries()) {
  test(`parity: ${c.name}`, async () => {
    const m = tiny(c, 100 + i);
    const x = randomImages([2, ...c.input], -3, 3, i);
    const r = await checkParity(m, x);
    assert.ok(r.maxAbsOutput > 0, 'output should not be all zeros');
    assert.ok(r.relative <= 1e-4, `max abs diff ${r.maxAbsDiff} vs max |out| ${r.maxAbsOutput}`);
  });
}
