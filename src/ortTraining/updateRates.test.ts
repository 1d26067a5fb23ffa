import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../tfjs/backend.js';
import { Rng } from '../io/rng.js';
import { buildHeadForTraining, compileHeadForTraining, trainableHead, type HeadModels } from '../fit/head.js';
import { makeOptimizer, type OptimizerName } from '../fit/optimizer.js';
import { rateControlOf, type StepRates } from '../fit/stepRates.js';
import type { TrainableModel } from '../fit/trainable.js';
import { OrtTrainer } from './ortTrainer.js';
import type { UpdateSite } from './trainingOps.js';
import { randn } from '../testing/normalSamples.js';
import { assertWorstError, relativeError } from '../testing/numerics.js';

/**
 * The rates that change between batches (learning-rate and momentum schedules, layer groups'
 * multipliers) and AdamW, on ONNX Runtime against tlkit's tfjs optimizers: the same batches
 * at the same rates give the same weights, on both update sites.
 */

const FEATURES = [2, 2, 6];
const D = FEATURES.reduce((a, b) => a * b, 1);
const N = 40;
const BATCH = 8;

/** Features and binary labels from a fixed projection (the loss moves). */
function data(seed: number): { x: Float32Array; y: Float32Array } {
  const rng = new Rng(seed);
  const x = randn(rng, N * D);
  const proj = randn(rng, D);
  const y = Float32Array.from({ length: N }, (_, i) =>
    x.subarray(i * D, (i + 1) * D).reduce((s, v, j) => s + v * proj[j], 0) > 0 ? 1 : 0,
  );
  return { x, y };
}

interface Setup {
  optimizer: OptimizerName;
  learningRate?: number;
  weightDecay?: number;
  /** Multipliers by the model's trainable weight index (0, 1: hidden kernel and bias; 2, 3: output). */
  multipliers?: number[];
}

/** A head compiled with tlkit's optimizer; multipliers keyed by this model's own variable names. */
function head(s: Setup): HeadModels {
  const models = buildHeadForTraining(FEATURES, { numClasses: 2, units: 5, activation: 'relu', dropout: 0, seed: 21 });
  const names = models.logits.trainableWeights.map((v) => v.name);
  const multipliers = Object.fromEntries((s.multipliers ?? []).map((m, i) => [names[i], m]));
  compileHeadForTraining(
    models.logits,
    2,
    makeOptimizer({ name: s.optimizer, learningRate: s.learningRate, weightDecay: s.weightDecay, multipliers }),
  );
  return models;
}

/** Train `steps` batches from step `first` (the fixed batches in turn), setting `schedule(step)` before each; returns the batch losses. */
async function train(
  m: TrainableModel,
  d: { x: Float32Array; y: Float32Array },
  steps: number,
  schedule?: (step: number) => StepRates,
  first = 0,
) {
  const losses: number[] = [];
  const control = schedule ? rateControlOf(m) : undefined;
  for (let step = first; step < first + steps; step++) {
    if (control && schedule) control.setStepRates(schedule(step));
    const s = (step * BATCH) % N;
    const xs = tf.tensor(d.x.subarray(s * D, (s + BATCH) * D), [BATCH, ...FEATURES]);
    const ys = tf.tensor2d(d.y.subarray(s, s + BATCH), [BATCH, 1]);
    const r = await m.trainOnBatch(xs, ys);
    losses.push(Array.isArray(r) ? r[0] : r);
    tf.dispose([xs, ys]);
  }
  return losses;
}

const weightsOf = async (m: TrainableModel | HeadModels['logits']) => {
  if ('syncWeights' in m) await m.syncWeights();
  const model = 'layersModel' in m ? m.layersModel : m;
  return model.trainableWeights.map((v) => v.read().dataSync() as Float32Array);
};

