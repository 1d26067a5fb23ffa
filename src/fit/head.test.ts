import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { preprocessInput } from '../applications/preprocess.js';
import {
  buildHeadForTraining,
  buildHeadModel,
  headAccuracyFromLogits,
  headLabelMode,
  headLoss,
  headLossFromLogits,
  HEAD_LAYER_NAMES,
  trainableHead,
} from './head.js';
import { SeededDropout } from './seededDropout.js';
import { makeOptimizer } from './optimizer.js';
import { assembleFullModel } from './assembleModel.js';

test('the book head: layers, shapes, losses', async () => {
  await initBackend('cpu');
  const head = buildHeadModel([5, 5, 8], { numClasses: 2, seed: 1 });
  assert.deepEqual(
    head.layers.map((l) => l.getClassName()),
    ['InputLayer', 'Flatten', 'Dense', 'SeededDropout', 'Dense', 'Activation'],
  );
  assert.deepEqual(head.outputs[0].shape, [null, 1]);
  assert.equal((head.getLayer(HEAD_LAYER_NAMES.hidden) as unknown as { units: number }).units, 256);
  const multi = buildHeadModel([5, 5, 8], { numClasses: 3, pooling: 'avg', units: 16, seed: 1 });
  assert.deepEqual(
    multi.layers.map((l) => l.getClassName()),
    ['InputLayer', 'GlobalAveragePooling2D', 'Dense', 'SeededDropout', 'Dense', 'Activation'],
  );
  assert.deepEqual(multi.outputs[0].shape, [null, 3]);
  assert.equal(headLoss(2), 'binaryCrossentropy');
  assert.equal(headLoss(3), 'categoricalCrossentropy');
  // Same seed, same initial weights; another seed, other weights.
  const again = buildHeadModel([5, 5, 8], { numClasses: 2, seed: 1 });
  const other = buildHeadModel([5, 5, 8], { numClasses: 2, seed: 2 });
  const k = (m: tfl.LayersModel) => Array.from(m.getLayer(HEAD_LAYER_NAMES.hidden).getWeights()[0].dataSync().slice(0, 20));
  assert.deepEqual(k(head), k(again));
  assert.notDeepEqual(k(head), k(other));
  assert.throws(() => buildHeadModel([4], { numClasses: 1 }), /at least 2 classes/);
});

test('SeededDropout: new mask per call, same sequence per seed, identity at inference', async () => {
  await initBackend('cpu');
  const x = tf.ones([4, 50]);
  const masks = (seed: number) => {
    const d = new SeededDropout({ rate: 0.5, seed });
    return [0, 1].map(() => Array.from((d.apply(x, { training: true }) as tf.Tensor).dataSync()));
  };
  const [a1, a2] = masks(7);
  const [b1] = masks(7);
  assert.deepEqual(a1, b1);
  assert.notDeepEqual(a1, a2);
  assert.ok(a1.every((v) => v === 0 || v === 2));
  const kept = a1.filter((v) => v === 2).length / a1.length;
  assert.ok(kept > 0.3 && kept < 0.7);
  const d = new SeededDropout({ rate: 0.5, seed: 1 });
  assert.deepEqual(Array.from((d.apply(x) as tf.Tensor).dataSync()), Array.from(x.dataSync()));
});

test('RMSprop matches Keras: v = 0.9 v + 0.1 g^2; w -= lr g / sqrt(v + 1e-7)', async () => {
  await initBackend('cpu');
  const w = tf.variable(tf.tensor1d([1, -2, 3e-4]));
  const opt = makeOptimizer('rmsprop');
  const ref = [1, -2, 3e-4];
  const v = [0, 0, 0];
  for (let step = 0; step < 3; step++) {
    // loss = sum(w^3) -> g = 3 w^2
    opt.minimize(() => tf.sum(tf.pow(w, 3)) as tf.Scalar, false, [w]);
    for (let i = 0; i < 3; i++) {
      const g = 3 * ref[i] ** 2;
      v[i] = 0.9 * v[i] + 0.1 * g * g;
      ref[i] -= (1e-3 * g) / Math.sqrt(v[i] + 1e-7);
    }
  }
  const got = Array.from(w.dataSync());
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(got[i] - ref[i]) < 1e-6 * Math.max(1, Math.abs(ref[i])), `${got[i]} vs ${ref[i]}`);
});

