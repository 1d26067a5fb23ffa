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

for (const family of Object.keys(SIZES) as FamilyName[]) {
  test(`${family}: the default fine-tuning stage trains on ONNX Runtime, gradients equal tfjs's (relative error <= 1e-4)`, async () => {
    await initBackend('cpu');
    const base = FAMILIES[family].architecture({ includeTop: false, weights: 'none', inputShape: [SIZES[family], SIZES[family], 3] });
    randomizeWeights(base, 23);
    const suffix = buildSuffixModel(base, cutForUnfreeze(base, defaultUnfreeze(base, family)));
    const flat = tfl.layers.flatten().apply(suffix.model.outputs[0]) as tfl.SymbolicTensor;
    const logits = tfl.layers
      .dense({ units: 1, name: 'logit', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) })
      .apply(flat) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: suffix.model.inputs, outputs: logits, name: `${family}_finetune` });
    const graphs = buildModelGraphs(model, { optimizer: { kind: 'sgd', learningRate: 0.01 }, gradients: true });
    assert.equal(graphs.params.length, model.trainableWeights.length);

    const n = 2;
    const xShape = [n, ...(model.inputs[0].shape.slice(1) as number[])];
    const x = tf.randomUniform(xShape, 0, 1, 'float32', 5);
    const y = tf.tensor2d([0, 1], [n, 1]);
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
      () => lossFn(y, model.apply(x, { training: false }) as tf.Tensor) as tf.Scalar,
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
    const worst = assertWorstError(compared, 1e-4);
    if (process.env.TLKIT_DEBUG) console.log(family, `${graphs.params.length} weights; worst`, worst);
    tf.dispose([x, y, value, ...Object.values(grads)]);
    base.dispose();
  });
}
