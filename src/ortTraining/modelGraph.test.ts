import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { OrtSession, type HostTensor } from '../ort/ortRunner.js';
import { Rng } from '../io/rng.js';
import { headLossFromLogits } from '../fit/head.js';
import { buildModelGraphs } from './modelGraph.js';
import { gradientOutput, INPUT } from './trainingOps.js';
import { NotDifferentiable } from './notDifferentiable.js';
import { GroupedConv2D } from '../layers/groupedConv2d.js';
import { LayerScale } from '../layers/layerScale.js';
import { relativeError } from '../testing/numerics.js';

type Sym = tfl.SymbolicTensor;
const bnFrozen = (name: string) => {
  // Non-trivial frozen statistics, so the per-channel scale is tested.
  const bn = tfl.layers.batchNormalization({
    name,
    trainable: false,
    movingMeanInitializer: 'randomNormal',
    movingVarianceInitializer: 'ones',
    gammaInitializer: 'randomUniform',
  } as never);
  return bn;
};

interface Case {
  name: string;
  input: number[];
  classes: number;
  /** Keras's label smoothing of the loss, compared with tfjs's losses' own. */
  labelSmoothing?: number;
  build(x: Sym): Sym;
}

const CASES: Case[] = [
  {
    name: 'VGG block: conv relu same s1, conv same s2 on an even size, max pool, flatten, dense relu, dense; label smoothing 0.1',
    labelSmoothing: 0.1,
    input: [10, 10, 3],
    classes: 1,
    build: (x) => {
      let y = tfl.layers.conv2d({ name: 'c1', filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x) as Sym;
      y = tfl.layers.conv2d({ name: 'c2', filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(y) as Sym;
      y = tfl.layers.maxPooling2d({ name: 'pool', poolSize: 2 }).apply(y) as Sym;
      y = tfl.layers.flatten({ name: 'flat' }).apply(y) as Sym;
      y = tfl.layers.dense({ name: 'd1', units: 7, activation: 'relu' }).apply(y) as Sym;
      return tfl.layers.dense({ name: 'd2', units: 1 }).apply(y) as Sym;
    },
  },
  {
    name: 'VGG block5: three 3x3 same convs at stride 1 (the inner ones need input gradients), then a 3x3 valid conv',
    input: [9, 9, 3],
    classes: 1,
    build: (x) => {
      let y = tfl.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x) as Sym;
      y = tfl.layers.conv2d({ name: 'c2', filters: 5, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(y) as Sym;
      y = tfl.layers.conv2d({ name: 'c3', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(y) as Sym;
      y = tfl.layers.conv2d({ name: 'c4', filters: 3, kernelSize: 3 }).apply(y) as Sym;
      y = tfl.layers.flatten({ name: 'flat' }).apply(y) as Sym;
      return tfl.layers.dense({ name: 'out', units: 1 }).apply(y) as Sym;
    },
  },
  {
    name: 'MobileNet block: zero padding, depthwise s2 valid, frozen BN, ReLU6, pointwise conv, 3x3 overlapping max pool, GAP, 3 classes; label smoothing 0.2',
    labelSmoothing: 0.2,
    input: [9, 9, 4],
    classes: 3,
    build: (x) => {
      let y = tfl.layers
        .zeroPadding2d({
          name: 'pad',
          padding: [
            [0, 1],
            [0, 1],
          ],
        })
        .apply(x) as Sym;
      y = tfl.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, strides: 2, useBias: false }).apply(y) as Sym;
      y = bnFrozen('dw_bn').apply(y) as Sym;
      y = tfl.layers.reLU({ name: 'dw_relu', maxValue: 6 }).apply(y) as Sym;
      y = tfl.layers.conv2d({ name: 'pw', filters: 6, kernelSize: 1, useBias: false }).apply(y) as Sym;
      y = bnFrozen('pw_bn').apply(y) as Sym;
      y = tfl.layers.reLU({ name: 'pw_relu', maxValue: 6 }).apply(y) as Sym;
      y = tfl.layers.maxPooling2d({ name: 'pool', poolSize: 3, strides: 2, padding: 'same' }).apply(y) as Sym;
      y = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(y) as Sym;
      return tfl.layers.dense({ name: 'out', units: 3 }).apply(y) as Sym;
    },
  },
  {
    name: 'MobileNetV2 residual: expand, depthwise same (multipliers 1 and 2), project, add, strided valid conv on an odd size, swish gate (Multiply), dense',
    input: [7, 7, 4],
    classes: 1,
    build: (x) => {
      let y = tfl.layers.conv2d({ name: 'expand', filters: 8, kernelSize: 1 }).apply(x) as Sym;
      y = tfl.layers.reLU({ name: 'expand_relu', maxValue: 6 }).apply(y) as Sym;
      y = tfl.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, padding: 'same' }).apply(y) as Sym;
      // Depth multiplier 2: two outputs per input channel.
      y = tfl.layers.depthwiseConv2d({ name: 'dw2', kernelSize: 3, padding: 'same', depthMultiplier: 2, strides: 1 }).apply(y) as Sym;
      y = tfl.layers.conv2d({ name: 'project', filters: 4, kernelSize: 1 }).apply(y) as Sym;
      y = bnFrozen('project_bn').apply(y) as Sym;
      y = tfl.layers.add({ name: 'add' }).apply([x, y]) as Sym;
      y = tfl.layers.conv2d({ name: 'down', filters: 5, kernelSize: 3, strides: 2, activation: 'swish' }).apply(y) as Sym;
      const gate = tfl.layers.conv2d({ name: 'gate', filters: 5, kernelSize: 1, activation: 'sigmoid' }).apply(y) as Sym;
      y = tfl.layers.multiply({ name: 'gated' }).apply([y, gate]) as Sym;
      y = tfl.layers.flatten({ name: 'flat' }).apply(y) as Sym;
      return tfl.layers.dense({ name: 'out', units: 1 }).apply(y) as Sym;
    },
  },
  {
    name: 'ConvNeXt block: 7x7 grouped conv, LayerNormalization, Dense on 4-D (1x1 conv), GELU, LayerScale, residual add, GAP',
    input: [7, 7, 4],
    classes: 3,
    build: (x) => {
      let y = new GroupedConv2D({ filters: 4, kernelSize: 7, padding: 'same', groups: 4, name: 'dw' }).apply(x) as Sym;
      y = tfl.layers
        .layerNormalization({ epsilon: 1e-6, name: 'ln', gammaInitializer: 'randomUniform', betaInitializer: 'randomUniform' } as never)
        .apply(y) as Sym;
      y = tfl.layers.dense({ name: 'pw1', units: 8 }).apply(y) as Sym;
      y = tfl.layers.activation({ activation: 'gelu' as never, name: 'gelu' }).apply(y) as Sym;
      y = tfl.layers.dense({ name: 'pw2', units: 4 }).apply(y) as Sym;
      y = new LayerScale({ initValues: 0.5, projectionDim: 4, name: 'scale' }).apply(y) as Sym;
      y = tfl.layers.add({ name: 'residual' }).apply([x, y]) as Sym;
      y = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(y) as Sym;
      return tfl.layers.dense({ name: 'out', units: 3 }).apply(y) as Sym;
    },
  },
  {
    name: 'EfficientNet squeeze-and-excitation: depthwise, swish, GAP, reshape, 1x1 convs (swish, sigmoid), multiply',
    input: [6, 6, 4],
    classes: 1,
    build: (x) => {
      let y = tfl.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, padding: 'same', useBias: false }).apply(x) as Sym;
      y = tfl.layers.activation({ activation: 'swish' as never, name: 'dw_swish' }).apply(y) as Sym;
      let se = tfl.layers.globalAveragePooling2d({ name: 'se_squeeze' }).apply(y) as Sym;
      se = tfl.layers.reshape({ targetShape: [1, 1, 4], name: 'se_reshape' }).apply(se) as Sym;
      se = tfl.layers.conv2d({ name: 'se_reduce', filters: 2, kernelSize: 1, activation: 'swish' as never }).apply(se) as Sym;
      se = tfl.layers.conv2d({ name: 'se_expand', filters: 4, kernelSize: 1, activation: 'sigmoid' }).apply(se) as Sym;
      y = tfl.layers.multiply({ name: 'se_excite' }).apply([y, se]) as Sym;
      y = tfl.layers.flatten({ name: 'flat' }).apply(y) as Sym;
      return tfl.layers.dense({ name: 'out', units: 1 }).apply(y) as Sym;
    },
  },
];

