import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { parseHistory, saveHistory, truncateHistory, type HistoryData } from '../../run/history.js';
import type { TrainState } from '../../run/trainState.js';
import { initBackend } from '../../tfjs/backend.js';
import type { BatchSource } from '../batchSources.js';
import { fit, type FitCallback } from '../fitLoop.js';
import { makeOptimizer } from '../optimizer.js';
import { scheduleRates } from '../schedule.js';
import { rateControlOf, type StepRates } from '../stepRates.js';
import type { EngineTrainer, TrainableModel } from '../trainable.js';
import { BackupAndRestore } from './backupAndRestore.js';
import { CSVLogger } from './csvLogger.js';
import { HistoryRecorder } from './history.js';
import { LearningRateScheduler } from './lrScheduler.js';

const ready = initBackend('cpu');
const STEPS = 7;

/** 7 batches of 3 samples an epoch; the data change with the epoch, so that a resumed epoch must be the same epoch. */
function source(): BatchSource {
  return {
    size: STEPS,
    samples: 3 * STEPS,
    async *batches(epoch: number) {
      for (let i = 0; i < STEPS; i++) {
        const xs = Array.from({ length: 3 }, (_, k) => [Math.sin(epoch + i + k), Math.cos(2 * i - k)]);
        yield { xs: tf.tensor2d(xs), ys: tf.tensor2d(xs.map(([a, b]) => [a - 2 * b + 0.5])) };
      }
    },
  };
}

/** Dense(2 -> 1) from fixed weights, Adam: its beta1 is what one-cycle cycles. */
function tinyModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [2] });
  const out = tfl.layers.dense({ units: 1, kernelInitializer: 'ones', biasInitializer: 'zeros' }).apply(input) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  model.compile({ optimizer: makeOptimizer('adam', 0.05), loss: 'meanSquaredError' });
  return model;
}

/** The rates the optimizer holds when each batch has trained. */
class RateSpy implements FitCallback {
  readonly rates: StepRates[] = [];
  constructor(private readonly model: TrainableModel) {}
  onBatchEnd(): void {
    this.rates.push(rateControlOf(this.model).stepRates());
  }
}

const oneCycle = scheduleRates({ name: 'one-cycle' }, 0.05);

test('LearningRateScheduler: the rates of step (epoch - first epoch) x batches + batch before every batch; a run resumed from a saved epoch continues them, and Adam with them, exactly', async () => {
  await ready;
  // Uninterrupted: 3 epochs.
  const whole = tinyModel();
  const wholeSpy = new RateSpy(whole);
  await fit(whole, {
    train: source(),
    validation: source(),
    initialEpoch: 0,
    epochs: 3,
    callbacks: [new LearningRateScheduler({ model: whole, schedule: oneCycle, firstEpoch: 0 }), wholeSpy],
  });
  assert.equal(wholeSpy.rates.length, 21);
  wholeSpy.rates.forEach((r, s) => assert.deepEqual(r, oneCycle(s, 21), `step ${s}`));

  // Interrupted after its first epoch (the state saved), then resumed in a new model and optimizer.
  let state: TrainState | undefined;
  const first = tinyModel();
  const firstSpy = new RateSpy(first);
  const stop = new AbortController();
  const r1 = await fit(first, {
    train: source(),
    validation: source(),
    initialEpoch: 0,
    epochs: 3,
    signal: stop.signal,
    callbacks: [
      new LearningRateScheduler({ model: first, schedule: oneCycle, firstEpoch: 0 }),
      firstSpy,
      new BackupAndRestore({ model: first, phase: 'head', save: async (s) => void (state = s) }),
      { onEpochEnd: () => stop.abort() },
    ],
  });
  assert.deepEqual([r1.epochsDone, r1.interrupted], [1, true]);
  const resumed = tinyModel();
  const resumedSpy = new RateSpy(resumed);
  await fit(resumed, {
    train: source(),
    validation: source(),
    initialEpoch: state!.epoch,
    epochs: 3,
    callbacks: [
      new LearningRateScheduler({ model: resumed, schedule: oneCycle, firstEpoch: 0 }),
      resumedSpy,
      new BackupAndRestore({ model: resumed, phase: 'head', restore: state, save: async () => {} }),
    ],
  });
  assert.deepEqual([...firstSpy.rates, ...resumedSpy.rates], wholeSpy.rates);
  // The optimizer state (iterations, slots) came back too: the weights are those of the uninterrupted run.
  resumed.getWeights().forEach((w, i) => assert.deepEqual(Array.from(w.dataSync()), Array.from(whole.getWeights()[i].dataSync())));

  // A later phase (fine-tuning after 2 epochs of the head) starts its own schedule at its first epoch.
  const later = tinyModel();
  const laterSpy = new RateSpy(later);
  await fit(later, {
    train: source(),
    validation: source(),
    initialEpoch: 2,
    epochs: 4,
    callbacks: [new LearningRateScheduler({ model: later, schedule: oneCycle, firstEpoch: 2 }), laterSpy],
  });
  laterSpy.rates.forEach((r, s) => assert.deepEqual(r, oneCycle(s, 14), `step ${s}`));
});

