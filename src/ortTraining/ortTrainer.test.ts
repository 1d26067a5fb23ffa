import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { Rng } from '../io/rng.js';
import { buildHeadForTraining, compileHeadForTraining, trainableHead } from '../fit/head.js';
import { makeOptimizer, type OptimizerName } from '../fit/optimizer.js';
import { OrtTrainer } from './ortTrainer.js';
import { logitsTapOf, NotTrainableOnOrt } from './trainingPlan.js';
import { randn } from '../testing/normalSamples.js';
import { relativeError } from '../testing/numerics.js';

interface Data {
  x: Float32Array;
  y: Float32Array;
  n: number;
}

/** Separable-ish features so the loss moves: the label is the sign of a fixed projection (or its argmax; multi-label: each sign). */
function makeData(seed: number, n: number, featureShape: number[], outputs: number, multiLabel = false): Data {
  const rng = new Rng(seed);
  const d = featureShape.reduce((a, b) => a * b, 1);
  const x = randn(rng, n * d);
  const proj = randn(rng, d * Math.max(outputs, 1));
  const y = new Float32Array(n * outputs);
  for (let i = 0; i < n; i++) {
    const scores = Array.from({ length: Math.max(outputs, 1) }, (_, k) => {
      let s = 0;
      for (let j = 0; j < d; j++) s += x[i * d + j] * proj[j * Math.max(outputs, 1) + k];
      return s;
    });
    if (outputs === 1) y[i] = scores[0] > 0 ? 1 : 0;
    else if (multiLabel) scores.forEach((s, k) => (y[i * outputs + k] = s > 0 ? 1 : 0));
    else y[i * outputs + scores.indexOf(Math.max(...scores))] = 1;
  }
  return { x, y, n };
}

interface Trainee {
  trainOnBatch(x: tf.Tensor, y: tf.Tensor): Promise<number | number[]>;
  evaluate(x: tf.Tensor, y: tf.Tensor, args: { batchSize: number; verbose: 0 }): tf.Scalar | tf.Scalar[] | Promise<tf.Scalar | tf.Scalar[]>;
}

/** Epoch means of [loss, accuracy, val_loss, val_accuracy], batches reshuffled each epoch by a seeded Rng (as featureBatches). */
async function curves(
  m: Trainee,
  train: Data,
  val: Data,
  featureShape: number[],
  outputs: number,
  epochs: number,
  batch: number,
): Promise<number[][]> {
  const d = featureShape.reduce((a, b) => a * b, 1);
  const rows: number[][] = [];
  const slice = (data: Data, idx: ArrayLike<number>) => {
    const xs = new Float32Array(idx.length * d);
    const ys = new Float32Array(idx.length * outputs);
    for (let i = 0; i < idx.length; i++) {
      xs.set(data.x.subarray(idx[i] * d, (idx[i] + 1) * d), i * d);
      ys.set(data.y.subarray(idx[i] * outputs, (idx[i] + 1) * outputs), i * outputs);
    }
    return { xs: tf.tensor(xs, [idx.length, ...featureShape]), ys: tf.tensor2d(ys, [idx.length, outputs]) };
  };
  for (let e = 0; e < epochs; e++) {
    const order = new Rng(100 + e).shuffle(Int32Array.from({ length: train.n }, (_, i) => i));
    let loss = 0;
    let acc = 0;
    for (let s = 0; s < train.n; s += batch) {
      const idx = order.subarray(s, Math.min(train.n, s + batch));
      const { xs, ys } = slice(train, idx);
      const r = await m.trainOnBatch(xs, ys);
      const [l, a] = Array.isArray(r) ? r : [r, NaN];
      loss += l * idx.length;
      acc += a * idx.length;
      tf.dispose([xs, ys]);
    }
    const { xs, ys } = slice(
      val,
      Int32Array.from({ length: val.n }, (_, i) => i),
    );
    const r = await m.evaluate(xs, ys, { batchSize: val.n, verbose: 0 });
    const [vl, va] = await Promise.all((Array.isArray(r) ? r : [r]).map(async (s) => (await s.data())[0]));
    tf.dispose([xs, ys]);
    rows.push([loss / train.n, acc / train.n, vl, va]);
  }
  return rows;
}

