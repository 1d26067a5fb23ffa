import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { cacheRoot } from '../weights/download.js';
import type { PreprocessMode } from '../applications/preprocess.js';
import type { HistoryData, TrainOptions, TrainResult } from './options.js';
import { buildHeadForTraining, compileHeadForTraining, headLabelMode, HEAD_LAYER_NAMES } from '../fit/head.js';
import { makeOptimizer } from '../fit/optimizer.js';
import { assembleFullModel } from '../fit/assembleModel.js';
import { encodeLabels, shuffledTensorDataset } from '../fit/featureDataset.js';
import { CSVLogger, ProgressLogger, HistoryRecorder, TerminateOnNaN, StopOnAbort, EarlyStopping } from '../fit/callbacks/index.js';
import { initBackend } from '../engine/backend.js';
import { registerWasmGradientKernels } from '../engine/gradients/index.js';
import { Rng } from '../io/rng.js';
import { extractFeatures, type ExtractResult, type ExtractedSplit } from '../features/extract.js';
import { readNpy } from '../io/npy.js';
import { loadConvBase } from './baseLoader.js';
import { MONITOR, runDirCallbacks } from '../fit/runCallbacks.js';
import { readHistory, readMeta, runPaths, writeHistoryAndPlots, writeMeta, type RunMeta } from '../run/runDir.js';

/** What the features workflow needs from a conv base (Engineer A's ConvBase satisfies it). */
export interface BaseLike {
  model: tfl.LayersModel;
  family: string;
  preprocessing: PreprocessMode;
  imageSize: [number, number];
  weightsHash?: string;
  source: string;
}

export interface FeatureSplit {
  features: Float32Array;
  labels: ArrayLike<number>;
  n: number;
}

/** Features of the frozen base per split, as extraction produced them. */
export interface FeatureSet {
  classNames: string[];
  /** Shape of one sample's features, e.g. [7, 7, 1024]. */
  featureShape: number[];
  train: FeatureSplit;
  validation: FeatureSplit;
}

export interface HeadTrainingInput {
  base: BaseLike;
  features: FeatureSet;
  opts: TrainOptions;
  /** Extra meta fields (timings of extraction, ...). */
  timings?: Record<string, number>;
  log?: (line: string) => void;
  /** Test hook: called after every training batch (tests use it to simulate Ctrl-C mid-epoch). */
  onBatchEndForTest?: () => void;
}


/**
 * The book's fast feature extraction, training part: train the head on cached
 * features with RMSprop, keeping the best epoch (val_loss) as a checkpoint of the
 * FULL model (preprocessing + base + head) in `<out>/model`. Writes meta.json first,
 * then history.json / log.csv every epoch, the plots at the end.
 */
