import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../../tfjs/backend.js';
import { fileSystemIO } from '../../weights/tfjsFiles.js';
import {
  ModelCheckpoint,
  EarlyStopping,
  CSVLogger,
  ProgressLogger,
  HistoryRecorder,
  TerminateOnNaN,
  StopOnAbort,
  DivergenceGuard,
  formatEpochLine,
} from './index.js';
import { parseHistory } from '../../run/history.js';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
}

function tinyModel(): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(
    tfl.layers.dense({ units: 4, activation: 'relu', inputShape: [3], kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
  );
  m.add(tfl.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }));
  m.compile({ optimizer: tf.train.rmsprop(0.01), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  return m;
}

function toyData(n: number): [tf.Tensor2D, tf.Tensor2D] {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = Math.sin(i * 1.7),
      b = Math.cos(i * 0.9),
      c = Math.sin(i * 0.3);
    xs.push(a, b, c);
    ys.push(a + b > 0 ? 1 : 0);
  }
  return [tf.tensor2d(xs, [n, 3]), tf.tensor2d(ys, [n, 1])];
}

class Sink {
  text = '';
  isTTY = false;
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

test('fit with every callback: best checkpoint loadable, history/CSV/progress consistent', async () => {
  await initBackend('cpu');
  const dir = tmp();
  const model = tinyModel();
  const [x, y] = toyData(64);
  const [vx, vy] = toyData(32);
  const saved: number[] = [];
  const ckpt = new ModelCheckpoint({
    dir: path.join(dir, 'best'),
    onSave: (e) => {
      saved.push(e);
    },
  });
  const hist = new HistoryRecorder({ file: path.join(dir, 'history.json') });
  const csv = new CSVLogger({ file: path.join(dir, 'log.csv') });
  const sink = new Sink();
  const progress = new ProgressLogger({ stream: sink as unknown as NodeJS.WritableStream });
  await model.fit(x, y, {
    epochs: 6,
    batchSize: 16,
    validationData: [vx, vy],
    shuffle: false,
    verbose: 0,
    callbacks: [progress, ckpt, hist, csv],
  });

  const valLoss = hist.data.history.val_loss;
  assert.equal(valLoss.length, 6);
  const argmin = valLoss.indexOf(Math.min(...valLoss));
  assert.equal(ckpt.bestEpoch, argmin);
  assert.equal(saved.at(-1), argmin);
  // Every save was an improvement over the previous one.
  for (let i = 1; i < saved.length; i++) assert.ok(valLoss[saved[i]] < valLoss[saved[i - 1]]);

  const loaded = await tfl.loadLayersModel(fileSystemIO(path.join(dir, 'best')));
  const bestLoss = tf.tidy(
    () =>
      tf.losses
        .sigmoidCrossEntropy(vy, tf.log(tf.div(loaded.predict(vx) as tf.Tensor, tf.sub(1, loaded.predict(vx) as tf.Tensor))))
        .dataSync()[0],
  );
  assert.ok(Math.abs(bestLoss - valLoss[argmin]) < 1e-4, `checkpoint loss ${bestLoss} vs best val_loss ${valLoss[argmin]}`);
  assert.equal(fs.readdirSync(dir).filter((f) => f.includes('.tmp')).length, 0, 'no temp dirs left behind');

  const onDisk = parseHistory(fs.readFileSync(path.join(dir, 'history.json'), 'utf8'));
  assert.deepEqual(onDisk.epoch, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(Object.keys(onDisk.history).sort(), ['accuracy', 'loss', 'val_accuracy', 'val_loss']);

  const lines = fs.readFileSync(path.join(dir, 'log.csv'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 7);
  const header = lines[0].split(',');
  assert.deepEqual(header, ['epoch', 'accuracy', 'loss', 'val_accuracy', 'val_loss']);
  const vlCol = header.indexOf('val_loss');
  assert.ok(Math.abs(Number(lines[3].split(',')[vlCol]) - valLoss[2]) < 1e-9);

  assert.equal(sink.text.match(/^Epoch \d+\/6$/gm)?.length, 6);
  assert.match(
    sink.text,
    /^4\/4 \[={30}\] \d+s \d+(ms|us)\/step - accuracy: \d\.\d{4} - loss: \d\.\d{4} - val_accuracy: \d\.\d{4} - val_loss: \d\.\d{4}$/m,
  );
  tf.dispose([x, y, vx, vy]);
});

test('CSVLogger append keeps earlier rows and header (resume)', async () => {
  await initBackend('cpu');
  const dir = tmp();
  const file = path.join(dir, 'log.csv');
  fs.writeFileSync(file, 'epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,0.7,0.5,0.69\n1,0.6,0.6,0.5,0.6'); // torn last line
  const model = tinyModel();
  const [x, y] = toyData(32);
  const csv = new CSVLogger({ file, append: true });
  await model.fit(x, y, { epochs: 4, initialEpoch: 2, batchSize: 16, validationData: [x, y], verbose: 0, callbacks: [csv] });
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  assert.deepEqual(
    lines.map((l) => l.split(',')[0]),
    ['epoch', '0', '2', '3'],
  );
  assert.equal(lines[2].split(',').length, 5);
  tf.dispose([x, y]);
});

test('formatEpochLine matches the Keras line', () => {
  const line = formatEpochLine(63, 63, 2, 31, { accuracy: 0.97, loss: 0.09, val_accuracy: 0.96, val_loss: 0.1 });
  assert.equal(
    line,
    '63/63 [==============================] 2s 31ms/step - accuracy: 0.9700 - loss: 0.0900 - val_accuracy: 0.9600 - val_loss: 0.1000',
  );
});

test('EarlyStopping stops after `patience` bad epochs and restores the best weights', async () => {
  await initBackend('cpu');
  const model = tinyModel();
  const es = new EarlyStopping({ patience: 2, restoreBestWeights: true });
  es.setModel(model);
  es.setParams({ doValidation: true });
  await es.onTrainBegin();
  const losses = [1.0, 0.5, 0.6, 0.7, 0.4];
  let bestKernel: Float32Array | null = null;
  for (let epoch = 0; epoch < losses.length && !model.stopTraining; epoch++) {
    // Make the weights differ per epoch so restoring is observable.
    model.setWeights(model.getWeights().map((w) => tf.fill(w.shape, epoch)));
    if (epoch === 1) bestKernel = model.getWeights()[0].dataSync() as Float32Array;
    await es.onEpochEnd(epoch, { val_loss: losses[epoch] });
  }
  assert.equal(model.stopTraining, true);
  assert.equal(es.stoppedEpoch, 3);
  assert.equal(es.bestEpoch, 1);
  await es.onTrainEnd();
  assert.deepEqual(Array.from(model.getWeights()[0].dataSync()), Array.from(bestKernel!));
});

test('TerminateOnNaN stops with a clear message; StopOnAbort drops the partial epoch', async () => {
  await initBackend('cpu');
  const model = tinyModel();
  const nan = new TerminateOnNaN({ learningRateOption: '--learning-rate' });
  nan.setModel(model);
  await nan.onBatchEnd(4, { loss: NaN });
  assert.equal(model.stopTraining, true);
  assert.match(nan.message!, /loss became NaN at batch 5.*Lower the learning rate \(--learning-rate, e\.g\. by 10x\)/);

  const dir = tmp();
  const controller = new AbortController();
  const fresh = tinyModel();
  const [x, y] = toyData(64);
  const hist = new HistoryRecorder({ file: path.join(dir, 'history.json') });
  const csv = new CSVLogger({ file: path.join(dir, 'log.csv') });
  let batches = 0;
  const abortInEpoch2 = new tfl.CustomCallback({
    onBatchEnd: () => {
      if (++batches === 6) controller.abort();
    },
  });
  await fresh.fit(x, y, {
    epochs: 5,
    batchSize: 16,
    validationData: [x, y],
    verbose: 0,
    callbacks: [abortInEpoch2, new StopOnAbort(controller.signal), hist, csv],
  });
  assert.deepEqual(hist.data.epoch, [0]);
  assert.equal(fs.readFileSync(path.join(dir, 'log.csv'), 'utf8').trim().split('\n').length, 2);
  tf.dispose([x, y]);
});

test('DivergenceGuard: a NaN loss, or a finite loss over NaN weights, stops training naming the weight; weights unchecked when another engine trains', async () => {
  await initBackend('cpu');
  const loss = tinyModel();
  const onLoss = new DivergenceGuard();
  onLoss.setModel(loss);
  await onLoss.onBatchEnd(0, { loss: Infinity });
  assert.match(onLoss.message!, /loss became Infinity at batch 1/);

  const poisoned = tinyModel();
  const kernel = poisoned.layers[1].getWeights();
  poisoned.layers[1].setWeights([tf.fill(kernel[0].shape, NaN), kernel[1]]);
  const guard = new DivergenceGuard();
  guard.setModel(poisoned);
  await guard.onBatchEnd(2, { loss: 0.5 });
  assert.equal(poisoned.stopTraining, true);
  assert.match(guard.message!, /the weights of .*kernel became NaN or infinite at batch 3/);

  poisoned.stopTraining = false;
  const lossOnly = new DivergenceGuard({ weights: false });
  lossOnly.setModel(poisoned);
  await lossOnly.onBatchEnd(2, { loss: 0.5 });
  assert.equal(lossOnly.message, null);
  assert.equal(poisoned.stopTraining, false);
});