test('records: history.json keeps the rate of every batch (lrs) and of each epoch (lr), log.csv an lr column; an older log.csv keeps its columns', async () => {
  await ready;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-lr-'));
  const csvFile = path.join(dir, 'log.csv');
  const historyFile = path.join(dir, 'history.json');
  const cosine = scheduleRates({ name: 'cosine', warmup: 0.2 }, 0.01);
  const model = tinyModel();
  const spy = new RateSpy(model);
  // Two epochs trained before at a fixed rate, without lrs (a run written before schedules, or a constant head phase).
  const before: HistoryData = { epoch: [0, 1], history: { loss: [1, 0.9], val_loss: [1.1, 1] } };
  const history = new HistoryRecorder({ file: historyFile, initial: before });
  await fit(model, {
    train: source(),
    validation: source(),
    initialEpoch: 2,
    epochs: 4,
    callbacks: [new LearningRateScheduler({ model, schedule: cosine, firstEpoch: 2 }), spy, history, new CSVLogger({ file: csvFile })],
  });
  const rates = spy.rates.map((r) => r.learningRate);
  assert.deepEqual(history.data.lrs, [[], [], rates.slice(0, 7), rates.slice(7)]);
  assert.deepEqual(history.data.history.lr, [Number.NaN, Number.NaN, rates[6], rates[13]]);
  const saved = parseHistory(fs.readFileSync(historyFile, 'utf8'));
  assert.deepEqual(saved.lrs, history.data.lrs);
  assert.deepEqual(truncateHistory(saved, 3).lrs, [[], [], rates.slice(0, 7)]);
  assert.equal(truncateHistory(before, 1).lrs, undefined);

  const rows = fs.readFileSync(csvFile, 'utf8').trim().split('\n');
  assert.equal(rows[0], 'epoch,loss,lr,val_loss');
  assert.deepEqual(
    rows.slice(1).map((r) => Number(r.split(',')[2])),
    [rates[6], rates[13]],
  );

  // A log.csv written before the lr column: its rows stay as its header says.
  fs.writeFileSync(csvFile, 'epoch,loss,val_loss\n0,1,1.1\n1,0.9,1\n');
  const again = tinyModel();
  await fit(again, {
    train: source(),
    validation: source(),
    initialEpoch: 2,
    epochs: 3,
    callbacks: [
      new LearningRateScheduler({ model: again, schedule: cosine, firstEpoch: 2 }),
      new CSVLogger({ file: csvFile, append: true, keepEpochs: 2 }),
    ],
  });
  const old = fs.readFileSync(csvFile, 'utf8').trim().split('\n');
  assert.equal(old[0], 'epoch,loss,val_loss');
  assert.equal(old.length, 4);
  assert.equal(old[3].split(',').length, 3);

  // history.json of a run without schedules reads back without lrs.
  await saveHistory(historyFile, before);
  assert.equal(parseHistory(fs.readFileSync(historyFile, 'utf8')).lrs, undefined);
});

test("rateControlOf: an engine trainer without rate control is refused, not silently replaced by its tfjs model's optimizer", async () => {
  await ready;
  const layersModel = tinyModel();
  const trainer = { layersModel, syncWeights: async () => {} } as unknown as EngineTrainer;
  assert.throws(() => rateControlOf(trainer), /engine trainer cannot change its rates/);
  assert.equal(rateControlOf(layersModel), layersModel.optimizer);
  const scheduler = new LearningRateScheduler({ model: trainer, schedule: oneCycle, firstEpoch: 0 });
  assert.throws(() => scheduler.onTrainBegin(), /engine trainer cannot change its rates/);
});
