import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { Rng } from '../io/rng.js';
import { compileHeadForTraining } from '../fit/head.js';
import { makeOptimizer } from '../fit/optimizer.js';
import { OrtTrainer } from './ortTrainer.js';
import { NotTrainableOnOrt } from './trainingPlan.js';
import type { UpdateSite } from './trainingOps.js';
import { randn } from '../testing/normalSamples.js';
import { assertWorstError } from '../testing/numerics.js';

type Sym = tfl.SymbolicTensor;

/**
 * Conv -> BatchNormalization -> ReLU -> depthwise -> BatchNormalization -> GAP -> Dense -> BN (rank 2) -> Dense: the BN
 * layers train, except the second with `frozenSecond`. `biasBeforeBn`: the layers before a BN have biases (ResNet50's
 * convs do; MobileNet's and EfficientNet's do not).
 */
function model(seed: number, { frozenSecond = false, biasBeforeBn = true } = {}): tfl.LayersModel {
  const init = (s: number) => tfl.initializers.glorotUniform({ seed: seed + s });
  const bn = (name: string, trainable = true) =>
    tfl.layers.batchNormalization({
      name,
      trainable,
      momentum: 0.9,
      // Moving statistics away from 0 and 1, so evaluating with them differs from the batch's.
      movingMeanInitializer: tfl.initializers.constant({ value: 0.3 }),
      movingVarianceInitializer: tfl.initializers.constant({ value: 2 }),
      gammaInitializer: tfl.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: seed + 7 }),
    });
  const input = tfl.input({ shape: [6, 6, 3] });
  const useBias = biasBeforeBn;
  let y = tfl.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, useBias, kernelInitializer: init(1) }).apply(input) as Sym;
  y = bn('bn1').apply(y) as Sym;
  y = tfl.layers.reLU({ name: 'r1' }).apply(y) as Sym;
  y = tfl.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, padding: 'same', useBias, depthwiseInitializer: init(2) }).apply(y) as Sym;
  y = bn('bn2', !frozenSecond).apply(y) as Sym;
  // A nonlinearity between two BN layers: without it the first one's beta would be a shift the second removes (no gradient).
  y = tfl.layers.reLU({ name: 'r2' }).apply(y) as Sym;
  y = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(y) as Sym;
  y = tfl.layers.dense({ name: 'd1', units: 5, useBias, kernelInitializer: init(3) }).apply(y) as Sym;
  y = bn('bn3').apply(y) as Sym;
  y = tfl.layers.dense({ name: 'out', units: 3, kernelInitializer: init(4) }).apply(y) as Sym;
  return tfl.model({ inputs: input, outputs: y, name: 'bn_block' });
}

function batches(seed: number, count: number, n: number): Array<{ x: tf.Tensor; y: tf.Tensor }> {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const labels = Array.from({ length: n }, () => rng.int(3));
    // Inputs off-centre and scaled, as features are: the batch statistics are far from 0 and 1.
    const x = tf.tidy(() => tf.add(tf.mul(tf.tensor(randn(rng, n * 108), [n, 6, 6, 3]), 1.7), 0.4));
    return { x, y: tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 3), 'float32')) };
  });
}

/**
 * A bias in front of a training BN gets a gradient of exactly 0 but for rounding, which differs between the engines:
 * SGD moves it by lr times that noise (nothing), Adam by about lr (m / sqrt(v) of noise), so those biases, and the
 * moving means that follow them, part ways on Adam whatever the engine. Adam is compared on models without them.
 */
const BN_CASES: Array<{ update: UpdateSite; optimizer: 'sgd' | 'adam'; biasBeforeBn: boolean }> = [
  { update: 'host', optimizer: 'sgd', biasBeforeBn: true },
  { update: 'graph', optimizer: 'sgd', biasBeforeBn: true },
  { update: 'host', optimizer: 'adam', biasBeforeBn: false },
  { update: 'graph', optimizer: 'adam', biasBeforeBn: false },
];

