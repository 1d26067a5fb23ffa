import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hashWeights, loadBase, type ConvBase } from '../applications/loadBase.js';
import { runPaths } from '../run/paths.js';
import { imageDatasetFromDirectory, type ImageDataset } from '../data/imageDataset.js';
import type { DataDir } from '../data/splits.js';
import type { AugmentationParams } from '../augment/params.js';
import { isOnnxBasePath, parsePreprocess } from '../ort/onnxBase.js';
import { NotTrainableOnOrt, OrtTrainer } from '../ortTraining/ortTrainer.js';
import { extractFeatures, type ExtractProgress } from '../features/extract.js';
import { featureKeyParts, isOnnxFeatureBase, loadOnnxFeatureBase, openFrozenRunner, type FeatureBase, type FrozenRunner, type OnnxFeatureBase } from '../features/frozenBase.js';
import { OrtModel } from '../ort/ortRunner.js';
import type { CalibrationRecord } from '../ort/int8.js';
import { frozenGraph } from '../features/calibration.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { augmentedBatches, type BatchSource } from '../fit/batchSources.js';
import { holdOutValidation, readFeatureSplit, type FeatureSplit } from '../features/splits.js';
import { assembleFullModel, standardHeadModel } from '../fit/assembleModel.js';
import { FitLoop } from '../fit/fitLoop.js';
import { headLabelMode, type HeadOptions } from '../fit/head.js';
import { emptyHistory, type HistoryData } from '../run/history.js';
import { META_VERSION, type HeadSpec, type RunMeta, type TrainMode } from '../run/meta.js';
import type { RunWriter } from '../run/runFolder.js';
import type { TrainState } from '../run/trainState.js';
import { cacheRoot } from '../weights/download.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import type { TrainOptions } from './options.js';

/** What every workflow gets from train(): checked options, the data folder, the open run folder. */
export interface WorkflowContext {
  opts: TrainOptions;
  data: DataDir;
  run: RunWriter;
  /** When resuming: the run's meta and history as they were, and the saved training state. */
  resumed?: { meta: RunMeta; history: HistoryData; state?: TrainState };
  timings: Record<string, number>;
  log: (line: string) => void;
  /** The caller's own tfjs callbacks, run in every training phase. */
  callbacks?: tfl.Callback[];
  /** The ONNX base (--base model.onnx), loaded and checked by train() before the run folder opens. */
  onnxBase?: OnnxFeatureBase;
}

export interface WorkflowResult {
  loop: FitLoop;
  interrupted: boolean;
  stoppedEarly: boolean;
}

/** `<tlkit cache>/features` ($TLKIT_CACHE, else $XDG_CACHE_HOME/tlkit, else ~/.cache/tlkit). */
export function defaultFeatureCache(): string {
  return path.join(cacheRoot(), 'features');
}

export function featureCacheDir(opts: TrainOptions): string {
  return opts.cacheDir ?? defaultFeatureCache();
}

/** `<base family>-<16 hex>`: a hash of the data folder and of what the features depend on in the base. */
export function cacheFolderName(dataRoot: string, base: FeatureBase): string {
  const k = featureKeyParts(base);
  const parts = [path.resolve(dataRoot), k.weightsHash, base.imageSize, k.preprocessing, ...(k.cutLayer ? [k.cutLayer] : [])];
  const h = createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  return `${base.family}-${h.slice(0, 16)}`;
}

/**
 * The ONNX base the options name (--base model.onnx, --preprocess, --up-to, --image-size
 * or the size of the run being resumed, `runSize`): read, hashed and checked once, before
 * the run folder is touched.
 */
export function onnxBaseOfOptions(opts: TrainOptions, runSize?: [number, number]): OnnxFeatureBase {
  if (opts.precision === 'int8') {
    throw new UserError(`--precision int8 quantizes tlkit's own bases (the Keras families); --base ${opts.base} is an ONNX file, which runs at fp32. Drop --precision int8.`);
  }
  const size: [number, number] | undefined = opts.imageSize !== undefined ? [opts.imageSize, opts.imageSize] : runSize;
  return loadOnnxFeatureBase(opts.base, { preprocess: parsePreprocess(opts.preprocess ?? 'none'), upTo: opts.upTo, imageSize: size });
}

/**
 * The base of a features or augment run: an ONNX file (--base model.onnx; a resumed run
 * must find the same file), or a tfjs base (loadRunBase).
 */
