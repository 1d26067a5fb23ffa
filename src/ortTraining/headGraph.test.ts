import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers registers tfjs's gradients, which tf.grads below needs.
import '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { OrtSession, type HostTensor } from '../ort/ortRunner.js';
import { Rng } from '../io/rng.js';
import { buildHeadGraphs, gradientOutput, INPUT, type HeadGraphSpec } from './headGraph.js';
import { rateInput } from './trainingOps.js';
import { randn } from '../testing/normalSamples.js';
import { relativeError } from '../testing/numerics.js';

function oneHotOrBinary(rng: Rng, n: number, outputs: number): Float32Array {
  const y = new Float32Array(n * outputs);
  for (let i = 0; i < n; i++) {
    if (outputs === 1) y[i] = rng.int(2);
    else y[i * outputs + rng.int(outputs)] = 1;
  }
  return y;
}

interface GradCase {
  name: string;
  featureShape: number[];
  pooling: HeadGraphSpec['pooling'];
  units: number;
  hiddenActivation?: 'relu' | 'linear';
  dropout: boolean;
  outputs: number;
  dense: 'gemm' | 'matmul';
  /** Keras's label smoothing, compared with tfjs's losses' own. */
  labelSmoothing?: number;
}

const GRAD_CASES: GradCase[] = [
  {
    name: 'flatten, relu hidden, dropout mask, binary (gemm)',
    featureShape: [3, 3, 4],
    pooling: 'flatten',
    units: 8,
    dropout: true,
    outputs: 1,
    dense: 'gemm',
  },
  {
    name: 'flatten, relu hidden, dropout mask, binary (matmul)',
    featureShape: [3, 3, 4],
    pooling: 'flatten',
    units: 8,
    dropout: true,
    outputs: 1,
    dense: 'matmul',
  },
  {
    name: 'flatten, relu hidden, binary, label smoothing 0.2 (targets y 0.8 + 0.1)',
    featureShape: [3, 3, 4],
    pooling: 'flatten',
    units: 8,
    dropout: false,
    outputs: 1,
    dense: 'gemm',
    labelSmoothing: 0.2,
  },
  {
    name: 'global average pooling, 3 classes, label smoothing 0.1 (targets y 0.9 + 0.1 / 3)',
    featureShape: [4, 5, 6],
    pooling: 'avg',
    units: 7,
    dropout: false,
    outputs: 3,
    dense: 'gemm',
    labelSmoothing: 0.1,
  },
  {
    name: "flatten, linear hidden (the book's Dense(256)), dropout mask, binary",
    featureShape: [3, 3, 4],
    pooling: 'flatten',
    units: 8,
    hiddenActivation: 'linear',
    dropout: true,
    outputs: 1,
    dense: 'gemm',
  },
  {
    name: 'global average pooling, 3 classes, no dropout',
    featureShape: [4, 5, 6],
    pooling: 'avg',
    units: 7,
    dropout: false,
    outputs: 3,
    dense: 'gemm',
  },
  {
    name: 'vector features, no hidden layer, dropout on the input, 4 classes',
    featureShape: [10],
    pooling: 'none',
    units: 0,
    dropout: true,
    outputs: 4,
    dense: 'matmul',
  },
];

for (const c of GRAD_CASES) {
  test(`head gradients on ONNX Runtime equal tfjs's (max relative error <= 1e-4): ${c.name}`, async () => {
    await initBackend('cpu');
    const rng = new Rng(7);
    const n = 6;
    const spec: HeadGraphSpec = { ...c, optimizer: { kind: 'sgd', learningRate: 0.1 }, gradients: true };
    const graphs = buildHeadGraphs(spec);
    const session = await OrtSession.create(graphs.train, { threads: 1 });
    const x = randn(rng, n * c.featureShape.reduce((a, b) => a * b, 1));
    const y = oneHotOrBinary(rng, n, c.outputs);
    const params = graphs.params.map((p) =>
      randn(
        rng,
        p.shape.reduce((a, b) => a * b, 1),
        0.5,
      ),
    );
    const width = c.units > 0 ? c.units : graphs.params[0].shape[0];
    const mask = Float32Array.from({ length: n * width }, () => (rng.next() < 0.6 ? Math.fround(1 / 0.6) : 0));
    const feeds: Record<string, HostTensor> = {
      [INPUT.x]: { data: x, dims: [n, ...c.featureShape] },
      [INPUT.y]: { data: y, dims: [n, c.outputs] },
      [INPUT.invBatch]: { data: Float32Array.of(1 / n), dims: [] },
    };
    if (c.dropout) feeds[INPUT.mask] = { data: mask, dims: [n, width] };
    graphs.params.forEach((p, i) => {
      feeds[p.name] = { data: params[i], dims: p.shape };
      feeds[rateInput(p.name)] = { data: Float32Array.of(-0.1), dims: [] };
    });
    const out = await session.run(feeds);
    await session.dispose();

    // The same head written with tfjs ops; tf.grads differentiates it.
    const xs = tf.tensor(x, [n, ...c.featureShape]);
    const ys = tf.tensor2d(y, [n, c.outputs]);
    const maskT = tf.tensor2d(mask, [n, width]);
    const vars = graphs.params.map((p, i) => tf.tensor(params[i], p.shape));
    const lossOf = (...ws: tf.Tensor[]) => {
      let h: tf.Tensor = c.pooling === 'avg' ? tf.mean(xs, [1, 2]) : tf.reshape(xs, [n, -1]);
      let k = 0;
      if (c.units > 0) {
        const a = tf.add(tf.matMul(h as tf.Tensor2D, ws[0] as tf.Tensor2D), ws[1]);
        h = c.hiddenActivation === 'linear' ? a : tf.relu(a);
        k = 2;
      }
      if (c.dropout) h = tf.mul(h, maskT);
      const z = tf.add(tf.matMul(h as tf.Tensor2D, ws[k] as tf.Tensor2D), ws[k + 1]);
      const ls = c.labelSmoothing ?? 0;
      return (
        c.outputs === 1 ? tf.losses.sigmoidCrossEntropy(ys, z, undefined, ls) : tf.losses.softmaxCrossEntropy(ys, z, undefined, ls)
      ) as tf.Scalar;
    };
    const expectedLoss = lossOf(...vars).dataSync()[0];
    const grads = tf.grads(lossOf)(vars);
    assert.ok(
      Math.abs(out.loss.data[0] - expectedLoss) <= 1e-5 * Math.max(1, Math.abs(expectedLoss)),
      `loss ${out.loss.data[0]} vs tfjs ${expectedLoss}`,
    );
    graphs.params.forEach((p, i) => {
      const err = relativeError(out[gradientOutput(p.name)].data, grads[i].dataSync());
      assert.ok(err <= 1e-4, `${p.name}: max relative error ${err}`);
      // SGD's update is w - lr g.
      const expected = params[i].map((w, j) => w - 0.1 * grads[i].dataSync()[j]);
      assert.ok(relativeError(out[`${p.name}_new`].data, expected) <= 1e-5, `${p.name}_new`);
    });
    tf.dispose([xs, ys, maskT, ...vars, ...grads]);
  });
}
