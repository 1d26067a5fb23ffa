import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { isUserError } from '../errors.js';
import type { EpochLogs } from '../run/history.js';
import type { TrainState } from '../run/trainState.js';
import { initBackend } from '../tfjs/backend.js';
import type { BatchSource } from './batchSources.js';
import { BackupAndRestore } from './callbacks/backupAndRestore.js';
import { EarlyStopping } from './callbacks/earlyStopping.js';
import { fit, type BatchLogs, type FitCallback, type FitParams } from './fitLoop.js';
import type { EngineTrainer } from './trainable.js';

// The loop alone: a fake trainer (scripted losses, nothing trains), fake batch sources, no files.

const ready = initBackend('cpu');

type Slot = { name: string; tensor: tf.Tensor };

/** Batches of `sizes` samples; each batch's xs hold [epoch, batch], so the trainer knows where it is. */
function source(sizes: number[], drawn: number[] = []): BatchSource {
  return {
    size: sizes.length,
    samples: sizes.reduce((a, b) => a + b, 0),
    async *batches(epoch: number) {
      drawn.push(epoch);
      for (const [i, n] of sizes.entries())
        yield {
          xs: tf.tensor2d(
            Array.from({ length: n }, () => [epoch, i]),
            [n, 2],
          ),
          ys: tf.zeros([n, 1]),
        };
    },
  };
}

/**
 * Loss 10 * epoch + batch and accuracy 0.5 per training batch; val_loss from `valLosses`
 * by the epoch of the last training batch. Events go into `events` beside the callbacks'.
 */
class FakeTrainer implements EngineTrainer {
  readonly layersModel: tfl.LayersModel;
  readonly metricsNames = ['loss', 'acc'];
  readonly optimizer = {
    slots: [] as Slot[],
    async getWeights(): Promise<Slot[]> {
      return this.slots;
    },
    async setWeights(w: Slot[]): Promise<void> {
      this.slots = w.map((s) => ({ name: s.name, tensor: tf.clone(s.tensor) }));
    },
  };
  /** The first kernel value when each batch trained (to see a restored state). */
  readonly kernelAtBatch: number[] = [];
  private epoch = 0;

  constructor(
    private readonly events: string[],
    private readonly valLosses: number[] = [],
  ) {
    const input = tfl.input({ shape: [2] });
    this.layersModel = tfl.model({
      inputs: input,
      outputs: tfl.layers.dense({ units: 1, kernelInitializer: 'zeros' }).apply(input) as tfl.SymbolicTensor,
    });
  }

  get trainableWeights() {
    return this.layersModel.trainableWeights;
  }

  get stopTraining(): boolean {
    return this.layersModel.stopTraining;
  }

  set stopTraining(v: boolean) {
    this.layersModel.stopTraining = v;
  }

  async trainOnBatch(x: tf.Tensor): Promise<number[]> {
    const [epoch, batch] = (await x.data()).slice(0, 2);
    this.epoch = epoch;
    this.kernelAtBatch.push(this.trainableWeights[0].read().dataSync()[0]);
    this.events.push(`train ${epoch}.${batch}`);
    return [10 * epoch + batch, 0.5];
  }

  async evaluate(): Promise<tf.Scalar[]> {
    this.events.push(`evaluate ${this.epoch}`);
    return [tf.scalar(this.valLosses[this.epoch] ?? 1), tf.scalar(0.75)];
  }

  async syncWeights(): Promise<void> {
    this.events.push('sync');
  }
}

/** A callback that writes every event it gets into `events`. */
class Recorder implements FitCallback {
  params?: FitParams;
  model?: tfl.LayersModel;
  readonly epochLogs: EpochLogs[] = [];
  readonly batchLogs: BatchLogs[] = [];

  constructor(private readonly events: string[]) {}