export async function loadFeatureBase(ctx: WorkflowContext): Promise<FeatureBase> {
  const { opts } = ctx;
  if (!isOnnxBasePath(opts.base)) return loadRunBase(ctx);
  const base = ctx.onnxBase ?? onnxBaseOfOptions(opts, ctx.resumed?.meta.imageSize);
  const recorded = ctx.resumed?.meta.onnxBase;
  if (recorded && recorded.sha256 !== base.weightsHash) {
    throw new UserError(`--resume: ${opts.out} was trained on ${recorded.file} with sha256 ${recorded.sha256}, but ${opts.base} now has sha256 ${base.weightsHash}. Resume with the original file, or train anew in another out folder.`);
  }
  if (opts.verbose && opts.preprocess === undefined) {
    ctx.log(`No --preprocess given: ${opts.base} gets RGB 0..255 pixels as they are ('none'). Pass the preprocessing it was trained with (e.g. --preprocess torch for torchvision/timm ImageNet models).`);
  }
  return base;
}

/** The run's conv base at the requested image size (or the size of the run it resumes or fine-tunes, `runSize`). */
export async function loadRunBase(ctx: WorkflowContext, runSize?: [number, number]): Promise<ConvBase> {
  const size = ctx.opts.imageSize;
  let sized = await loadBase({ base: ctx.opts.base, weights: ctx.opts.weights, imageSize: size ? [size, size] : undefined });
  // A resumed or fine-tuned run keeps the size it was trained at.
  const wanted = size ? undefined : (runSize ?? ctx.resumed?.meta.imageSize);
  if (wanted && sized.imageSize.join('x') !== wanted.join('x')) {
    sized.model.dispose();
    sized = await loadBase({ base: ctx.opts.base, weights: ctx.opts.weights, imageSize: wanted });
  }
  if (!ctx.resumed) return sized;
  // ... and the base weights its checkpoint holds.
  const checkpoint = runPaths(ctx.run.dir).model;
  if (existsSync(path.join(checkpoint, 'model.json'))) {
    const saved = await tfl.loadLayersModel(fileSystemIO(checkpoint));
    copyWeightsByName(saved, sized.model);
    saved.dispose();
    sized.weightsHash = hashWeights(sized.model);
  }
  return sized;
}

/** Copy weights layer by layer (same names) from one model into another (a saved full model into a base, a base into a full model). */
export function copyWeightsByName(from: tfl.LayersModel, target: tfl.LayersModel): void {
  for (const layer of target.layers) {
    if (layer.weights.length === 0) continue;
    const src = from.layers.find((l) => l.name === layer.name);
    if (src) layer.setWeights(src.getWeights());
  }
}

export function headSpec(opts: TrainOptions): HeadSpec {
  return { units: opts.headUnits, activation: opts.headActivation, dropout: opts.dropout, pooling: opts.pooling };
}

/** buildHeadForTraining's options for a head spec. */
export function headOptions(head: HeadSpec, numClasses: number, seed: number): HeadOptions {
  return { numClasses, units: head.units, activation: head.activation, dropout: head.dropout, pooling: head.pooling, seed };
}

/** The options as meta.json records them (the abort signal is no data). */
export function recordedOptions(opts: TrainOptions): Record<string, unknown> {
  const { signal: _signal, ...options } = opts;
  return options;
}

/** meta.json of a new run, or the resumed run's own. */
export function runMeta(ctx: WorkflowContext, base: FeatureBase, mode: TrainMode, head: HeadSpec): RunMeta {
  const options = recordedOptions(ctx.opts);
  if (ctx.resumed) return { ...ctx.resumed.meta, options, timings: ctx.timings };
  return {
    version: META_VERSION,
    tool: 'tlkit',
    classes: ctx.data.classNames,
    labelMode: headLabelMode(ctx.data.classNames.length),
    preprocessing: base.preprocessing,
    imageSize: base.imageSize,
    base: ctx.opts.base,
    baseFamily: base.family,
    baseSource: base.source,
    weightsHash: base.weightsHash,
    ...(isOnnxFeatureBase(base) ? { onnxBase: onnxBaseRecord(base) } : {}),
    data: path.resolve(ctx.opts.data),
    mode,
    head,
    bestEpoch: -1,
    bestValLoss: null,
    epochsDone: 0,
    finished: false,
    precision: ctx.opts.precision,
    options,
    timings: ctx.timings,
    createdAt: new Date().toISOString(),
    updatedAt: '',
  };
}

/** What meta.json records of an ONNX base: inference finds, checks and runs it again from this. */
function onnxBaseRecord(base: OnnxFeatureBase): NonNullable<RunMeta['onnxBase']> {
  const { file, sha256, inputName, outputName, upTo, layout, batch, preprocess } = base.onnx.info;
  return { file: path.resolve(file), sha256, inputName, outputName, upTo, layout, batch, preprocess };
}