export async function trainHeadOnFeatures(input: HeadTrainingInput): Promise<TrainResult> {
  const { base, features, opts } = input;
  const log = input.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const out = opts.out;
  const paths = runPaths(out);
  const numClasses = features.classNames.length;
  const timings: Record<string, number> = { ...(input.timings ?? {}) };

  let initialHistory: HistoryData | undefined;
  let previous: RunMeta | undefined;
  if (opts.resume) {
    ({ previous, initialHistory } = await readResumeState(out, features.classNames));
  } else if (existsSync(paths.meta)) {
    log(`note: ${out} already holds a run; replacing it (pass --resume to continue it instead).`);
    for (const f of [paths.history, paths.log, paths.report, path.join(out, 'evaluation.json')]) await fsp.rm(f, { force: true });
    await fsp.rm(paths.model, { recursive: true, force: true });
  }
  const initialEpoch = previous?.epochsDone ?? 0;

  const { head, logits: trainable } = buildHeadForTraining(features.featureShape, { numClasses, units: opts.headUnits, dropout: opts.dropout, pooling: opts.pooling, seed: opts.seed });
  if (previous && previous.bestEpoch >= 0) await copyHeadWeightsFromCheckpoint(paths.model, head);
  compileHeadForTraining(trainable, numClasses, makeOptimizer(opts.optimizer, opts.learningRate));

  const { signal: _signal, ...serializableOptions } = opts;
  const meta: RunMeta = {
    version: 1,
    tool: 'tlkit',
    classes: features.classNames,
    labelMode: headLabelMode(numClasses),
    preprocessing: base.preprocessing,
    imageSize: base.imageSize,
    base: opts.base,
    baseFamily: base.family,
    baseSource: base.source,
    weightsHash: base.weightsHash,
    mode: 'features',
    bestEpoch: previous?.bestEpoch ?? -1,
    bestValLoss: previous?.bestValLoss ?? null,
    epochsDone: initialEpoch,
    finished: false,
    options: serializableOptions,
    timings,
    createdAt: previous?.createdAt ?? new Date().toISOString(),
    updatedAt: '',
  };
  await writeMeta(out, meta);

  const x = tf.tensor(features.train.features, [features.train.n, ...features.featureShape]);
  const y = encodeLabels(features.train.labels, numClasses);
  const vx = tf.tensor(features.validation.features, [features.validation.n, ...features.featureShape]);
  const vy = encodeLabels(features.validation.labels, numClasses);

  const abort = opts.signal ?? new AbortController().signal;
  const stopper = new StopOnAbort(abort);
  const nanGuard = new TerminateOnNaN();
  const history = new HistoryRecorder({ file: paths.history, initial: initialHistory });
  const { checkpoint, epochCounter } = runDirCallbacks(
    out,
    meta,
    async (dir) => {
      const full = await assembleFullModel({ preprocessing: base.preprocessing, base: base.model, head });
      try {
        await full.save(fileSystemIO(dir));
      } finally {
        full.dispose();
      }
    },
    { initialBest: previous?.bestValLoss ?? undefined, initialBestEpoch: previous?.bestEpoch },
  );
  const callbacks: tfl.CustomCallback[] | unknown[] = [
    stopper,
    nanGuard,
    ...(opts.verbose ? [new ProgressLogger({ epochs: opts.epochs })] : []),
    checkpoint,
    history,
    new CSVLogger({ file: paths.log, append: Boolean(previous) }),
    ...(opts.earlyStoppingPatience > 0 ? [new EarlyStopping({ monitor: MONITOR, patience: opts.earlyStoppingPatience })] : []),
    epochCounter,
  ];
  if (input.onBatchEndForTest) callbacks.unshift(new tfl.CustomCallback({ onBatchEnd: input.onBatchEndForTest }));

  const t0 = performance.now();
  try {
    if (initialEpoch < opts.epochs) {
      await trainable.fitDataset(shuffledTensorDataset(x, y, opts.batchSize, opts.seed + initialEpoch), {
        epochs: opts.epochs,
        initialEpoch,
        validationData: [vx, vy],
        validationBatchSize: opts.batchSize,
        verbose: 0,
        callbacks: callbacks as tfl.CustomCallback[],
      });
    } else {
      log(`${out} already has ${initialEpoch} of ${opts.epochs} epochs; nothing to train (raise --epochs to train more).`);
    }
  } finally {
    tf.dispose([x, y, vx, vy]);
  }
  timings.trainSeconds = (timings.trainSeconds ?? 0) + (performance.now() - t0) / 1000;

  const interrupted = stopper.interrupted;
  const stoppedEarly = !interrupted && !nanGuard.message && meta.epochsDone < opts.epochs;
  meta.finished = !interrupted && !nanGuard.message;
  meta.interrupted = interrupted;
  meta.timings = timings;
  await writeMeta(out, meta);
  if (history.data.epoch.length > 0) await writeHistoryAndPlots(out, history.data);
  head.dispose();

  if (nanGuard.message) {
    throw new UserError(`${nanGuard.message} ${meta.bestEpoch >= 0 ? `The best checkpoint so far (epoch ${meta.bestEpoch + 1}) is in ${paths.model}.` : 'No checkpoint was saved.'}`);
  }
  return { runDir: out, bestEpoch: meta.bestEpoch, bestValue: meta.bestValLoss ?? NaN, history: history.data, interrupted, stoppedEarly, timings };
}

async function readResumeState(out: string, classNames: string[]): Promise<{ previous?: RunMeta; initialHistory?: HistoryData }> {
  if (!existsSync(runPaths(out).meta)) {
    throw new UserError(`--resume: ${out} holds no run to continue (no meta.json). Drop --resume to start a new run there.`);
  }
  const previous = await readMeta(out);
  if (previous.mode !== 'features') {
    throw new UserError(`--resume: ${out} is a ${previous.mode}-mode run; resume it with --mode ${previous.mode}.`);
  }
  if (previous.classes.join('\n') !== classNames.join('\n')) {
    throw new UserError(`--resume: ${out} was trained on classes [${previous.classes.join(', ')}] but the data now has [${classNames.join(', ')}]. Use the same --data, or drop --resume.`);
  }
  const initialHistory = (await readHistory(out)) ?? undefined;
  // Epochs after the last checkpoint are replayed from it: keep history and log consistent with the weights.
  return { previous, initialHistory };
}

/** Load the head's weights out of a saved full model (layers named head_*). */
async function copyHeadWeightsFromCheckpoint(modelDir: string, head: tfl.LayersModel): Promise<void> {
  const full = await tfl.loadLayersModel(fileSystemIO(modelDir));
  for (const name of [HEAD_LAYER_NAMES.hidden, HEAD_LAYER_NAMES.output]) {
    const src = full.layers.find((l) => l.name === name);
    const dst = head.layers.find((l) => l.name === name);
    if (src && dst) dst.setWeights(src.getWeights());
  }
  full.dispose();
}

/**
 * `tlkit train --mode features`: load the base, extract (cached) features of every
 * split on ONNX Runtime, then train the head on them (trainHeadOnFeatures).
 */