test('assembleFullModel: preprocess + branching base + head, one standard model that reloads', async () => {
  await initBackend('cpu');
  const input = tfl.input({ shape: [6, 6, 3], name: 'input_1' });
  const c1 = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv1', activation: 'relu' })
    .apply(input) as tfl.SymbolicTensor;
  const c2 = tfl.layers.conv2d({ filters: 4, kernelSize: 1, name: 'conv2' }).apply(c1) as tfl.SymbolicTensor;
  const add = tfl.layers.add({ name: 'add' }).apply([c1, c2]) as tfl.SymbolicTensor;
  const out = tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(add) as tfl.SymbolicTensor;
  const base = tfl.model({ inputs: input, outputs: out, name: 'base' });
  const head = buildHeadModel([3, 3, 4], { numClasses: 3, units: 8, seed: 3 });

  const full = await assembleFullModel({ preprocessing: 'caffe', base, head });
  const x = tf.randomUniform([2, 6, 6, 3], 0, 255, 'float32', 5);
  const expected = head.predict(base.predict(preprocessInput(x, 'caffe'))) as tf.Tensor;
  const got = full.predict(x) as tf.Tensor;
  assert.ok(tf.max(tf.abs(tf.sub(expected, got))).dataSync()[0] < 1e-5);
  assert.equal(full.layers[1].name, 'preprocess');
  assert.equal(full.layers[1].trainable, false);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  await full.save(fileSystemIO(dir));
  const json = fs.readFileSync(path.join(dir, 'model.json'), 'utf8');
  assert.ok(!json.includes('SeededDropout'), 'saved model has no custom layer');
  const loaded = await tfl.loadLayersModel(fileSystemIO(dir));
  const again = loaded.predict(x) as tf.Tensor;
  assert.ok(tf.max(tf.abs(tf.sub(expected, again))).dataSync()[0] < 1e-5);
});

test('training on logits recovers from a saturated output (probabilities + clipped loss would not)', async () => {
  await initBackend('cpu');
  const { buildHeadForTraining, compileHeadForTraining } = await import('./head.js');
  const { head, logits } = buildHeadForTraining([4], { numClasses: 2, units: 0, dropout: 0, seed: 1 });
  // Saturate: a huge bias towards class 1, while every label is 0.
  const out = logits.getLayer('head_output');
  out.setWeights([tf.zeros([4, 1]), tf.tensor1d([40])]);
  compileHeadForTraining(logits, 2, makeOptimizer('rmsprop', 0.5));
  const x = tf.ones([8, 4]);
  const y = tf.zeros([8, 1]);
  const before = (head.predict(x) as tf.Tensor).dataSync()[0];
  assert.equal(before, 1);
  const h = await logits.fit(x, y, { epochs: 100, batchSize: 8, verbose: 0 });
  assert.ok((h.history.loss.at(-1) as number) < 1, `loss ${h.history.loss.at(-1)}`);
  assert.ok('acc' in h.history);
  assert.ok((head.predict(x) as tf.Tensor).dataSync()[0] < 0.5);
});

test('KerasRMSprop gives the numbers of tf.train.rmsprop(lr, 0.9, 0, 1e-7)', async () => {
  await initBackend('cpu');
  const { KerasRMSprop } = await import('./rmsprop.js');
  const run = (opt: tf.Optimizer) => {
    const w = tf.variable(
      tf.tensor2d([
        [0.5, -1],
        [2, 0.1],
      ]),
    );
    for (let i = 0; i < 4; i++)
      opt.minimize(
        () =>
          tf.sum(
            tf.mul(
              tf.pow(w, 2),
              tf.tensor2d([
                [1, 2],
                [3, 4],
              ]),
            ),
          ) as tf.Scalar,
        false,
        [w],
      );
    return Array.from(w.dataSync());
  };
  const ours = run(new KerasRMSprop(0.01, 0.9, 1e-7));
  const theirs = run(tf.train.rmsprop(0.01, 0.9, 0, 1e-7));
  ours.forEach((v, i) => assert.ok(Math.abs(v - theirs[i]) < 1e-6, `${v} vs ${theirs[i]}`));
  const opt = new KerasRMSprop();
  assert.equal((await opt.getWeights()).length, 1); // iterations only, before any step
});

test("the hidden Dense is linear by default, as the book's listing (`layers.Dense(256)`), relu when asked", () => {
  const hidden = (activation?: 'linear' | 'relu') => {
    const { head } = buildHeadForTraining([2, 2, 3], { numClasses: 2, units: 4, activation });
    const cfg = head.getLayer(HEAD_LAYER_NAMES.hidden).getConfig() as { activation: string };
    head.dispose();
    return cfg.activation;
  };
  assert.equal(hidden(), 'linear');
  assert.equal(hidden('relu'), 'relu');
  assert.throws(() => hidden('tanh' as 'relu'), /^UserError: activation must be linear or relu, got "tanh"/);
});