/** Writes the checkpoint (the run's model/). */
export interface FullModelSaver {
  save(dir: string): Promise<void>;
  dispose(): void;
}

/**
 * The checkpoint writer of one training phase: preprocess + base + head as one standard
 * tfjs model, or the head alone when the base is an ONNX file (meta.json's onnxBase). The
 * full model is assembled once (for VGG16 a quarter of a second: a whole model built from
 * its JSON); each later save copies in the weights that train: the head's, and those of
 * `trainedBase` (fine-tuning's unfrozen layers; the rest of the base never changes).
 */
export function fullModelSaver(base: FeatureBase, head: tfl.LayersModel, trainedBase?: tfl.LayersModel): FullModelSaver {
  let full: tfl.LayersModel | undefined;
  return {
    async save(dir) {
      if (!full) full = isOnnxFeatureBase(base) ? await standardHeadModel(head) : await assembleFullModel({ preprocessing: base.preprocessing, base: base.model, head });
      else {
        if (trainedBase) copyWeightsByName(trainedBase, full);
        copyWeightsByName(head, full);
      }
      await full.save(fileSystemIO(dir));
    },
    dispose() {
      full?.dispose();
      full = undefined;
    },
  };
}

function progressPrinter(ctx: WorkflowContext): ((p: ExtractProgress) => void) | undefined {
  if (!ctx.opts.verbose) return undefined;
  let lastPrint = 0;
  return (p) => {
    const now = performance.now();
    if (now - lastPrint < 1000 && p.doneAll < p.totalAll) return;
    lastPrint = now;
    const line = `  ${p.split}: ${p.done}/${p.total} images, ${p.imagesPerSecond.toFixed(1)} images/s, ETA ${Math.round(p.etaSeconds)}s`;
    process.stderr.write(process.stderr.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
  };
}

/** The feature cache folder of the run's base (cut at `upTo`) and precision; int8 features (and their calibration) live in int8/ under it. */
function featureFolder(ctx: WorkflowContext, base: FeatureBase, upTo?: string): string {
  const root = ctx.opts.cacheDir ?? path.join(defaultFeatureCache(), cacheFolderName(ctx.data.root, base));
  const cut = upTo ? path.join(root, `cut-${upTo}`) : root;
  return ctx.opts.precision === 'int8' ? path.join(cut, 'int8') : cut;
}

/** The run keeps the calibration of its frozen graph: evaluate and predict quantize the saved model with it. */
async function saveCalibration(ctx: WorkflowContext, record: CalibrationRecord): Promise<void> {
  await writeFileAtomic(runPaths(ctx.run.dir).int8Calibration, `${JSON.stringify(record)}\n`);
}

/**
 * Features of some splits at the base's output (or at a cut layer), extracted once on
 * ONNX Runtime and cached on disk, loaded into JS memory. Without a validation/ folder,
 * validation is held out of train (Keras validation_split) when the options allow it.
 */
export async function cachedFeatures(
  ctx: WorkflowContext,
  base: FeatureBase,
  splits: Array<'train' | 'validation'>,
  upTo?: string,
): Promise<{ train?: FeatureSplit; validation: FeatureSplit }> {
  // The default cache holds one folder per data folder and base, so that runs on other
  // data or bases neither evict nor lock each other's features.
  const out = featureFolder(ctx, base, upTo);
  const hasValidation = Boolean(ctx.data.splits.validation);
  const wanted = hasValidation ? splits : ['train'];
  const t0 = performance.now();
  if (ctx.opts.verbose) ctx.log(`Features with ${base.source} at ${base.imageSize.join('x')}${upTo ? ` up to ${upTo}` : ''} (cache: ${out})`);
  const extracted = await extractFeatures({
    base,
    data: ctx.opts.data,
    out,
    splits: wanted,
    skipBadImages: ctx.opts.skipBadImages,
    upTo,
    precision: ctx.opts.precision,
    log: ctx.log,
    onProgress: progressPrinter(ctx),
  });
  if (extracted.calibration) await saveCalibration(ctx, extracted.calibration);
  if (ctx.opts.verbose && process.stderr.isTTY && !extracted.cacheHit) process.stderr.write('\n');
  const seconds = (performance.now() - t0) / 1000;
  const key = upTo ? 'prefixFeatures' : 'extract';
  ctx.timings[`${key}Seconds`] = (ctx.timings[`${key}Seconds`] ?? 0) + seconds;
  if (extracted.imagesExtracted > 0) {
    ctx.timings[`${key}ImagesPerSecond`] = extracted.imagesExtracted / Math.max(extracted.inferenceSeconds, 1e-9);
  }
  if (ctx.opts.verbose) {
    ctx.log(
      extracted.cacheHit
        ? 'Features: cache hit.'
        : `Features: ${extracted.imagesExtracted} images in ${seconds.toFixed(1)}s (${(extracted.imagesExtracted / Math.max(extracted.inferenceSeconds, 1e-9)).toFixed(1)} images/s on ONNX Runtime).`,
    );
  }
  const loaded: Record<string, FeatureSplit> = {};
  for (const s of extracted.splits) loaded[s.split] = await readFeatureSplit(s.features, s.labels);
  if (hasValidation) return { train: loaded.train, validation: loaded.validation };
  if (!ctx.opts.validationSplit) throw new Error('train() lets no run without validation data through');
  const held = holdOutValidation(loaded.train, ctx.opts.validationSplit, ctx.opts.seed);
  return { train: splits.includes('train') ? held.train : undefined, validation: held.validation };
}

/** The training images of the data folder, shuffled per epoch with the run's seed. */
export async function trainingImages(ctx: WorkflowContext, imageSize: [number, number]): Promise<ImageDataset> {
  const train = ctx.data.splits.train;
  if (!train) throw new UserError(`${ctx.opts.data} has no training images (expected a train/ folder or class folders).`);
  return (await imageDatasetFromDirectory(train, {
    labelMode: 'int',
    classNames: ctx.data.classNames,
    batchSize: ctx.opts.batchSize,
    imageSize,
    shuffle: true,
    seed: ctx.opts.seed,
    skipBadImages: ctx.opts.skipBadImages,
    prefetch: 2,
  })) as ImageDataset;
}

/** The fit loop of a workflow's run folder, continuing the resumed run's history when there is one. */
export function newFitLoop(ctx: WorkflowContext, meta: RunMeta, history = ctx.resumed?.history ?? emptyHistory()): FitLoop {
  return new FitLoop(ctx.run, meta, history, {
    signal: ctx.opts.signal,
    verbose: ctx.opts.verbose === 1,
    earlyStoppingPatience: ctx.opts.earlyStoppingPatience,
    log: ctx.log,
    callbacks: ctx.callbacks,
  });
}

/**
 * Augmented training batches: images decoded and augmented every epoch, then pushed
 * through the frozen base (or the frozen prefix up to `upTo`) on ONNX Runtime. The
 * caller disposes `frozen`. ONNX Runtime's seconds add up in timings[timingKey].
 */
export async function augmentedTraining(
  ctx: WorkflowContext,
  base: FeatureBase,
  augmentation: AugmentationParams,
  timingKey: string,
  upTo?: string,
): Promise<{ train: BatchSource; frozen: FrozenRunner }> {
  const images = await trainingImages(ctx, base.imageSize);
  let frozen: FrozenRunner;
  if (isOnnxFeatureBase(base)) frozen = await openFrozenRunner(base, base.imageSize, { upTo });
  else {
    const graph = await frozenGraph({
      base,
      imageSize: base.imageSize,
      upTo,
      precision: ctx.opts.precision,
      dataDir: ctx.data,
      skipBadImages: ctx.opts.skipBadImages,
      cacheDir: featureFolder(ctx, base, upTo),
      log: ctx.log,
    });
    if (graph.calibration) await saveCalibration(ctx, graph.calibration);
    frozen = await OrtModel.create(graph.bytes);
  }
  ctx.timings[timingKey] = 0;
  const train = augmentedBatches({
    dataset: images,
    frozen,
    augmentation,
    numClasses: ctx.data.classNames.length,
    seed: ctx.opts.seed,
    onFrozenSeconds: (s) => {
      ctx.timings[timingKey] += s;
    },
  });
  return { train, frozen };
}

/**
 * The trainer of a compiled logits model on ONNX Runtime (`--engine ort`, the default), or
 * undefined when tfjs trains it: `--engine tfjs`, or a model the generated graphs cannot
 * express (said once, naming what is missing, e.g. "The head trains on tfjs instead.").
 */
export async function engineTrainer(ctx: WorkflowContext, logits: tfl.LayersModel, what: string): Promise<OrtTrainer | undefined> {
  if (ctx.opts.engine !== 'ort') return undefined;
  try {
    return await OrtTrainer.create(logits);
  } catch (e) {
    if (!(e instanceof NotTrainableOnOrt)) throw e;
    ctx.log(`${e.message} ${what} trains on tfjs instead.`);
    return undefined;
  }
}