const CURVE_CASES: Array<{
  optimizer: OptimizerName;
  numClasses: number;
  pooling: 'flatten' | 'avg';
  lr?: number;
  units?: number;
  activation?: 'relu' | 'linear';
  update?: 'graph' | 'host';
  labelSmoothing?: number;
  /** k sigmoid units against multi-hot targets. */
  multiLabel?: boolean;
  /** The generated graphs (autodiff, as fine-tuning trains) instead of the head's hand-written ones. */
  graphs?: 'model';
}> = [
  { optimizer: 'rmsprop', numClasses: 2, pooling: 'flatten', activation: 'relu' },
  { optimizer: 'rmsprop', numClasses: 2, pooling: 'flatten', activation: 'relu', update: 'graph' },
  { optimizer: 'rmsprop', numClasses: 2, pooling: 'flatten', activation: 'linear' },
  { optimizer: 'adam', numClasses: 2, pooling: 'flatten', activation: 'relu' },
  { optimizer: 'adam', numClasses: 2, pooling: 'flatten', activation: 'relu', update: 'graph' },
  { optimizer: 'sgd', numClasses: 2, pooling: 'flatten', lr: 0.05, activation: 'relu' },
  { optimizer: 'sgd', numClasses: 2, pooling: 'flatten', lr: 0.05, activation: 'relu', update: 'graph' },
  { optimizer: 'rmsprop', numClasses: 3, pooling: 'avg', activation: 'relu' },
  { optimizer: 'rmsprop', numClasses: 2, pooling: 'flatten', units: 0 },
  { optimizer: 'adamw', numClasses: 2, pooling: 'flatten', activation: 'relu', labelSmoothing: 0.1 },
  { optimizer: 'rmsprop', numClasses: 3, pooling: 'avg', activation: 'relu', labelSmoothing: 0.2, update: 'graph' },
  { optimizer: 'rmsprop', numClasses: 3, pooling: 'flatten', activation: 'relu', multiLabel: true },
  { optimizer: 'adam', numClasses: 2, pooling: 'avg', activation: 'linear', multiLabel: true, update: 'graph', labelSmoothing: 0.1 },
  { optimizer: 'rmsprop', numClasses: 4, pooling: 'flatten', activation: 'relu', multiLabel: true, graphs: 'model' },
];