  setParams(p: FitParams): void {
    this.params = p;
  }
  setModel(m: tfl.LayersModel): void {
    this.model = m;
  }
  onTrainBegin(): void {
    this.events.push('trainBegin');
  }
  onEpochBegin(epoch: number): void {
    this.events.push(`epochBegin ${epoch}`);
  }
  onBatchBegin(batch: number): void {
    this.events.push(`batchBegin ${batch}`);
  }
  onBatchEnd(batch: number, logs?: BatchLogs): void {
    this.events.push(`batchEnd ${batch}`);
    this.batchLogs.push(logs!);
  }
  onEpochEnd(epoch: number, logs?: EpochLogs): void {
    this.events.push(`epochEnd ${epoch}`);
    this.epochLogs.push(logs!);
  }
  onInterrupt(): void {
    this.events.push('interrupt');
  }
  onTrainEnd(): void {
    this.events.push('trainEnd');
  }
}

/** A callback that runs `f` after the given (epoch, batch). */
function atBatch(epoch: number, batch: number, f: (model: tfl.LayersModel) => void): FitCallback {
  let model: tfl.LayersModel;
  let current = -1;
  return {
    setModel: (m) => (model = m),
    onEpochBegin: (e) => void (current = e),
    onBatchEnd: (b) => {
      if (current === epoch && b === batch) f(model);
    },
  };
}

test('fit: events in Keras order, weights synced before epochEnd, sample-weighted epoch means under Keras names, params and model given first', async () => {
  await ready;
  const events: string[] = [];
  const trainer = new FakeTrainer(events, [0.875, 0.75]);
  const recorder = new Recorder(events);
  const result = await fit(trainer, { train: source([4, 2]), validation: source([3]), initialEpoch: 0, epochs: 2, callbacks: [recorder] });

  assert.deepEqual(events, [
    'trainBegin',
    'epochBegin 0',
    'batchBegin 0',
    'train 0.0',
    'batchEnd 0',
    'batchBegin 1',
    'train 0.1',
    'batchEnd 1',
    'evaluate 0',
    'sync',
    'epochEnd 0',
    'epochBegin 1',
    'batchBegin 0',
    'train 1.0',
    'batchEnd 0',
    'batchBegin 1',
    'train 1.1',
    'batchEnd 1',
    'evaluate 1',
    'sync',
    'epochEnd 1',
    'trainEnd',
  ]);
  assert.deepEqual(result, { epochsDone: 2, interrupted: false, stopped: false });
  // Epoch 1: losses 10 (4 samples) and 11 (2 samples).
  assert.deepEqual(recorder.epochLogs[1], { loss: (4 * 10 + 2 * 11) / 6, accuracy: 0.5, val_loss: 0.75, val_accuracy: 0.75 });
  assert.deepEqual(recorder.batchLogs[1], { loss: 1, accuracy: 0.5, batch: 1, size: 2 });
  assert.equal(recorder.model, trainer.layersModel, 'callbacks see the tfjs model');
  assert.equal(recorder.params?.epochs, 2);
  assert.equal(recorder.params?.steps, 2);
  assert.equal(recorder.params?.samples, 6);
});

test('fit: EarlyStopping (a callback setting stopTraining at an epoch end) stops after that epoch; set inside an epoch, the epoch is dropped', async () => {
  await ready;
  const drawn: number[] = [];
  const events: string[] = [];
  // val_loss improves once, then not: patience 2 stops at the end of epoch 3.
  const trainer = new FakeTrainer(events, [1, 0.5, 0.6, 0.7, 0.4, 0.3]);
  const recorder = new Recorder(events);
  const stopped = await fit(trainer, {
    train: source([2], drawn),
    validation: source([2]),
    initialEpoch: 0,
    epochs: 6,
    callbacks: [new EarlyStopping({ patience: 2 }), recorder],
  });
  assert.deepEqual(stopped, { epochsDone: 4, interrupted: false, stopped: true });
  assert.deepEqual(drawn, [0, 1, 2, 3], 'no batch of epoch 4 is drawn');
  assert.equal(events.filter((e) => e.startsWith('epochEnd')).length, 4);

  const inside: string[] = [];
  const second = new FakeTrainer(inside);
  const result = await fit(second, {
    train: source([2, 2, 2]),
    validation: source([2]),
    initialEpoch: 0,
    epochs: 3,
    callbacks: [atBatch(1, 0, (m) => (m.stopTraining = true)), new Recorder(inside)],
  });
  assert.deepEqual(result, { epochsDone: 1, interrupted: false, stopped: true });
  assert.ok(!inside.includes('train 1.1'), 'the rest of the epoch does not train');
  assert.ok(!inside.includes('evaluate 1') && !inside.includes('epochEnd 1'), 'a stopped epoch is not validated nor ended');
  assert.equal(inside.at(-1), 'trainEnd');
});

