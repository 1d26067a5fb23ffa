import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
// Registers tfjs's gradients, as every tlkit model has them.
import '@tensorflow/tfjs-layers';
import { isUserError } from '../errors.js';
import { initBackend } from '../tfjs/backend.js';
import { makeOptimizer, type OptimizerName } from './optimizer.js';
import type { OptimizerConfig } from './optimizerConfig.js';
import type { RateOptimizer } from './rateOptimizer.js';

const ready = initBackend('cpu');

const START = [
  [0.5, -1, 2, 0.1],
  [3, -0.2, 0.7, -4],
];
/** Per-element gradient scales: loss = sum(SCALE w^2) + sum(w^3), so g = 2 SCALE w + 3 w^2. */
const SCALE = [
  [1, 2, 3, 4],
  [0.5, 0.25, 8, 1],
];

function lossOf(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  const part = (w: tf.Tensor, scale: number[]) => tf.add(tf.sum(tf.mul(tf.square(w), tf.tensor1d(scale))), tf.sum(tf.pow(w, 3)));
  return tf.add(part(a, SCALE[0]), part(b, SCALE[1])) as tf.Scalar;
}

/** Two variables (names a and b in this process), stepped `steps` times by `opt`; their values after each step. */
function train(opt: tf.Optimizer, steps: number, tag: string, before?: (step: number) => void): { a: number[][]; b: number[][] } {
  const a = tf.variable(tf.tensor1d(START[0]), true, `${tag}_a`);
  const b = tf.variable(tf.tensor1d(START[1]), true, `${tag}_b`);
  const out = { a: [] as number[][], b: [] as number[][] };
  for (let s = 0; s < steps; s++) {
    before?.(s);
    opt.minimize(() => lossOf(a, b), false, [a, b]);
    out.a.push(Array.from(a.dataSync()));
    out.b.push(Array.from(b.dataSync()));
  }
  a.dispose();
  b.dispose();
  return out;
}

let runs = 0;
const tag = () => `opt${runs++}`;

test("makeOptimizer: the numbers of tfjs's own Adam and SGD, bit for bit, and its class names and config", async () => {
  await ready;
  const cases: Array<[OptimizerName, tf.Optimizer, string]> = [
    ['adam', tf.train.adam(1e-2, 0.9, 0.999, 1e-7), 'Adam'],
    ['sgd', tf.train.sgd(1e-2), 'SGD'],
  ];
  for (const [name, theirs, cls] of cases) {
    const ours = makeOptimizer({ name, learningRate: 1e-2 });
    assert.equal(ours.getClassName(), cls);
    assert.deepEqual(train(ours, 5, tag()), train(theirs, 5, tag()), name);
  }
  assert.equal(makeOptimizer('rmsprop').getClassName(), 'KerasRMSprop');
  assert.equal(makeOptimizer('adamw').getClassName(), 'AdamW');
  const config = (o: tf.Optimizer) => o.getConfig() as unknown as OptimizerConfig & { decay?: number };
  assert.deepEqual(config(makeOptimizer('rmsprop', 0.5)), {
    kind: 'rmsprop',
    learningRate: 0.5,
    rho: 0.9,
    epsilon: 1e-7,
    decay: 0.9,
    multipliers: {},
  });
  assert.deepEqual(config(makeOptimizer({ name: 'adam', multipliers: { x: 0.5 } })), {
    kind: 'adam',
    learningRate: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-7,
    multipliers: { x: 0.5 },
  });
  assert.deepEqual(config(makeOptimizer('adamw')), {
    kind: 'adamw',
    learningRate: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-7,
    weightDecay: 0.01,
    multipliers: {},
  });
  assert.deepEqual(config(makeOptimizer('sgd')), { kind: 'sgd', learningRate: 1e-2, multipliers: {} });
  assert.throws(
    () => makeOptimizer({ name: 'adam', weightDecay: 0.1 }),
    (e) => isUserError(e) && /applies to the adamw optimizer, got adam/.test((e as Error).message),
  );
});