/** A one-cycle-like schedule: the rate up then down, the momentum down then up, a new pair every batch. */
function oneCycle(base: number, momentum = true): (step: number) => StepRates {
  return (step) => {
    const phase = Math.sin((Math.PI * (step + 0.5)) / 15);
    return momentum ? { learningRate: base * (0.1 + 2 * phase), momentum: 0.95 - 0.1 * phase } : { learningRate: base * (0.1 + 2 * phase) };
  };
}

/** Trains `s` on tfjs and on ONNX Runtime (update site `update`) for the same steps and schedule; compares. */
async function parity(s: Setup, update: UpdateSite, schedule?: (step: number) => StepRates, steps = 15) {
  await initBackend('cpu');
  const d = data(5);
  const ref = head(s);
  const mine = head(s);
  const trainer = await OrtTrainer.create(mine.logits, { threads: 1, update, head: trainableHead(mine.logits) });
  const expectedLoss = await train(ref.logits, d, steps, schedule);
  const gotLoss = await train(trainer, d, steps, schedule);
  // Measured within 1.2e-7 on the losses and 4.4e-7 (relative) on weights and slots, on x86-64; allowed 1e-6 and 2e-6.
  gotLoss.forEach((l, i) => assert.ok(Math.abs(l - expectedLoss[i]) <= 1e-6, `batch ${i} loss: ORT ${l} vs tfjs ${expectedLoss[i]}`));
  const expected = await weightsOf(ref.logits);
  const got = await weightsOf(trainer);
  const names = mine.logits.trainableWeights.map((v) => v.originalName);
  const worstWeights = assertWorstError(
    got.map((w, i) => ({ name: names[i], actual: w, expected: expected[i] })),
    2e-6,
  );
  const refState = await ref.logits.optimizer.getWeights();
  const ortState = await trainer.optimizer.getWeights();
  assert.equal(ortState.length, refState.length);
  const worstSlots =
    ortState.length > 1 &&
    assertWorstError(
      ortState.slice(1).map((t, i) => ({ name: t.name, actual: t.tensor.dataSync(), expected: refState[i + 1].tensor.dataSync() })),
      2e-6,
    );
  if (process.env.TLKIT_DEBUG) {
    const lossErr = Math.max(...gotLoss.map((l, i) => Math.abs(l - expectedLoss[i])));
    console.log(
      `${s.optimizer} ${update}: loss ${lossErr.toExponential(2)}, weights ${worstWeights.err.toExponential(2)}, slots ${worstSlots ? worstSlots.err.toExponential(2) : '-'}`,
    );
  }
  await trainer.dispose();
  ref.head.dispose();
  mine.head.dispose();
  return { got, gotLoss };
}

const SCHEDULED: Array<Setup & { update: UpdateSite }> = [
  { optimizer: 'rmsprop', update: 'host' },
  { optimizer: 'rmsprop', update: 'graph' },
  { optimizer: 'adam', update: 'host' },
  { optimizer: 'adam', update: 'graph' },
  { optimizer: 'adamw', weightDecay: 0.1, update: 'host' },
  { optimizer: 'adamw', weightDecay: 0.1, update: 'graph' },
  { optimizer: 'sgd', learningRate: 0.1, update: 'host' },
  { optimizer: 'sgd', learningRate: 0.1, update: 'graph' },
];

for (const c of SCHEDULED) {
  test(`a new learning rate${c.optimizer === 'sgd' ? '' : ' and momentum term'} every batch: ONNX Runtime's weights equal tfjs's (${c.optimizer}, update ${c.update})`, async () => {
    const base = c.learningRate ?? 1e-2;
    const scheduled = await parity(c, c.update, oneCycle(base));
    // The schedule changed the training: constant rates (same sessions, nothing rebuilt) end elsewhere.
    const constant = await parity(c, c.update, undefined);
    assert.ok(relativeError(scheduled.got[0], constant.got[0]) > 1e-2, 'the scheduled rates moved the weights differently');
    if (c.optimizer !== 'sgd') {
      // The momentum term alone matters too.
      const rateOnly = await parity(c, c.update, oneCycle(base, false));
      assert.ok(relativeError(scheduled.got[0], rateOnly.got[0]) > 1e-3, 'the scheduled momentum moved the weights differently');
    }
  });
}

