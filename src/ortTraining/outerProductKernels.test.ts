import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../io/rng.js';
import { initBackend } from '../tfjs/backend.js';
import { buildHeadForTraining, compileHeadForTraining, trainableHead } from '../fit/head.js';
import { makeOptimizer, type OptimizerName } from '../fit/optimizer.js';
import { randn } from '../testing/normalSamples.js';
import { maxAbsError, relativeError } from '../testing/numerics.js';
import { OrtTrainer } from './ortTrainer.js';
import type { OptimizerSpec } from './trainingOps.js';
import { UpdateKernels } from './updateKernels.js';
import { UpdateRates } from './updateRates.js';

const OPTIMIZERS: OptimizerSpec[] = [
  { kind: 'rmsprop', learningRate: 1e-3, rho: 0.9, epsilon: 1e-7 },
  { kind: 'adam', learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  { kind: 'adamw', learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0.05 },
  { kind: 'sgd', learningRate: 0.05 },
];
const SLOTS = { rmsprop: 1, adam: 2, adamw: 2, sgd: 0 };

/** ReLU-like features: about half of them exactly 0, as a conv base's last block gives. */
const sparse = (rng: Rng, n: number) => randn(rng, n).map((v) => Math.max(0, v));

for (const o of OPTIMIZERS) {
  test(`outer-product update equals the rule's kernel fed x^T dA summed in sample order in float32, to the bit: ${o.kind}`, () => {
    const [d, u] = [37, 64];
    const rng = new Rng(7);
    const slots = SLOTS[o.kind];
    // Reference arrays (w, g, slots) and the outer path's (w, slots), in one arena.
    const k = new UpdateKernels([d * u, d * u, ...Array(slots).fill(d * u), d * u, ...Array(slots).fill(d * u)]);
    const init = (a: Float32Array[]) => a.forEach((x, i) => x.set(i === 0 ? randn(new Rng(1), d * u) : sparse(new Rng(2 + i), d * u)));
    const step = new UpdateRates(o, [0.5]).values(3);
    // Two batches, the second bigger (the arena grows and its arrays move), then a smaller one.
    for (const [i, n] of [5, 9, 3].entries()) {
      const s = k.outerScratch(n, d, u);
      const [w, g, ...rest] = k.arrays;
      const refSlots = rest.slice(0, slots);
      const [w2, ...slots2] = rest.slice(slots);
      if (i === 0) {
        init([w, ...refSlots]);
        init([w2, ...slots2]);
      }
      s.x.set(sparse(rng, n * d));
      s.dA.set(randn(rng, n * u).map((v, j) => (j % 3 === 0 ? 0 : v)));
      for (let r = 0; r < d; r++)
        for (let c = 0; c < u; c++) {
          let sum = 0;
          for (let m = 0; m < n; m++) if (s.x[m * d + r] !== 0) sum = Math.fround(sum + Math.fround(s.x[m * d + r] * s.dA[m * u + c]));
          g[r * u + c] = sum;
        }
      k.update(o, [w], [g], refSlots, step);
      k.updateOuter(o, 0, w2, slots2, n, d, u, step);
      assert.equal(maxAbsError(w2, w), 0, `weights after batch ${i + 1}`);
      slots2.forEach((a, j) => assert.equal(maxAbsError(a, refSlots[j]), 0, `slot ${j} after batch ${i + 1}`));
      assert.ok(maxAbsError(w2, randn(new Rng(1), d * u)) > 0, 'the weights moved');
    }
  });
}

interface Case {
  optimizer: OptimizerName;
  activation: 'relu' | 'linear';
  dropout: number;
}

/** A head on 3x3x16 ReLU features with a 64-unit hidden layer (the outer-product path's shape), trained on ORT. */
async function headTrainer(c: Case, outerGradient: boolean) {
  const models = buildHeadForTraining([3, 3, 16], { numClasses: 2, units: 64, activation: c.activation, dropout: c.dropout, seed: 11 });
  compileHeadForTraining(models.logits, 2, makeOptimizer(c.optimizer, c.optimizer === 'sgd' ? 0.05 : undefined));
  const trainer = await OrtTrainer.create(models.logits, { threads: 1, head: trainableHead(models.logits), outerGradient });
  return { models, trainer };
}

/** 53 samples in batches of 8 (the last one of 5), `epochs` times in a seeded order; the batch losses. */
async function train(m: { trainOnBatch(x: tf.Tensor, y: tf.Tensor): Promise<number | number[]> }, epochs: number, first = 0) {
  const rng = new Rng(3);
  const [n, d] = [53, 144];
  const x = sparse(rng, n * d);
  const y = Float32Array.from({ length: n }, (_, i) => (x[i * d] + x[i * d + 5] > 0.8 ? 1 : 0));
  const losses: number[] = [];
  for (let e = first; e < first + epochs; e++) {
    const order = new Rng(100 + e).shuffle(Int32Array.from({ length: n }, (_, i) => i));
    for (let s = 0; s < n; s += 8) {
      const idx = order.subarray(s, Math.min(n, s + 8));
      const xs = tf.tensor(Float32Array.from(Array.from(idx).flatMap((i) => Array.from(x.subarray(i * d, (i + 1) * d)))), [
        idx.length,
        3,
        3,
        16,
      ]);
      const ys = tf.tensor2d(Float32Array.from(Array.from(idx, (i) => y[i])), [idx.length, 1]);
      const r = await m.trainOnBatch(xs, ys);
      losses.push(Array.isArray(r) ? r[0] : r);
      tf.dispose([xs, ys]);
    }
  }
  return losses;
}

const weightsOf = (t: OrtTrainer) => t.trainableWeights.map((v) => v.read().dataSync() as Float32Array);

for (const c of [
  { optimizer: 'rmsprop', activation: 'relu', dropout: 0.5 },
  { optimizer: 'adam', activation: 'linear', dropout: 0.5 },
  { optimizer: 'sgd', activation: 'relu', dropout: 0 },
] as Case[]) {
  test(`ORT head: the outer-product update trains as the graph's kernel gradient did, within 1e-6 after an epoch: ${c.optimizer}, ${c.activation}, dropout ${c.dropout}`, async () => {
    await initBackend('cpu');
    const outer = await headTrainer(c, true);
    const graph = await headTrainer(c, false);
    const plan = (t: OrtTrainer) => (t as unknown as { graphs: { outer?: unknown } }).graphs;
    assert.deepEqual(plan(outer.trainer).outer, { param: 'w1', output: 'dloss_dhidden' });
    assert.equal(plan(graph.trainer).outer, undefined);
    const a = await train(outer.trainer, 1);
    const b = await train(graph.trainer, 1);
    assert.ok(maxAbsError(a, b) <= 1e-6, `batch losses ${a} vs ${b}`);
    const [wa, wb] = [weightsOf(outer.trainer), weightsOf(graph.trainer)];
    wa.forEach((w, i) => assert.ok(maxAbsError(w, wb[i]) <= 1e-6, `weight ${i}: ${maxAbsError(w, wb[i])}`));
    // The hidden kernel moved (the update formed a gradient, not zeros).
    assert.ok(maxAbsError(wa[0], (await headTrainer(c, true)).trainer.trainableWeights[0].read().dataSync()) > 1e-4);
    for (const t of [outer, graph]) {
      await t.trainer.dispose();
      t.models.head.dispose();
    }
  });
}

test('ORT head on the outer-product path agrees with tfjs: batch losses within 1e-6, weights within 1e-5 relative (rmsprop, relu)', async () => {
  await initBackend('cpu');
  const c: Case = { optimizer: 'rmsprop', activation: 'relu', dropout: 0 };
  const ort = await headTrainer(c, true);
  const ref = await headTrainer(c, false);
  const got = await train(ort.trainer, 2);
  const expected = await train(ref.models.logits, 2);
  assert.ok(maxAbsError(got, expected) <= 1e-6, `losses ${got} vs ${expected}`);
  const wt = ref.models.logits.trainableWeights.map((v) => v.read().dataSync());
  weightsOf(ort.trainer).forEach((w, i) => assert.ok(relativeError(w, wt[i]) <= 1e-5, `weight ${i}`));
  for (const t of [ort, ref]) {
    await t.trainer.dispose();
    t.models.head.dispose();
  }
});

test('ORT head on the outer-product path resumes exactly: epoch 2 from epoch 1 weights and optimizer state equals an uninterrupted run to the bit', async () => {
  await initBackend('cpu');
  const c: Case = { optimizer: 'adam', activation: 'relu', dropout: 0 };
  const whole = await headTrainer(c, true);
  const wholeLosses = await train(whole.trainer, 2);
  const first = await headTrainer(c, true);
  await train(first.trainer, 1);
  // What a resume carries across processes: the weights and the optimizer state as tfjs names them.
  const state = await first.trainer.optimizer.getWeights();
  const resumed = await headTrainer(c, true);
  resumed.trainer.trainableWeights.forEach((v, i) => v.write(first.trainer.trainableWeights[i].read()));
  await resumed.trainer.optimizer.setWeights(state.map((s) => ({ name: s.name, tensor: tf.clone(s.tensor) })));
  const resumedLosses = await train(resumed.trainer, 1, 1);
  assert.deepEqual(resumedLosses, wholeLosses.slice(7));
  const [ww, wr] = [weightsOf(whole.trainer), weightsOf(resumed.trainer)];
  ww.forEach((w, i) => assert.equal(maxAbsError(wr[i], w), 0, `weight ${i}`));
  const [sw, sr] = [await whole.trainer.optimizer.getWeights(), await resumed.trainer.optimizer.getWeights()];
  sw.forEach((s, i) => assert.equal(maxAbsError(sr[i].tensor.dataSync(), s.tensor.dataSync()), 0, s.name));
  for (const t of [whole, first, resumed]) {
    await t.trainer.dispose();
    t.models.head.dispose();
  }
});