test('multipliers: a variable at multiplier m steps exactly as it would at learning rate lr x m, for every rule (Adam: the step scaled, not the gradient)', async () => {
  await ready;
  for (const name of ['rmsprop', 'adam', 'adamw', 'sgd'] as const) {
    const t = tag();
    const grouped = train(makeOptimizer({ name, learningRate: 0.02, multipliers: { [`${t}_a`]: 0.25 } }), 4, t);
    const slow = train(makeOptimizer({ name, learningRate: 0.005 }), 4, tag());
    const fast = train(makeOptimizer({ name, learningRate: 0.02 }), 4, tag());
    assert.deepEqual(grouped.a, slow.a, `${name}: a at 0.02 x 0.25`);
    assert.deepEqual(grouped.b, fast.b, `${name}: b at 0.02`);
    assert.notDeepEqual(grouped.a, fast.a);
  }
  // Adam's first step is about lr per weight whatever the gradient's scale: a multiplier of the gradient would change nothing.
  const t = tag();
  const first = train(makeOptimizer({ name: 'adam', learningRate: 0.1, multipliers: { [`${t}_a`]: 0.5 } }), 1, t);
  first.a[0].forEach((w, i) => assert.ok(Math.abs(Math.abs(w - START[0][i]) - 0.05) < 1e-5, `step ${w - START[0][i]}`));
  first.b[0].forEach((w, i) => assert.ok(Math.abs(Math.abs(w - START[1][i]) - 0.1) < 1e-5, `step ${w - START[1][i]}`));
  // A multiplier for a variable that does not train is a wrong name.
  assert.throws(
    () => train(makeOptimizer({ name: 'sgd', multipliers: { nothing_here: 2 } }), 1, tag()),
    /nothing_here, which this optimizer does not train/,
  );
  assert.throws(() => makeOptimizer({ name: 'sgd', multipliers: { x: -1 } }), /must be a finite number >= 0/);
});

/** Adam(W) in float64 from its formulas (the betas' powers as float32 holds them): decoupled decay, then the update with the bias corrections of the current beta1. */
function adamReference(
  start: number[],
  scale: number[],
  o: { lr: (s: number) => number; beta1: (s: number) => number; wd: number },
  steps: number,
): number[] {
  const w = [...start];
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  for (let s = 0; s < steps; s++) {
    const t = s + 1;
    const [lr, b1, b2] = [o.lr(s), o.beta1(s), 0.999];
    for (let i = 0; i < w.length; i++) {
      const g = 2 * scale[i] * w[i] + 3 * w[i] ** 2;
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      // The corrections of the betas as float32 holds them (1 - 0.999 is 1.3e-5 off in float32).
      const mHat = m[i] / (1 - Math.fround(b1) ** t);
      const vHat = v[i] / (1 - Math.fround(b2) ** t);
      w[i] = w[i] - lr * o.wd * w[i] - (lr * mHat) / (Math.sqrt(vHat) + 1e-7);
    }
  }
  return w;
}

test('AdamW: w <- w - lr wd w, then the Adam step, against the formulas in float64; weight decay 0 is Adam', async () => {
  await ready;
  const t = tag();
  const got = train(makeOptimizer({ name: 'adamw', learningRate: 0.05, weightDecay: 0.3 }), 6, t);
  const want = adamReference(START[0], SCALE[0], { lr: () => 0.05, beta1: () => 0.9, wd: 0.3 }, 6);
  got.a[5].forEach((w, i) => assert.ok(Math.abs(w - want[i]) <= 2e-6 * Math.max(1, Math.abs(want[i])), `${w} vs ${want[i]}`));
  const plain = adamReference(START[0], SCALE[0], { lr: () => 0.05, beta1: () => 0.9, wd: 0 }, 6);
  assert.ok(Math.abs(want[3] - plain[3]) > 1e-3, 'the decay moves the weights');
  assert.deepEqual(
    train(makeOptimizer({ name: 'adamw', learningRate: 0.05, weightDecay: 0 }), 3, tag()),
    train(makeOptimizer({ name: 'adam', learningRate: 0.05 }), 3, tag()),
  );
});