for (const c of CURVE_CASES) {
  test(`loss curves of 3 epochs, ONNX Runtime vs the tfjs path, within 1e-6 per epoch: ${c.optimizer}, ${c.numClasses} classes, ${c.pooling}, ${c.units ?? 16} hidden units (${c.activation ?? 'linear'}), update ${c.update ?? 'host (default)'}${c.labelSmoothing ? `, label smoothing ${c.labelSmoothing}` : ''}${c.multiLabel ? ', multi-label' : ''}${c.graphs ? ', generated graphs' : ''}`, async () => {
    await initBackend('cpu');
    const featureShape = [3, 3, 8];
    const outputs = c.numClasses === 2 && !c.multiLabel ? 1 : c.numClasses;
    const train = makeData(1, 53, featureShape, outputs, c.multiLabel);
    const val = makeData(2, 20, featureShape, outputs, c.multiLabel);
    const make = () => {
      const models = buildHeadForTraining(featureShape, {
        numClasses: c.numClasses,
        units: c.units ?? 16,
        activation: c.activation,
        dropout: 0,
        pooling: c.pooling,
        seed: 5,
        multiLabel: c.multiLabel,
      });
      compileHeadForTraining(models.logits, c.numClasses, makeOptimizer(c.optimizer, c.lr), c.labelSmoothing, c.multiLabel);
      return models;
    };
    const ref = make();
    const mine = make();
    const trainer = await OrtTrainer.create(mine.logits, {
      threads: 1,
      update: c.update,
      head: trainableHead(mine.logits),
      labelSmoothing: c.labelSmoothing,
      graphs: c.graphs,
    });
    // Multi-label: both engines hand every batch's logits to the compiled loss's tap (the epoch's mAP reads them).
    const tapped = { ref: [] as number[], mine: [] as number[] };
    if (c.multiLabel) {
      logitsTapOf(ref.logits)!.listener = (_y, z) => tapped.ref.push(...z);
      logitsTapOf(mine.logits)!.listener = (_y, z) => tapped.mine.push(...z);
    }
    const expected = await curves(ref.logits, train, val, featureShape, outputs, 3, 8);
    const got = await curves(trainer, train, val, featureShape, outputs, 3, 8);
    if (c.multiLabel) {
      // 3 epochs of 53 training and 20 validation rows, k logits each, the same on both engines.
      assert.equal(tapped.ref.length, 3 * 73 * outputs);
      assert.equal(tapped.mine.length, tapped.ref.length);
      assert.ok(relativeError(Float32Array.from(tapped.mine), Float32Array.from(tapped.ref)) <= 1e-5, 'tapped logits');
    }
    // Tolerances at about 10x what is achieved (measured on x86-64, all nine cases): loss and
    // val_loss within 1.2e-7; accuracy the same count (within 6e-8 of rounding; one sample
    // more or less is 1/53 or 1/20); weights within 7.8e-7 and optimizer slots within 2.5e-7, relative.
    for (let e = 0; e < 3; e++) {
      for (const k of [0, 2])
        assert.ok(
          Math.abs(got[e][k] - expected[e][k]) <= 1e-6,
          `epoch ${e + 1} ${k ? 'val_loss' : 'loss'}: ORT ${got[e][k]} vs tfjs ${expected[e][k]}`,
        );
      for (const k of [1, 3])
        assert.ok(Math.abs(got[e][k] - expected[e][k]) <= 1e-6, `epoch ${e + 1} accuracy: ORT ${got[e][k]} vs tfjs ${expected[e][k]}`);
    }
    // It learned (the curves are not flat), and the loss moved the same way on both.
    assert.ok(expected[2][0] < expected[0][0] && got[2][0] < got[0][0], `loss falls: ${JSON.stringify(got.map((r) => r[0]))}`);
    // Weights come back into the tfjs model and match the tfjs-trained ones.
    await trainer.syncWeights();
    mine.logits
      .getWeights()
      .forEach((w, i) => assert.ok(relativeError(w.dataSync(), ref.logits.getWeights()[i].dataSync()) <= 1e-5, `weight ${i}`));
    // The optimizer state has tfjs's names, order and values.
    const refState = await ref.logits.optimizer.getWeights();
    const ortState = await trainer.optimizer.getWeights();
    // (Variable names carry a per-process suffix: _6 in one model, _7 in the next.)
    const unsuffixed = (n: string) => n.replace(/_\d+\//, '/');
    assert.deepEqual(
      ortState.map((s) => unsuffixed(s.name)),
      refState.map((s) => unsuffixed(s.name)),
    );
    const nParams = (c.units ?? 16) > 0 ? 4 : 2;
    assert.equal(
      ortState.length,
      c.optimizer === 'sgd' ? 1 : c.optimizer === 'adam' || c.optimizer === 'adamw' ? 1 + 2 * nParams : 1 + nParams,
    );
    if (ortState.length > 1) assert.equal(ortState[1].name.startsWith(`${mine.logits.trainableWeights[0].name}/`), true);
    ortState.forEach((s, i) => assert.ok(relativeError(s.tensor.dataSync(), refState[i].tensor.dataSync()) <= 3e-6, `state ${s.name}`));
    await trainer.dispose();
    ref.head.dispose();
    mine.head.dispose();
  });
}

test('ORT head: resuming from a tfjs optimizer state continues the same curve; weights written by the caller are taken up', async () => {
  await initBackend('cpu');
  const featureShape = [2, 2, 5];
  const train = makeData(3, 32, featureShape, 1);
  const val = makeData(4, 16, featureShape, 1);
  const make = () => {
    const models = buildHeadForTraining(featureShape, { numClasses: 2, units: 8, dropout: 0, seed: 9 });
    compileHeadForTraining(models.logits, 2, makeOptimizer('adam'));
    return models;
  };
  const ref = make();
  await curves(ref.logits, train, val, featureShape, 1, 1, 8);
  // A second model takes the first one's weights and Adam state (as FitLoop's --resume does) and trains on ORT.
  const resumed = make();
  const trainer = await OrtTrainer.create(resumed.logits, { threads: 1, head: trainableHead(resumed.logits) });
  trainer.trainableWeights.forEach((v, i) => v.write(ref.logits.trainableWeights[i].read()));
  const state = await ref.logits.optimizer.getWeights();
  await trainer.optimizer.setWeights(state.map((s) => ({ name: s.name, tensor: tf.clone(s.tensor) })));
  const expected = await curves(ref.logits, train, val, featureShape, 1, 2, 8);
  const got = await curves(trainer, train, val, featureShape, 1, 2, 8);
  // Measured within 1.7e-7 (loss and val_loss); allowed 2e-6.
  for (let e = 0; e < 2; e++)
    assert.ok(
      Math.abs(got[e][0] - expected[e][0]) <= 2e-6 && Math.abs(got[e][2] - expected[e][2]) <= 2e-6,
      `epoch ${e}: ${got[e]} vs ${expected[e]}`,
    );
  const iter = (await trainer.optimizer.getWeights())[0];
  assert.equal(iter.name, 'iter');
  assert.equal(iter.tensor.dataSync()[0], 4 * 3);
  // stopTraining is the tfjs model's flag (callbacks set it there).
  resumed.logits.stopTraining = true;
  assert.equal(trainer.stopTraining, true);
  await trainer.dispose();
  ref.head.dispose();
  resumed.head.dispose();
});

/**
 * The dropout masks of `steps` training steps, read off the weights: a head whose hidden layer
 * outputs 1 everywhere (zero features, hidden bias 1) into an output kernel and bias of 0. One
 * SGD step at learning rate 1 then moves output kernel j by -mask_j * dZ and the output bias by
 * -dZ (dZ = sigmoid(0) - 1 = -0.5): mask_j is their ratio, exactly (0.5 * x is exact in float32).
 */
async function dropoutMasks(units: number, rate: number, seed: number, steps: number): Promise<Float32Array[]> {
  const models = buildHeadForTraining([2], { numClasses: 2, units, dropout: rate, seed });
  compileHeadForTraining(models.logits, 2, makeOptimizer('sgd', 1));
  const trainer = await OrtTrainer.create(models.logits, { threads: 1, head: trainableHead(models.logits) });
  const masks: Float32Array[] = [];
  for (let s = 0; s < steps; s++) {
    const [, hiddenBias, kernel, bias] = trainer.trainableWeights;
    const fills = [tf.ones([units]), tf.zeros([units, 1]), tf.zeros([1])];
    [hiddenBias, kernel, bias].forEach((v, i) => v.write(fills[i]));
    tf.dispose(fills);
    const [x, y] = [tf.zeros([1, 2]), tf.ones([1, 1])];
    await trainer.trainOnBatch(x, y);
    tf.dispose([x, y]);
    const [, , k, b] = trainer.trainableWeights.map((v) => v.read().dataSync() as Float32Array);
    assert.equal(b[0], 0.5, 'the output bias moved by -dZ = 0.5');
    masks.push(k.map((v) => v / b[0]));
  }
  await trainer.dispose();
  models.head.dispose();
  return masks;
}

test('ORT head: dropout keeps each unit with probability 1 - rate, scales kept units by 1/keep, draws a fresh mask each step from the seeded Rng', async () => {
  await initBackend('cpu');
  const units = 20000;
  const rate = 0.3;
  const keep = 1 - rate;
  const masks = await dropoutMasks(units, rate, 3, 3);
  const all = masks.flatMap((m) => Array.from(m));
  // Every value is 0 (dropped) or 1/keep in float32 (kept, scaled: Keras's inverted dropout).
  const scale = Math.fround(1 / keep);
  const odd = all.find((v) => v !== 0 && v !== scale);
  assert.equal(odd, undefined, `a mask value ${odd} is neither 0 nor 1/keep = ${scale}`);
  // The kept fraction of 60000 draws: 0.7 within 0.01 (5 standard deviations; measured 0.6982).
  const kept = all.filter((v) => v !== 0).length / all.length;
  assert.ok(Math.abs(kept - keep) < 0.01, `kept ${kept} of the units, expected ${keep}`);
  // The mean mask is 1 (the expected activation is unchanged), within 0.02.
  assert.ok(Math.abs(kept * scale - 1) < 0.02, `mean mask ${kept * scale}`);
  // A fresh mask every step: two independent masks agree on keep^2 + rate^2 = 0.58 of the units.
  const agree = masks[0].filter((v, j) => (v !== 0) === (masks[1][j] !== 0)).length / units;
  assert.ok(Math.abs(agree - (keep ** 2 + rate ** 2)) < 0.02, `steps 1 and 2 agree on ${agree} of the units`);
  // The seeded Rng: the same seed gives the same masks, another seed others.
  assert.deepEqual(await dropoutMasks(units, rate, 3, 3), masks);
  const other = (await dropoutMasks(units, rate, 4, 1))[0];
  assert.ok(
    other.some((v, j) => v !== masks[0][j]),
    'another seed, another mask',
  );
});

test('ORT head with dropout: the same seed gives the same curves, all finite', async () => {
  await initBackend('cpu');
  const featureShape = [6];
  const train = makeData(5, 24, featureShape, 1);
  const val = makeData(6, 8, featureShape, 1);
  const run = async () => {
    const models = buildHeadForTraining(featureShape, { numClasses: 2, units: 12, dropout: 0.5, seed: 3 });
    compileHeadForTraining(models.logits, 2, makeOptimizer('rmsprop'));
    const trainer = await OrtTrainer.create(models.logits, { threads: 1, reuseBuffers: false, head: trainableHead(models.logits) });
    const rows = await curves(trainer, train, val, featureShape, 1, 2, 8);
    await trainer.dispose();
    models.head.dispose();
    return rows;
  };
  const a = await run();
  const b = await run();
  assert.deepEqual(a, b);
  assert.ok(a.every((r) => r.every(Number.isFinite)));
});

test('the head declares itself: fit/head.ts describes what it built, and nothing else', async () => {
  await initBackend('cpu');
  const flat = buildHeadForTraining([3, 3, 4], { numClasses: 2, units: 8, activation: 'relu', dropout: 0.25, seed: 4 });
  assert.deepEqual(trainableHead(flat.logits), {
    pooling: 'flatten',
    hidden: { units: 8, activation: 'relu' },
    dropout: { rate: 0.25, seed: 5 },
    output: { units: 1 },
  });
  const avg = buildHeadForTraining([3, 3, 4], { numClasses: 3, dropout: 0, pooling: 'avg' });
  assert.deepEqual(trainableHead(avg.logits), { pooling: 'avg', hidden: { units: 256, activation: 'linear' }, output: { units: 3 } });
  const vector = buildHeadForTraining([10], { numClasses: 4, units: 0 });
  assert.deepEqual(trainableHead(vector.logits), { pooling: 'none', dropout: { rate: 0.5, seed: 1338 }, output: { units: 4 } });
  // The probabilities model ends in an activation layer, and a suffix + head nests the head: neither is the head.
  assert.equal(trainableHead(flat.head), undefined);
  const input = tfl.input({ shape: [5, 5, 2] });
  const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, name: 'my_conv' }).apply(input) as tfl.SymbolicTensor;
  assert.equal(trainableHead(tfl.model({ inputs: input, outputs: flat.logits.apply(conv) as tfl.SymbolicTensor })), undefined);
  for (const m of [flat, avg, vector]) m.head.dispose();
});