export async function trainFeatures(opts: TrainOptions): Promise<TrainResult> {
  const log = (l: string) => process.stderr.write(`${l}\n`);
  await initBackend();
  registerWasmGradientKernels();
  const imageSize: [number, number] | undefined = opts.imageSize ? [opts.imageSize, opts.imageSize] : undefined;
  const base = await loadConvBase({ base: opts.base, weights: opts.weights, imageSize });
  const cacheDir = opts.cacheDir ?? defaultFeatureCache();
  if (opts.verbose) log(`Extracting features with ${base.source} at ${base.imageSize[0]}x${base.imageSize[1]} (cache: ${cacheDir})`);
  const t0 = performance.now();
  let lastPrint = 0;
  const extracted = await extractFeatures({
    base,
    data: opts.data,
    out: cacheDir,
    skipBadImages: opts.skipBadImages,
    onProgress: opts.verbose
      ? (p) => {
          const now = performance.now();
          if (now - lastPrint < 1000 && p.doneAll < p.totalAll) return;
          lastPrint = now;
          const line = `  ${p.split}: ${p.done}/${p.total} images, ${p.imagesPerSecond.toFixed(1)} images/s, ETA ${Math.round(p.etaSeconds)}s`;
          process.stderr.write(process.stderr.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
        }
      : undefined,
  });
  if (opts.verbose && process.stderr.isTTY && !extracted.cacheHit) process.stderr.write('\n');
  const extractSeconds = (performance.now() - t0) / 1000;
  if (opts.verbose) {
    log(extracted.cacheHit ? 'Features: cache hit.' : `Features: ${extracted.imagesExtracted} images in ${extractSeconds.toFixed(1)}s (${(extracted.imagesExtracted / Math.max(extracted.inferenceSeconds, 1e-9)).toFixed(1)} images/s on ONNX Runtime).`);
  }
  const features = await loadFeatureSet(extracted, opts);
  return trainHeadOnFeatures({
    base,
    features,
    opts,
    log,
    timings: {
      extractSeconds,
      extractInferenceSeconds: extracted.inferenceSeconds,
      imagesExtracted: extracted.imagesExtracted,
      extractImagesPerSecond: extracted.imagesExtracted > 0 ? extracted.imagesExtracted / Math.max(extracted.inferenceSeconds, 1e-9) : 0,
    },
  });
}

/** `<tlkit cache>/features` ($TLKIT_CACHE, else $XDG_CACHE_HOME/tlkit, else ~/.cache/tlkit). */
export function defaultFeatureCache(): string {
  return path.join(cacheRoot(), 'features');
}

async function readSplit(split: ExtractedSplit): Promise<FeatureSplit> {
  const f = await readNpy(split.features);
  const l = await readNpy(split.labels);
  return { features: f.data as Float32Array, labels: l.data as ArrayLike<number>, n: split.count };
}

/** Train and validation features; without a validation/ folder, a seeded split of train (Keras validation_split). */
async function loadFeatureSet(extracted: ExtractResult, opts: TrainOptions): Promise<FeatureSet> {
  const train = extracted.splits.find((s) => s.split === 'train');
  if (!train) throw new UserError(`${opts.data} has no training images (expected a train/ folder or class folders).`);
  const featureShape = train.featureShape;
  const trainSplit = await readSplit(train);
  const val = extracted.splits.find((s) => s.split === 'validation');
  if (val) return { classNames: extracted.classNames, featureShape, train: trainSplit, validation: await readSplit(val) };
  if (!opts.validationSplit) {
    throw new UserError(`${opts.data} has no validation/ folder. Add one (with the same class folders as train/), or pass --validation-split 0.2 to hold out part of train.`);
  }
  return { classNames: extracted.classNames, featureShape, ...splitFeatures(trainSplit, featureShape, opts.validationSplit, opts.seed) };
}

/** Hold out the last `fraction` of a seeded permutation, as Keras's validation_split does after shuffling. */
export function splitFeatures(all: FeatureSplit, featureShape: number[], fraction: number, seed: number): { train: FeatureSplit; validation: FeatureSplit } {
  const per = featureShape.reduce((a, b) => a * b, 1);
  const order = new Rng(seed).shuffle(Int32Array.from({ length: all.n }, (_, i) => i));
  const nVal = Math.max(1, Math.round(all.n * fraction));
  const take = (idx: Int32Array): FeatureSplit => {
    const features = new Float32Array(idx.length * per);
    const labels = new Int32Array(idx.length);
    idx.forEach((src, i) => {
      features.set(all.features.subarray(src * per, (src + 1) * per), i * per);
      labels[i] = all.labels[src];
    });
    return { features, labels, n: idx.length };
  };
  return { train: take(order.subarray(0, all.n - nVal)), validation: take(order.subarray(all.n - nVal)) };
}