for (const { update, optimizer, biasBeforeBn } of BN_CASES) {
  test(`BatchNormalization that trains (batch statistics, gamma and beta, moving averages) on ONNX Runtime equals tfjs (${optimizer}, update ${update}${biasBeforeBn ? ', biases before the BN layers' : ''})`, async () => {
    await initBackend('cpu');
    const ref = model(3, { biasBeforeBn });
    const mine = model(3, { biasBeforeBn });
    mine.setWeights(ref.getWeights());
    const lr = optimizer === 'sgd' ? 0.1 : 1e-2;
    compileHeadForTraining(ref, 3, makeOptimizer(optimizer, lr));
    compileHeadForTraining(mine, 3, makeOptimizer(optimizer, lr));
    const trainer = await OrtTrainer.create(mine, { threads: 1, update });
    // gamma and beta of the three layers train beside the kernels and biases.
    assert.equal(mine.trainableWeights.filter((v) => /gamma|beta/.test(v.name)).length, 6);
    const data = batches(4, 6, 5);
    let lossErr = 0;
    for (const [i, { x, y }] of data.entries()) {
      const [expected] = (await ref.trainOnBatch(x, y)) as number[];
      const [got] = await trainer.trainOnBatch(x, y);
      lossErr = Math.max(lossErr, Math.abs(got - expected));
      assert.ok(Math.abs(got - expected) <= 1e-5, `step ${i}: loss ${got} vs tfjs ${expected}`);
    }
    // Evaluation normalises with the moving statistics, which moved on both engines alike.
    const [evalGot] = await trainer.evaluate(data[0].x, data[0].y);
    const [evalExpected] = ref.evaluate(data[0].x, data[0].y) as tf.Scalar[];
    const evalErr = Math.abs(evalGot.dataSync()[0] - evalExpected.dataSync()[0]);
    assert.ok(evalErr <= 1e-5, `evaluation loss ${evalGot.dataSync()[0]} vs ${evalExpected.dataSync()[0]}`);
    await trainer.syncWeights();
    // Measured (x86-64) within 2.4e-7 on losses, 1.2e-7 on evaluation, 2.4e-7 (SGD) and 2.3e-6 (Adam) on weights.
    // Absolute: a bias in front of a BN stays near 0 (its gradient is 0 but for rounding), where a relative error means nothing.
    const worst = assertWorstError(
      mine.weights.map((v, i) => ({ name: v.originalName, actual: v.read().dataSync(), expected: ref.weights[i].read().dataSync() })),
      1e-5,
      'absolute',
    );
    const moving = mine.weights.find((v) => v.originalName === 'bn1/moving_mean');
    assert.ok(moving && Math.abs(moving.read().dataSync()[0] - 0.3) > 1e-2, 'the moving mean moved');
    if (process.env.TLKIT_DEBUG)
      console.log(
        `${optimizer} update ${update}: worst ${worst.name} ${worst.err.toExponential(2)}, losses ${lossErr.toExponential(2)}, evaluation ${evalErr.toExponential(2)}`,
      );
    tf.dispose([evalGot, evalExpected, ...data.flatMap((d) => [d.x, d.y])]);
    await trainer.dispose();
    ref.dispose();
    mine.dispose();
  });
}

test('a BatchNormalization frozen beside training ones stays in inference mode on both engines, its statistics untouched', async () => {
  await initBackend('cpu');
  const ref = model(5, { frozenSecond: true });
  const mine = model(5, { frozenSecond: true });
  mine.setWeights(ref.getWeights());
  // As fit/suffixModel.ts pins a frozen one (tfjs-layers would otherwise call it in training mode).
  for (const m of [ref, mine]) {
    const layer = m.getLayer('bn2');
    const call = layer.call.bind(layer);
    layer.call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => call(inputs, { ...kwargs, training: false });
  }
  compileHeadForTraining(ref, 3, makeOptimizer('sgd', 0.05));
  compileHeadForTraining(mine, 3, makeOptimizer('sgd', 0.05));
  const trainer = await OrtTrainer.create(mine, { threads: 1 });
  for (const { x, y } of batches(6, 3, 4)) {
    const [expected] = (await ref.trainOnBatch(x, y)) as number[];
    const [got] = await trainer.trainOnBatch(x, y);
    assert.ok(Math.abs(got - expected) <= 1e-5, `loss ${got} vs tfjs ${expected}`);
    tf.dispose([x, y]);
  }
  await trainer.syncWeights();
  assert.deepEqual(Array.from(mine.getLayer('bn2').getWeights()[2].dataSync()), [0.3, 0.3, 0.3, 0.3].map(Math.fround));
  assertWorstError(
    mine.weights.map((v, i) => ({ name: v.originalName, actual: v.read().dataSync(), expected: ref.weights[i].read().dataSync() })),
    1e-5,
    'absolute',
  );
  assert.ok(
    mine
      .getLayer('bn2')
      .getWeights()[1]
      .dataSync()
      .every((v) => v === 0),
    'the frozen beta did not move',
  );
  await trainer.dispose();
  ref.dispose();
  mine.dispose();
});

test('a BatchNormalization that trains without gamma or beta is refused with NotTrainableOnOrt, naming it', async () => {
  await initBackend('cpu');
  const input = tfl.input({ shape: [4, 4, 2] });
  let y = tfl.layers.conv2d({ name: 'c', filters: 2, kernelSize: 1 }).apply(input) as Sym;
  y = tfl.layers.batchNormalization({ name: 'bn_no_scale', scale: false }).apply(y) as Sym;
  y = tfl.layers.flatten().apply(y) as Sym;
  const m = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 1 }).apply(y) as Sym });
  compileHeadForTraining(m, 2, makeOptimizer('sgd'));
  await assert.rejects(
    OrtTrainer.create(m, { threads: 1 }),
    (e: unknown) => e instanceof NotTrainableOnOrt && /bn_no_scale in training mode without gamma or beta/.test((e as Error).message),
  );
  m.dispose();
});