test("the trainer is the loop's rate control (fit/stepRates.ts), starting at the compiled rates, ignoring a momentum for SGD", async () => {
  await initBackend('cpu');
  const models = head({ optimizer: 'adam', learningRate: 3e-3 });
  const trainer = await OrtTrainer.create(models.logits, { threads: 1, head: trainableHead(models.logits) });
  assert.equal(rateControlOf(trainer), trainer);
  assert.deepEqual(trainer.stepRates(), { learningRate: 3e-3, momentum: 0.9 });
  trainer.setStepRates({ learningRate: 1e-4, momentum: 0.8 });
  assert.deepEqual(trainer.stepRates(), { learningRate: 1e-4, momentum: 0.8 });
  assert.throws(() => trainer.setStepRates({ learningRate: Number.NaN }), /learningRate/);
  assert.throws(() => trainer.setStepRates({ learningRate: 1e-3, momentum: 1 }), /momentum/);
  await trainer.dispose();
  models.head.dispose();
  const sgdModels = head({ optimizer: 'sgd' });
  const sgd = await OrtTrainer.create(sgdModels.logits, { threads: 1, head: trainableHead(sgdModels.logits) });
  sgd.setStepRates({ learningRate: 0.5, momentum: 0.9 });
  assert.deepEqual(sgd.stepRates(), { learningRate: 0.5 });
  await sgd.dispose();
  sgdModels.head.dispose();
});

for (const update of ['host', 'graph'] as const) {
  test(`layer groups: SGD's step of each variable is scaled by its multiplier (0.01 hidden, 1 output), weights equal tfjs's (update ${update})`, async () => {
    await initBackend('cpu');
    const groups = [0.01, 0.01, 1, 1];
    const one = { optimizer: 'sgd' as const, learningRate: 0.2 };
    // One step from the same weights on the same batch: the same gradient, so each variable's step is its multiplier times the plain one.
    const start = head(one);
    const plain = await weightsOf(start.logits);
    start.head.dispose();
    const afterPlain = (await parity(one, update, undefined, 1)).got;
    const afterGrouped = (await parity({ ...one, multipliers: groups }, update, undefined, 1)).got;
    const norm = (a: Float32Array, b: Float32Array) => Math.hypot(...a.map((v, j) => v - b[j]));
    const ratios = plain.map((w, i) => norm(afterGrouped[i], w) / norm(afterPlain[i], w));
    for (const [i, m] of groups.entries())
      assert.ok(Math.abs(ratios[i] / m - 1) <= 0.01, `variable ${i}: step ratio ${ratios[i]}, multiplier ${m}`);
    assert.ok(Math.abs(ratios[0] / ratios[2] / 0.01 - 1) <= 0.01, `hidden/output step ratio ${ratios[0] / ratios[2]}`);
    // Over epochs with a schedule, the grouped rates give tfjs's weights (parity asserts it).
    await parity({ ...one, multipliers: [0.01, 0.01, 1, 0.5] }, update, oneCycle(0.2));
  });
}

test('AdamW decays the weights (decoupled): with decay it ends elsewhere than Adam, and equals tfjs AdamW with groups', async () => {
  const adam = await parity({ optimizer: 'adam' }, 'host');
  const adamw = await parity({ optimizer: 'adamw', weightDecay: 0.5 }, 'host');
  // 15 steps at lr 1e-3 and decay 0.5 shrink every weight by about (1 - 5e-4)^15 besides Adam's steps.
  assert.ok(relativeError(adamw.got[0], adam.got[0]) > 1e-3, 'AdamW with decay 0.5 differs from Adam');
  await parity({ optimizer: 'adamw', weightDecay: 0.05, multipliers: [0.1, 0.1, 1, 1] }, 'graph', oneCycle(1e-2));
});