test('label smoothing as Keras: binary targets y (1 - s) + s / 2, categorical y (1 - s) + s / k; the compiled model reports it and its loss; accuracy reads the true labels', async () => {
  await initBackend('cpu');
  const { headLossFromLogits, labelSmoothingOf, compileHeadForTraining } = await import('./head.js');
  const close = (got: number, want: number) => assert.ok(Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
  const lossOf = (loss: (y: tf.Tensor, l: tf.Tensor) => tf.Tensor, y: number[][], logits: number[][]) =>
    loss(tf.tensor2d(y), tf.tensor2d(logits)).dataSync()[0];

  // Binary, s = 0.2: labels 1 and 0 become 0.9 and 0.1; the cross-entropy of a sigmoid, by hand.
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
  const bce = (z: number, x: number) => -(z * Math.log(sigmoid(x)) + (1 - z) * Math.log(1 - sigmoid(x)));
  close(lossOf(headLossFromLogits(2, 0.2), [[1], [0]], [[2], [-1]]), (bce(0.9, 2) + bce(0.1, -1)) / 2);
  close(lossOf(headLossFromLogits(2), [[1], [0]], [[2], [-1]]), (bce(1, 2) + bce(0, -1)) / 2);

  // Three classes, s = 0.3: one-hot rows become 0.1 / 0.8 / 0.1; the cross-entropy of a softmax, by hand.
  const ce = (z: number[], x: number[]) => {
    const lse = Math.log(x.reduce((a, v) => a + Math.exp(v), 0));
    return -z.reduce((a, zi, i) => a + zi * (x[i] - lse), 0);
  };
  const logits = [
    [1, 2, 0],
    [0.5, -1, 3],
  ];
  const want = (ce([0.1, 0.8, 0.1], logits[0]) + ce([0.1, 0.1, 0.8], logits[1])) / 2;
  const labels = [
    [0, 1, 0],
    [0, 0, 1],
  ];
  close(lossOf(headLossFromLogits(3, 0.3), labels, logits), want);
  assert.ok(Math.abs(want - (ce(labels[0], logits[0]) + ce(labels[1], logits[1])) / 2) > 0.1, 'smoothing changes the loss');
  assert.throws(() => headLossFromLogits(3, 1), /label smoothing must be a number from 0 to below 1, got 1/);

  // Compiled: a head whose logits are its input (identity kernel) reports the same loss, and accuracy 1 on the true labels.
  const { logits: model } = buildHeadForTraining([3], { numClasses: 3, units: 0, dropout: 0, seed: 1 });
  model.getLayer(HEAD_LAYER_NAMES.output).setWeights([tf.eye(3), tf.zeros([3])]);
  compileHeadForTraining(model, 3, makeOptimizer('sgd'), 0.3);
  assert.equal(labelSmoothingOf(model), 0.3);
  const [loss, acc] = (model.evaluate(tf.tensor2d(logits), tf.tensor2d(labels)) as tf.Scalar[]).map((s) => s.dataSync()[0]);
  close(loss, want);
  assert.equal(acc, 1);
  const plain = buildHeadForTraining([3], { numClasses: 3, units: 0, dropout: 0, seed: 1 }).logits;
  compileHeadForTraining(plain, 3, makeOptimizer('sgd'));
  assert.equal(labelSmoothingOf(plain), 0);
});

test('multi-label head: Dense(k, sigmoid) even for 2 classes; loss is the mean binary cross-entropy over n k, accuracy binary accuracy', async () => {
  await initBackend('cpu');
  assert.equal(headLoss(3, true), 'binaryCrossentropy');
  assert.equal(headLabelMode(2, true), 'multi-label');
  assert.equal(headLabelMode(2), 'binary');
  const models = buildHeadForTraining([4], { numClasses: 2, multiLabel: true, units: 0, dropout: 0, seed: 1 });
  assert.deepEqual(models.head.outputs[0].shape, [null, 2]);
  assert.equal(models.head.getLayer(HEAD_LAYER_NAMES.activation).getConfig().activation, 'sigmoid');
  assert.equal(trainableHead(models.logits)?.output.units, 2);
  const z = tf.tensor2d([2, -1, 0.5, 3], [2, 2]);
  const y = tf.tensor2d([1, 1, 0, 1], [2, 2]);
  const loss = (await headLossFromLogits(2, 0, true)(y, z).data())[0];
  // By hand: mean over the 4 elements of log(1 + e^-z) (y = 1) or log(1 + e^z) (y = 0).
  const expected = (Math.log1p(Math.exp(-2)) + Math.log1p(Math.exp(1)) + Math.log1p(Math.exp(0.5)) + Math.log1p(Math.exp(-3))) / 4;
  assert.ok(Math.abs(loss - expected) < 1e-6, `${loss} vs ${expected}`);
  // Decisions at logit 0: [1, 0] vs [1, 1] and [1, 1] vs [0, 1]: 2 of 4 right, 0.5 an image.
  const acc = await headAccuracyFromLogits(2, true)(y, z).data();
  assert.deepEqual([...acc], [0.5, 0.5]);
  tf.dispose([z, y]);
  models.head.dispose();
});

test('a base that ends in a vector: no pooling layer, with avg as with flatten, and the trainable head says none', async () => {
  await initBackend('cpu');
  for (const pooling of ['avg', 'flatten'] as const) {
    const { head, logits } = buildHeadForTraining([8], { numClasses: 3, pooling, units: 4, dropout: 0, seed: 1 });
    assert.deepEqual(head.outputs[0].shape, [null, 3], pooling);
    assert.ok(!head.layers.some((l) => l.name === HEAD_LAYER_NAMES.pool), `${pooling}: nothing to pool`);
    assert.equal(trainableHead(logits)?.pooling, 'none', `${pooling}: ONNX Runtime trains it as it is`);
    const y = head.predict(tf.ones([2, 8])) as tf.Tensor;
    assert.deepEqual(y.shape, [2, 3]);
    tf.dispose([y]);
    head.dispose();
  }
});