test('fit: the abort signal stops after the current batch, drops the epoch and fires onInterrupt before onTrainEnd; aborted before, nothing trains', async () => {
  await ready;
  const events: string[] = [];
  const controller = new AbortController();
  const result = await fit(new FakeTrainer(events), {
    train: source([2, 2, 2]),
    validation: source([2]),
    initialEpoch: 0,
    epochs: 3,
    callbacks: [atBatch(1, 1, () => controller.abort()), new Recorder(events)],
    signal: controller.signal,
  });
  assert.deepEqual(result, { epochsDone: 1, interrupted: true, stopped: false });
  assert.deepEqual(events.slice(-4), ['train 1.1', 'batchEnd 1', 'interrupt', 'trainEnd']);

  const before: string[] = [];
  const aborted = new AbortController();
  aborted.abort();
  const none = await fit(new FakeTrainer(before), {
    train: source([2]),
    validation: source([2]),
    initialEpoch: 0,
    epochs: 2,
    callbacks: [new Recorder(before)],
    signal: aborted.signal,
  });
  assert.deepEqual(none, { epochsDone: 0, interrupted: true, stopped: false });
  assert.deepEqual(before, ['trainBegin', 'interrupt', 'trainEnd']);
});

test('fit + BackupAndRestore: a resumed phase starts at its saved epoch with the saved weights and optimizer slots, and saves a state after every epoch', async () => {
  await ready;
  const events: string[] = [];
  const drawn: number[] = [];
  const trainer = new FakeTrainer(events);
  const saved: TrainState[] = [];
  const restore: TrainState = {
    epoch: 2,
    phase: 'head',
    weights: [
      { name: 'kernel', shape: [2, 1], dtype: 'float32', data: Float32Array.from([7, 8]) },
      { name: 'bias', shape: [1], dtype: 'float32', data: Float32Array.from([9]) },
    ],
    optimizer: [{ name: 'iter', shape: [], dtype: 'float32', data: Float32Array.from([40]) }],
  };
  const backup = new BackupAndRestore({ model: trainer, phase: 'head', restore, save: async (s) => void saved.push(s) });
  const recorder = new Recorder(events);
  const result = await fit(trainer, {
    train: source([2], drawn),
    validation: source([2]),
    initialEpoch: restore.epoch,
    epochs: 4,
    callbacks: [recorder, backup],
  });

  assert.deepEqual(result, { epochsDone: 4, interrupted: false, stopped: false });
  assert.deepEqual(drawn, [2, 3], 'epochs 0 and 1 are not trained again');
  assert.deepEqual(
    events.filter((e) => e.startsWith('epochBegin')),
    ['epochBegin 2', 'epochBegin 3'],
  );
  assert.equal(recorder.params?.initialEpoch, 2);
  assert.equal(trainer.kernelAtBatch[0], 7, 'the first batch trains from the restored weights');
  assert.deepEqual(Array.from(await trainer.optimizer.slots[0].tensor.data()), [40]);
  assert.deepEqual(
    saved.map((s) => [s.phase, s.epoch]),
    [
      ['head', 3],
      ['head', 4],
    ],
  );
  assert.deepEqual(Array.from(saved[0].weights[0].data), [7, 8]);

  // A state that does not fit is refused before anything runs, naming the option as the caller does.
  const wrong = { ...restore, weights: restore.weights.slice(0, 1) };
  assert.throws(
    () => new BackupAndRestore({ model: trainer, phase: 'head', restore: wrong, save: async () => {}, resumeOption: '--resume' }),
    (e: unknown) =>
      isUserError(e) &&
      /^--resume: the saved training state does not fit this model \(1 weights saved, 2 to train\)/.test((e as Error).message),
  );
});
