import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { EpochLogs } from '../run/history.js';
import type { BatchSource } from './batchSources.js';
import { kerasName } from './callbacks/logs.js';
import { isEngineTrainer, layersModelOf, type TrainableModel } from './trainable.js';

/** What the loop tells its callbacks before training (Keras's callback params). */
export type FitParams = {
  /** The epoch to stop before, counted over the whole run (earlier phases included). */
  epochs: number;
  initialEpoch: number;
  steps: number;
  samples: number;
  verbose: 0;
  doValidation: true;
  metrics: string[];
};

/** Batch logs: the batch's loss and metrics, its index and its number of samples. */
export type BatchLogs = EpochLogs & { batch: number; size: number };

/**
 * A callback of the loop: Keras's CallbackList events under tfjs's names, so that any
 * tfjs Callback is one, plus `onInterrupt`. A callback stops training the Keras way, by
 * setting `stopTraining` on the model it was given: inside an epoch (after a batch) the
 * epoch is dropped (no validation, no onEpochEnd); at an epoch's end, after that epoch.
 */
export interface FitCallback {
  setParams?(params: FitParams): void;
  setModel?(model: tfl.LayersModel): void;
  onTrainBegin?(logs?: EpochLogs): Promise<void> | void;
  onEpochBegin?(epoch: number, logs?: EpochLogs): Promise<void> | void;
  onBatchBegin?(batch: number, logs?: BatchLogs): Promise<void> | void;
  onBatchEnd?(batch: number, logs?: BatchLogs): Promise<void> | void;
  /** The epoch's training batches are done; the validation pass starts (Keras's on_test_begin). */
  onTestBegin?(): Promise<void> | void;
  /** A whole epoch: training means and val_* over the validation source. */
  onEpochEnd?(epoch: number, logs?: EpochLogs): Promise<void> | void;
  /** The abort signal stopped training (after the current batch); onTrainEnd follows. */
  onInterrupt?(): Promise<void> | void;
  /** However training ended; `logs` are the last whole epoch's, if one ran. */
  onTrainEnd?(logs?: EpochLogs): Promise<void> | void;
}

export interface FitArgs {
  train: BatchSource;
  validation: BatchSource;
  /** Train epochs initialEpoch .. epochs - 1 (absolute indexes, as Keras's initial_epoch). */
  initialEpoch: number;
  epochs: number;
  callbacks: FitCallback[];
  /** Aborting it stops training after the current batch (Ctrl-C). */
  signal?: AbortSignal;
}

export interface FitResult {
  /** Whole epochs done, counted from 0 over the run: the next epoch to run. */
  epochsDone: number;
  /** The abort signal stopped training. */
  interrupted: boolean;
  /** A callback stopped training (early stopping, divergence) before `epochs`. */
  stopped: boolean;
}

/**
 * The one training loop of tlkit (Keras's `fit`): batches and epochs, validation at
 * every epoch's end, and events to the callbacks in list order. It keeps no records and
 * writes no files: the run's records (checkpoint, history, log, resume state, meta,
 * curves, timings) are callbacks. A phase stopped inside an epoch drops that epoch, so
 * every record stays that of the last whole epoch.
 */
export async function fit(model: TrainableModel, args: FitArgs): Promise<FitResult> {
  const { callbacks, signal } = args;
  const layersModel = layersModelOf(model);
  const params: FitParams = {
    epochs: args.epochs,
    initialEpoch: args.initialEpoch,
    steps: args.train.size,
    samples: args.train.samples,
    verbose: 0,
    doValidation: true,
    metrics: ['loss', 'accuracy', 'val_loss', 'val_accuracy'],
  };
  for (const cb of callbacks) {
    cb.setModel?.(layersModel);
    cb.setParams?.(params);
  }
  const each = async (f: (cb: FitCallback) => Promise<void> | void) => {
    for (const cb of callbacks) await f(cb);
  };

  layersModel.stopTraining = false;
  let epochsDone = args.initialEpoch;
  let interrupted = false;
  let lastLogs: EpochLogs | undefined;
  await each((cb) => cb.onTrainBegin?.());
  for (let epoch = args.initialEpoch; epoch < args.epochs; epoch++) {
    if (signal?.aborted) {
      interrupted = true;
      break;
    }
    await each((cb) => cb.onEpochBegin?.(epoch));
    const sums: EpochLogs = {};
    let seen = 0;
    let batch = 0;
    for await (const { xs, ys } of args.train.batches(epoch)) {
      const size = xs.shape[0];
      await each((cb) => cb.onBatchBegin?.(batch, { batch, size }));
      let values: number[];
      try {
        const r = await model.trainOnBatch(xs, ys);
        values = Array.isArray(r) ? r : [r];
      } finally {
        tf.dispose([xs, ys]);
      }
      const logs = namedLogs(model, values);
      for (const [k, v] of Object.entries(logs)) sums[k] = (sums[k] ?? 0) + v * size;
      seen += size;
      await each((cb) => cb.onBatchEnd?.(batch, { ...logs, batch, size }));
      batch++;
      if (signal?.aborted) interrupted = true;
      if (layersModel.stopTraining || interrupted) break;
    }
    // Stopped inside the epoch: no validation, no onEpochEnd, no record of it.
    if (layersModel.stopTraining || interrupted) break;
    const logs: EpochLogs = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / Math.max(seen, 1)]));
    await each((cb) => cb.onTestBegin?.());
    const val = await evaluateOn(model, args.validation);
    for (const [k, v] of Object.entries(val)) logs[`val_${k}`] = v;
    if (isEngineTrainer(model)) await model.syncWeights();
    await each((cb) => cb.onEpochEnd?.(epoch, logs));
    epochsDone = epoch + 1;
    lastLogs = logs;
    if (signal?.aborted) interrupted = true;
    if (layersModel.stopTraining || interrupted) break;
  }
  if (interrupted) await each((cb) => cb.onInterrupt?.());
  await each((cb) => cb.onTrainEnd?.(lastLogs));
  return { epochsDone, interrupted, stopped: !interrupted && epochsDone < args.epochs };
}

/** trainOnBatch/evaluate values under Keras's names (loss, accuracy). */
function namedLogs(model: Pick<tfl.LayersModel, 'metricsNames'>, values: number[]): EpochLogs {
  const names =
    model.metricsNames.length === values.length ? model.metricsNames : ['loss', ...values.slice(1).map((_, i) => `metric_${i}`)];
  return Object.fromEntries(names.map((n, i) => [kerasName(n), values[i]]));
}

/** Loss and metrics over a whole source (sample-weighted means), inference mode. */
export async function evaluateOn(model: TrainableModel, source: BatchSource): Promise<EpochLogs> {
  const sums: EpochLogs = {};
  let n = 0;
  for await (const { xs, ys } of source.batches(0)) {
    const size = xs.shape[0];
    const args = { batchSize: size, verbose: 0 } as const;
    const r = isEngineTrainer(model) ? await model.evaluate(xs, ys, args) : model.evaluate(xs, ys, args);
    const scalars = Array.isArray(r) ? r : [r];
    const values = await Promise.all(scalars.map(async (s) => (await s.data())[0]));
    tf.dispose([xs, ys, ...scalars]);
    for (const [k, v] of Object.entries(namedLogs(model, values))) sums[k] = (sums[k] ?? 0) + v * size;
    n += size;
  }
  return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / Math.max(n, 1)]));
}