test('resume with AdamW, layer groups and a schedule: a state saved on either engine continues on the other as it would have', async () => {
  await initBackend('cpu');
  const d = data(6);
  const setup: Setup = { optimizer: 'adamw', weightDecay: 0.05, multipliers: [0.1, 0.1, 1, 1] };
  const schedule = oneCycle(1e-2);
  const through = head(setup);
  // The run that never stops, on tfjs: 7 steps, then 8 more.
  await train(through.logits, d, 7, schedule);
  const stopped = {
    weights: through.logits.trainableWeights.map((v) => v.read().clone()),
    optimizer: (await through.logits.optimizer.getWeights()).map((w) => ({ name: w.name, tensor: w.tensor.clone() })),
  };
  const expectedLoss = await train(through.logits, d, 8, schedule, 7);
  const expected = await weightsOf(through.logits);
  const expectedSlots = (await through.logits.optimizer.getWeights()).map((w) => w.tensor.dataSync() as Float32Array);

  // tfjs's state resumed on ONNX Runtime (as BackupAndRestore restores it: weights written, then the slots).
  const onOrt = head(setup);
  const trainer = await OrtTrainer.create(onOrt.logits, { threads: 1, head: trainableHead(onOrt.logits) });
  trainer.trainableWeights.forEach((v, i) => v.write(stopped.weights[i]));
  await trainer.optimizer.setWeights(stopped.optimizer);
  const ortLoss = await train(trainer, d, 8, schedule, 7);
  ortLoss.forEach((l, i) => assert.ok(Math.abs(l - expectedLoss[i]) <= 1e-6, `step ${i + 8} loss on ORT: ${l} vs ${expectedLoss[i]}`));
  const names = onOrt.logits.trainableWeights.map((v) => v.originalName);
  const ortWeights = await weightsOf(trainer);
  assertWorstError(
    ortWeights.map((w, i) => ({ name: names[i], actual: w, expected: expected[i] })),
    2e-6,
  );
  const ortState = await trainer.trainState();
  assert.equal(ortState.optimizer[0].data[0], 15, 'iterations');
  assert.deepEqual(
    ortState.optimizer.slice(1).map((s) => s.name.replace(/^.*\//, '')),
    [...names.map(() => 'm'), ...names.map(() => 'v')],
  );
  assertWorstError(
    ortState.optimizer.slice(1).map((s, i) => ({ name: s.name, actual: s.data, expected: expectedSlots[i + 1] })),
    2e-6,
  );

  // ONNX Runtime's state after 7 steps (trainState, what the resume files hold) resumed on tfjs.
  const first = head(setup);
  const firstTrainer = await OrtTrainer.create(first.logits, { threads: 1, head: trainableHead(first.logits) });
  await train(firstTrainer, d, 7, schedule);
  const saved = await firstTrainer.trainState();
  const onTfjs = head(setup);
  onTfjs.logits.trainableWeights.forEach((v, i) => v.write(tf.tensor(saved.weights[i].data, saved.weights[i].shape)));
  await onTfjs.logits.optimizer.setWeights(saved.optimizer.map((w) => ({ name: w.name, tensor: tf.tensor(w.data, w.shape, w.dtype) })));
  const tfjsLoss = await train(onTfjs.logits, d, 8, schedule, 7);
  tfjsLoss.forEach((l, i) => assert.ok(Math.abs(l - expectedLoss[i]) <= 1e-6, `step ${i + 8} loss on tfjs: ${l} vs ${expectedLoss[i]}`));
  assertWorstError(
    (await weightsOf(onTfjs.logits)).map((w, i) => ({ name: names[i], actual: w, expected: expected[i] })),
    2e-6,
  );
  await trainer.dispose();
  await firstTrainer.dispose();
  for (const m of [through, onOrt, first, onTfjs]) m.head.dispose();
});