const INPUT_GRADIENTS = ['transpose', 'flipped'] as const;
for (const c of CASES)
  for (const convInputGradient of INPUT_GRADIENTS) {
    test(`generated training graph: every trainable weight's gradient equals tfjs's (max relative error <= 1e-4): ${c.name} (stride-1 conv input gradients: ${convInputGradient})`, async () => {
      await initBackend('cpu');
      const rng = new Rng(11);
      const n = 5;
      const input = tfl.input({ shape: c.input, name: 'features' });
      const model = tfl.model({ inputs: input, outputs: c.build(input), name: 'suffix' });
      const graphs = buildModelGraphs(model, {
        optimizer: { kind: 'sgd', learningRate: 0.1 },
        update: 'host',
        convInputGradient,
        labelSmoothing: c.labelSmoothing,
      });
      assert.equal(graphs.params.length, model.trainableWeights.length);
      const xData = Float32Array.from({ length: n * c.input.reduce((a, b) => a * b, 1) }, () => rng.next() * 2 - 1);
      const yData = new Float32Array(n * c.classes);
      for (let i = 0; i < n; i++) {
        if (c.classes === 1) yData[i] = rng.int(2);
        else yData[i * c.classes + rng.int(c.classes)] = 1;
      }
      const feeds: Record<string, HostTensor> = {
        [INPUT.x]: { data: xData, dims: [n, ...c.input] },
        [INPUT.y]: { data: yData, dims: [n, c.classes] },
        [INPUT.invBatch]: { data: Float32Array.of(1 / n), dims: [] },
      };
      graphs.params.forEach((p, i) => {
        const values = graphs.variables[i].read().dataSync() as Float32Array;
        const layout = graphs.layouts[i];
        feeds[p.name] = { data: layout ? Float32Array.from(layout, (j) => values[j]) : values.slice(), dims: p.shape };
      });
      const session = await OrtSession.create(graphs.train, { threads: 1 });
      const out = await session.run(feeds);
      await session.dispose();

      const x = tf.tensor(xData, [n, ...c.input]);
      const y = tf.tensor(yData, [n, c.classes]);
      const lossFn = headLossFromLogits(c.classes === 1 ? 2 : c.classes, c.labelSmoothing);
      const { value, grads } = tf.variableGrads(
        () => lossFn(y, model.apply(x, { training: false }) as tf.Tensor) as tf.Scalar,
        model.trainableWeights.map((w) => w.read() as tf.Variable),
      );
      assert.ok(
        Math.abs(out.loss.data[0] - value.dataSync()[0]) <= 1e-5 * Math.max(1, Math.abs(value.dataSync()[0])),
        `loss ${out.loss.data[0]} vs tfjs ${value.dataSync()[0]}`,
      );
      graphs.params.forEach((p, i) => {
        const v = graphs.variables[i];
        const expected = grads[(v.read() as tf.Variable).name].dataSync() as Float32Array;
        const got = out[gradientOutput(p.name)].data;
        const layout = graphs.layouts[i];
        const inTfjsOrder = new Float32Array(got.length);
        got.forEach((g, j) => (inTfjsOrder[layout ? layout[j] : j] = g));
        const err = relativeError(inTfjsOrder, expected);
        assert.ok(err <= 1e-4, `${v.originalName}: relative error ${err.toExponential(2)}`);
      });
      tf.dispose([x, y, value, ...Object.values(grads)]);
      model.dispose();
    });
  }

test('generated training graph: a layer it cannot differentiate is refused with NotDifferentiable, naming it', async () => {
  await initBackend('cpu');
  const input = tfl.input({ shape: [6, 6, 2] });
  // Behind a trainable conv, so its gradient is needed (on the frozen input alone it would need none).
  let y = tfl.layers.conv2d({ name: 'c', filters: 2, kernelSize: 1 }).apply(input) as Sym;
  y = tfl.layers.averagePooling2d({ name: 'avg_pool_here', poolSize: 2 }).apply(y) as Sym;
  y = tfl.layers.flatten().apply(y) as Sym;
  const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 1 }).apply(y) as Sym });
  assert.throws(
    () => buildModelGraphs(model, { optimizer: { kind: 'sgd', learningRate: 0.1 } }),
    (e: Error) => e instanceof NotDifferentiable && /AveragePool/.test(e.message),
  );
  model.dispose();
});