test('setStepRates: the learning rate and the momentum term (rho, beta1; SGD has none) change between steps; Adam corrects with the current beta1', async () => {
  await ready;
  const rmsprop = makeOptimizer('rmsprop');
  rmsprop.setStepRates({ learningRate: 0.3, momentum: 0.8 });
  assert.deepEqual(rmsprop.stepRates(), { learningRate: 0.3, momentum: 0.8 });
  assert.equal((rmsprop.getConfig() as unknown as OptimizerConfig).rho, 0.8);
  const sgd = makeOptimizer('sgd');
  sgd.setStepRates({ learningRate: 0.3, momentum: 0.8 });
  assert.deepEqual(sgd.stepRates(), { learningRate: 0.3 });
  assert.throws(() => sgd.setStepRates({ learningRate: Number.NaN }), /finite number >= 0/);

  // One-cycle-like rates on Adam: each step at its own lr and beta1.
  const lr = (s: number) => 0.01 + 0.02 * s;
  const beta1 = (s: number) => 0.95 - 0.03 * s;
  const adam = makeOptimizer('adam');
  const got = train(adam, 5, tag(), (s) => adam.setStepRates({ learningRate: lr(s), momentum: beta1(s) }));
  const want = adamReference(START[1], SCALE[1], { lr, beta1, wd: 0 }, 5);
  got.b[4].forEach((w, i) => assert.ok(Math.abs(w - want[i]) <= 2e-6 * Math.max(1, Math.abs(want[i])), `${w} vs ${want[i]}`));
  assert.deepEqual(adam.stepRates(), { learningRate: lr(4), momentum: beta1(4) });

  // The same rates set on SGD: each step is -lr(s) g.
  const plain = makeOptimizer('sgd');
  const steps = train(plain, 2, tag(), (s) => plain.setStepRates({ learningRate: lr(s) }));
  const g0 = START[0].map((w, i) => 2 * SCALE[0][i] * w + 3 * w * w);
  steps.a[0].forEach((w, i) => assert.ok(Math.abs(w - (START[0][i] - lr(0) * g0[i])) < 1e-5));
});

test('getWeights/setWeights: a fresh optimizer given the slots continues exactly as the first (rates changed between steps included)', async () => {
  await ready;
  for (const name of ['rmsprop', 'adam', 'adamw', 'sgd'] as const) {
    const rates = (s: number) => ({ learningRate: 0.01 * (s + 1), momentum: 0.95 - 0.02 * s });
    const whole = makeOptimizer({ name, learningRate: 0.01 });
    const t = tag();
    const expected = train(whole, 6, t, (s) => whole.setStepRates(rates(s)));

    // The first 3 steps, then the state moves into a new optimizer (as a resume does) for the last 3.
    const a = tf.variable(tf.tensor1d(START[0]), true, `${tag()}_a`);
    const b = tf.variable(tf.tensor1d(START[1]), true, `${tag()}_b`);
    const step = (opt: RateOptimizer, s: number) => {
      opt.setStepRates(rates(s));
      opt.minimize(() => lossOf(a, b), false, [a, b]);
    };
    const first = makeOptimizer({ name, learningRate: 0.01 });
    for (let s = 0; s < 3; s++) step(first, s);
    const saved = (await first.getWeights()).map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) }));
    assert.equal(saved[0].name, 'iter');
    assert.equal(saved.length, { rmsprop: 3, adam: 5, adamw: 5, sgd: 1 }[name]);
    if (name === 'adam')
      assert.deepEqual(
        saved.slice(1).map((w) => w.name.split('/')[1]),
        ['m', 'm', 'v', 'v'],
      );
    first.dispose();
    const second = makeOptimizer({ name, learningRate: 0.01 });
    await second.setWeights(saved);
    tf.dispose(saved.map((w) => w.tensor));
    for (let s = 3; s < 6; s++) step(second, s);
    assert.deepEqual(Array.from(a.dataSync()), expected.a[5], name);
    assert.deepEqual(Array.from(b.dataSync()), expected.b[5], name);
    second.dispose();
    a.dispose();
    b.dispose();
  }
});
