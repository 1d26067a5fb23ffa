import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { OrtSession, type HostTensor } from '../ort/ortRunner.js';
import { FAMILIES, type FamilyName } from '../applications/index.js';
import { buildSuffixModel, cutForUnfreeze, defaultUnfreeze } from '../fit/suffixModel.js';
import { headLossFromLogits } from '../fit/head.js';
import { randomizeWeights } from '../testing/testModels.js';
import { assertWorstError } from '../testing/numerics.js';
import { buildModelGraphs } from './modelGraph.js';
import { gradientOutput, INPUT } from './trainingOps.js';

/**
 * Fine-tuning's default stage of every family (the layers `--unfreeze` opens by default,
 * BatchNormalization frozen in inference mode, as fine-tuning builds it) plus a Dense
 * output trains on ONNX Runtime: the generated graph's gradient of every trainable weight
 * matches tfjs's cpu backend. Small inputs keep the reference quick.
 */
const SIZES: Record<FamilyName, number> = {
  vgg16: 32,
  mobilenet: 32,
  mobilenet_v2: 32,
  resnet50: 32,
  efficientnet_b0: 64,
  convnext_tiny: 32,
};

/**
 * With fastai's train_bn the stage's BatchNormalization layers train too (batch statistics). Two families keep the file
 * quick: MobileNetV2 (residual blocks, a beta with a vanishing gradient) and ResNet50 (conv biases in front of every BN);
 * MobileNet and EfficientNet-B0 pass the same check (worst 1.9e-6 and 4.0e-6 when measured).
 */
const TRAIN_BN: FamilyName[] = ['mobilenet_v2', 'resnet50'];

const CASES = [
  ...(Object.keys(SIZES) as FamilyName[]).map((family) => ({ family, trainBn: false })),
  ...TRAIN_BN.map((family) => ({ family, trainBn: true })),
];

for (const { family, trainBn } of CASES) {
  test(`${family}${trainBn ? ' with train_bn' : ''}: the default fine-tuning stage trains on ONNX Runtime, gradients equal tfjs's (relative error <= 1e-4)`, async () => {
    await initBackend('cpu');
    // Batch statistics need more than a 1x1 map of 4 samples to be well conditioned: twice the size with train_bn.
    const size = SIZES[family] * (trainBn ? 2 : 1);
    const base = FAMILIES[family].architecture({ includeTop: false, weights: 'none', inputShape: [size, size, 3] });
    randomizeWeights(base, 23);
    const suffix = buildSuffixModel(base, cutForUnfreeze(base, defaultUnfreeze(base, family)), { trainBn });
    const flat = tfl.layers.flatten().apply(suffix.model.outputs[0]) as tfl.SymbolicTensor;
    const logits = tfl.layers
      .dense({ units: 1, name: 'logit', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) })
      .apply(flat) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: suffix.model.inputs, outputs: logits, name: `${family}_finetune` });
    const graphs = buildModelGraphs(model, { optimizer: { kind: 'sgd', learningRate: 0.01 }, update: 'host' });
    assert.equal(graphs.params.length, model.trainableWeights.length);
    if (trainBn) assert.ok((graphs.batchNorms ?? []).length > 0, 'some BatchNormalization trains');

    const n = trainBn ? 4 : 2;
    const xShape = [n, ...(model.inputs[0].shape.slice(1) as number[])];
    const x = tf.randomUniform(xShape, 0, 1, 'float32', 5);
    const y = tf.tensor2d([0, 1, 1, 0].slice(0, n), [n, 1]);
    const feeds: Record<string, HostTensor> = {
      [INPUT.x]: { data: x.dataSync() as Float32Array, dims: xShape },
      [INPUT.y]: { data: y.dataSync() as Float32Array, dims: [n, 1] },
      [INPUT.invBatch]: { data: Float32Array.of(1 / n), dims: [] },
    };
    graphs.params.forEach((p, i) => {
      const values = graphs.variables[i].read().dataSync() as Float32Array;
      const layout = graphs.layouts[i];
      feeds[p.name] = { data: layout ? Float32Array.from(layout, (j) => values[j]) : values.slice(), dims: p.shape };
    });
    const session = await OrtSession.create(graphs.train);
    const out = await session.run(feeds);
    await session.dispose();

    const lossFn = headLossFromLogits(2);
    const { value, grads } = tf.variableGrads(
      // In training mode the BN layers that train use the batch's statistics; the frozen ones are pinned to inference.
      () => lossFn(y, model.apply(x, { training: trainBn }) as tf.Tensor) as tf.Scalar,
      model.trainableWeights.map((w) => w.read() as tf.Variable),
    );
    assert.ok(
      Math.abs(out.loss.data[0] - value.dataSync()[0]) <= 1e-4 * Math.max(1, Math.abs(value.dataSync()[0])),
      `loss ${out.loss.data[0]} vs ${value.dataSync()[0]}`,
    );
    const compared = graphs.params.map((p, i) => {
      const got = out[gradientOutput(p.name)].data;
      const layout = graphs.layouts[i];
      const inTfjsOrder = new Float32Array(got.length);
      got.forEach((g, j) => (inTfjsOrder[layout ? layout[j] : j] = g));
      return {
        name: graphs.variables[i].originalName,
        actual: inTfjsOrder,
        expected: grads[(graphs.variables[i].read() as tf.Variable).name].dataSync() as Float32Array,
      };
    });
    // A training BN removes any per-channel shift of its input, so a bias right in front of one (or a beta whose only way
    // on is a linear layer into one) has a gradient of 0 but for rounding: those are compared against the largest gradient.
    const largest = (a: ArrayLike<number>) => {
      let m = 0;
      for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
      return m;
    };
    const scale = Math.max(...compared.map((c) => largest(c.expected)));
    const vanishing = compared.filter((c) => trainBn && largest(c.expected) < 1e-5 * scale);
    for (const c of vanishing)
      assert.ok(largest(c.actual) < 1e-5 * scale, `${c.name}: gradient ${largest(c.actual)} where tfjs's is 0 but for rounding`);
    const worst = assertWorstError(
      compared.filter((c) => !vanishing.includes(c)),
      1e-4,
    );
    if (process.env.TLKIT_DEBUG)
      console.log(family, `${graphs.params.length} weights (${vanishing.length} with vanishing gradients); worst`, worst);
    tf.dispose([x, y, value, ...Object.values(grads)]);
    base.dispose();
  });
}