test('ORT head: a model that is not a declared head is refused with NotTrainableOnOrt, or trains on generated graphs', async () => {
  await initBackend('cpu');
  const input = tfl.input({ shape: [4, 4, 2] });
  const conv = tfl.layers.conv2d({ filters: 2, kernelSize: 3, name: 'my_conv' }).apply(input) as tfl.SymbolicTensor;
  const out = tfl.layers
    .dense({ units: 1, name: 'out' })
    .apply(tfl.layers.flatten().apply(conv) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
  const m = tfl.model({ inputs: input, outputs: out });
  m.compile({ optimizer: makeOptimizer('sgd', 0.1), loss: 'meanSquaredError' });
  await assert.rejects(
    OrtTrainer.create(m, { graphs: 'head' }),
    (e: unknown) => e instanceof NotTrainableOnOrt && /not a head/.test((e as Error).message),
  );
  // A declaration that does not fit the model's weights is refused, naming both.
  const lie = { pooling: 'flatten' as const, output: { units: 1 } };
  await assert.rejects(
    OrtTrainer.create(m, { graphs: 'head', head: lie }),
    /trainable weights \[\[3,3,2,2\],\[2\],\[8,1\],\[1\]\] are not those of the head it declares \[\[32,1\],\[1\]\]/,
  );
  const auto = await OrtTrainer.create(m, { threads: 1, head: lie });
  await auto.dispose();
  const sig = tfl.model({
    inputs: input,
    outputs: tfl.layers
      .dense({ units: 1, activation: 'sigmoid', name: 'sig' })
      .apply(tfl.layers.flatten().apply(input) as tfl.SymbolicTensor) as tfl.SymbolicTensor,
  });
  sig.compile({ optimizer: tf.train.momentum(0.1, 0.9), loss: 'meanSquaredError' });
  await assert.rejects(OrtTrainer.create(sig), NotTrainableOnOrt);
  m.dispose();
  sig.dispose();
});

test('ORT label smoothing: taken from the compiled loss when not given, and refused when the option contradicts it', async () => {
  await initBackend('cpu');
  const featureShape = [4];
  const d = makeData(7, 8, featureShape, 1);
  const models = buildHeadForTraining(featureShape, { numClasses: 2, units: 3, dropout: 0, seed: 2 });
  compileHeadForTraining(models.logits, 2, makeOptimizer('sgd', 0.1), 0.3);
  await assert.rejects(
    OrtTrainer.create(models.logits, { threads: 1, head: trainableHead(models.logits), labelSmoothing: 0.1 }),
    /labelSmoothing 0\.1 differs from the 0\.3/,
  );
  const trainer = await OrtTrainer.create(models.logits, { threads: 1, head: trainableHead(models.logits) });
  const [xs, ys] = [tf.tensor2d(d.x, [8, 4]), tf.tensor2d(d.y, [8, 1])];
  const expected = (await models.logits.evaluate(xs, ys)) as tf.Scalar[];
  const [loss] = await trainer.trainOnBatch(xs, ys);
  // Smoothed targets 0.85 / 0.15: the loss tfjs computes with them, not the one without.
  assert.ok(Math.abs(loss - expected[0].dataSync()[0]) <= 1e-6, `loss ${loss} vs tfjs ${expected[0].dataSync()[0]}`);
  const logits = models.logits.predict(xs) as tf.Tensor;
  const unsmoothed = tf.losses.sigmoidCrossEntropy(ys, logits).dataSync()[0];
  assert.ok(Math.abs(loss - unsmoothed) > 1e-3, 'the smoothing changed the loss');
  tf.dispose([xs, ys, logits, ...expected]);
  await trainer.dispose();
  models.head.dispose();
});
