import { existsSync, promises as fsp } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import type { HistoryData, TrainMode, TrainOptions, TrainResult } from '../workflows/options.js';
import { headLabelMode } from './head.js';
import { CSVLogger, EarlyStopping, HistoryRecorder, ProgressLogger, StopOnAbort } from './callbacks/index.js';
import { MONITOR, runDirCallbacks } from './runCallbacks.js';
import { DivergenceGuard } from './callbacks/divergenceGuard.js';
import { runPaths, writeHistoryAndPlots, writeMeta, type RunMeta } from '../run/runDir.js';
import type { BaseLike } from '../workflows/features.js';

/** What tfjs-layers' fitDataset reads: a number of batches and a fresh iterator per epoch. */
export interface BatchSource {
  size: number;
  iterator(): Promise<{ next(): Promise<IteratorResult<{ xs: tf.Tensor; ys: tf.Tensor }>> }>;
}

export interface FitRunInput {
  opts: TrainOptions;
  mode: TrainMode;
  base: BaseLike;
  classNames: string[];
  /** The compiled model that trains (head alone, or base suffix + head). */
  model: tfl.LayersModel;
  train: BatchSource;
  /** Validation batches (evaluated after every epoch), or tensors. */
  validation: BatchSource | [tf.Tensor, tf.Tensor];
  /** Training images per epoch, for the images/s figure in the timings. */
  imagesPerEpoch?: number;
  /** True when this run dir was written by a first phase of the same run (keep its files). */
  continuing?: boolean;
  /** When continuing: the first phase's checkpoint already in the run dir (kept until this phase saves one). */
  keptCheckpoint?: { epoch: number; valLoss: number | null };
  /** Writes the full model (RGB in: preprocess + base + head) into a folder; the checkpoint calls it. */
  saveFull: (dir: string) => Promise<void>;
  /** Epochs already in the run (a first phase); fit continues from there. */
  initialEpoch?: number;
  initialHistory?: HistoryData;
  /** 0-based epoch at which fine-tuning starts: the plots mark it. */
  fineTuneStartEpoch?: number;
  /** Extra fields for meta.json (cut layer, unfrozen layers, augmentation, ...). */
  extraMeta?: Record<string, unknown>;
  timings: Record<string, number>;
  log: (line: string) => void;
}


/**
 * One training phase with the run-dir conventions of features mode: meta.json
 * first, then history.json / log.csv every epoch, the best epoch (val_loss)
 * saved as the full model, plots at the end. A NaN or infinite loss stops the
 * phase; the checkpoint on disk is the last good one and the error says so.
 */
export async function fitRun(input: FitRunInput): Promise<TrainResult> {
  const { opts, model, timings, log } = input;
  const out = opts.out;
  const paths = runPaths(out);
  const initialEpoch = input.initialEpoch ?? 0;
  if (!input.continuing && existsSync(paths.meta)) {
    log(`note: ${out} already holds a run; replacing it.`);
    for (const f of [paths.history, paths.log]) await fsp.rm(f, { force: true });
    await fsp.rm(paths.model, { recursive: true, force: true });
  }

  const { signal: _signal, ...serializableOptions } = opts;
  const meta: RunMeta & Record<string, unknown> = {
    version: 1,
    tool: 'tlkit',
    classes: input.classNames,
    labelMode: headLabelMode(input.classNames.length),
    preprocessing: input.base.preprocessing,
    imageSize: input.base.imageSize,
    base: opts.base,
    baseFamily: input.base.family,
    baseSource: input.base.source,
    weightsHash: input.base.weightsHash,
    mode: input.mode,
    bestEpoch: input.keptCheckpoint?.epoch ?? -1,
    bestValLoss: input.keptCheckpoint?.valLoss ?? null,
    epochsDone: initialEpoch,
    finished: false,
    options: serializableOptions,
    timings,
    createdAt: new Date().toISOString(),
    updatedAt: '',
    ...(input.fineTuneStartEpoch !== undefined ? { fineTuneStartEpoch: input.fineTuneStartEpoch } : {}),
    ...input.extraMeta,
  };
  await writeMeta(out, meta);

  const initialHistory = input.initialHistory
    ? { ...input.initialHistory, fineTuneStartEpoch: input.fineTuneStartEpoch ?? input.initialHistory.fineTuneStartEpoch }
    : input.fineTuneStartEpoch !== undefined
      ? { epoch: [], history: {}, fineTuneStartEpoch: input.fineTuneStartEpoch }
      : undefined;
  const abort = opts.signal ?? new AbortController().signal;
  const stopper = new StopOnAbort(abort);
  const nanGuard = new DivergenceGuard();
  const history = new HistoryRecorder({ file: paths.history, initial: initialHistory });
  const { checkpoint, epochCounter } = runDirCallbacks(out, meta, input.saveFull);
  const totalEpochs = initialEpoch + opts.epochs;
  const callbacks = [
    stopper,
    nanGuard,
    ...(opts.verbose ? [new ProgressLogger({ epochs: totalEpochs })] : []),
    checkpoint,
    history,
    new CSVLogger({ file: paths.log, append: initialEpoch > 0 }),
    ...(opts.earlyStoppingPatience > 0 ? [new EarlyStopping({ monitor: MONITOR, patience: opts.earlyStoppingPatience })] : []),
    epochCounter,
  ];

  const t0 = performance.now();
  type FitDatasetArgs = Parameters<tfl.LayersModel['fitDataset']>;
  await model.fitDataset(input.train as unknown as FitDatasetArgs[0], {
    epochs: totalEpochs,
    initialEpoch,
    validationData: input.validation as unknown as FitDatasetArgs[1]['validationData'],
    validationBatchSize: opts.batchSize,
    verbose: 0,
    callbacks: callbacks as unknown as tfl.CustomCallback[],
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  timings[`${input.mode}TrainSeconds`] = trainSeconds;
  timings.trainSeconds = trainSeconds;
  const epochsRun = history.data.epoch.length - (initialHistory?.epoch.length ?? 0);
  if (input.imagesPerEpoch && epochsRun > 0) {
    // Wall time of whole epochs, validation included: what a user waits for.
    timings[`${input.mode}ImagesPerSecond`] = (input.imagesPerEpoch * epochsRun) / trainSeconds;
  }

  const interrupted = stopper.interrupted;
  const stoppedEarly = !interrupted && !nanGuard.message && meta.epochsDone < totalEpochs;
  meta.finished = !interrupted && !nanGuard.message;
  meta.interrupted = interrupted;
  meta.timings = timings;
  await writeMeta(out, meta);
  if (history.data.epoch.length > 0) await writeHistoryAndPlots(out, history.data);

  if (nanGuard.message) {
    throw new UserError(
      `${nanGuard.message} ${meta.bestEpoch >= 0 ? `The last good checkpoint (epoch ${meta.bestEpoch + 1}) is kept in ${paths.model}.` : 'No checkpoint was saved before that.'}`,
    );
  }
  return { runDir: out, bestEpoch: meta.bestEpoch, bestValue: meta.bestValLoss ?? NaN, history: history.data, interrupted, stoppedEarly, timings };
}
