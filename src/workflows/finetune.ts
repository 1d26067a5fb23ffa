import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { hashWeights } from '../applications/loadBase.js';
import { exportToOnnx } from '../engine/onnx/export.js';
import { OrtModel } from '../engine/ortRunner.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { cachedSplits, log, startImageTraining, saveFullModel, trainingImages } from './augment.js';
import { loadConvBase } from './baseLoader.js';
import { frozenModel } from '../features/extract.js';
import { augmentedFeatureSource, cachedFeatureSource, withAugmentationDefaults, type AugmentationParams } from '../fit/batchSources.js';
import { trainFeatures } from './features.js';
import { fitRun, type BatchSource } from '../fit/fitLoop.js';
import { buildHeadForTraining, compileHeadForTraining, HEAD_LAYER_NAMES } from '../fit/head.js';
import { makeOptimizer } from '../fit/optimizer.js';
import type { HistoryData, TrainOptions, TrainResult } from './options.js';
import { readHistory, readMeta, runPaths, type RunMeta } from '../run/runDir.js';
import { buildSuffixModel, cutForUnfreeze, defaultUnfreeze } from '../fit/suffixModel.js';

/** The book's fine-tuning learning rate (RMSprop). */
export const FINETUNE_LEARNING_RATE = 1e-5;

/** `tlkit train --mode finetune` options. */
export interface FinetuneModeOptions extends TrainOptions {
  /**
   * Augment the training images while fine-tuning (the book does). Then the
   * frozen prefix runs on ONNX Runtime for every batch; without it, the
   * prefix's output is computed once and cached on disk. Default: off.
   */
  augment?: boolean;
  augmentation?: Partial<AugmentationParams>;
}

/** The run a fine-tuning continues from: its meta, its history, and its saved full model. */
interface SourceRun {
  dir: string;
  meta: RunMeta;
  history: HistoryData | null;
  model: tfl.LayersModel;
}

async function readSourceRun(dir: string): Promise<SourceRun> {
  const paths = runPaths(dir);
  if (!existsSync(paths.meta) || !existsSync(`${paths.model}/model.json`)) {
    throw new UserError(`--from ${dir}: not a finished tlkit run (expected ${paths.meta} and ${paths.model}/model.json). Give the --out folder of a \`tlkit train\` run.`);
  }
  const meta = await readMeta(dir);
  const model = await tfl.loadLayersModel(fileSystemIO(paths.model));
  return { dir, meta, history: await readHistory(dir), model };
}

/** Copy weights layer by layer (same names) from a saved full model into `target`. */
function copyWeightsByName(from: tfl.LayersModel, target: tfl.LayersModel): number {
  let copied = 0;
  for (const layer of target.layers) {
    if (layer.weights.length === 0) continue;
    const src = from.layers.find((l) => l.name === layer.name);
    if (!src) continue;
    layer.setWeights(src.getWeights());
    copied++;
  }
  return copied;
}

/**
 * The book's fine-tuning: unfreeze the last N layers of the base (default 4,
 * block5_conv1..3 + block5_pool for VGG16; the last two blocks for the
 * MobileNets), keep BatchNormalization frozen in inference mode, recompile
 * with RMSprop 1e-5 and continue from the head of `--from` (or train a head
 * first in features mode, as Keras recommends). The frozen prefix runs on
 * ONNX Runtime (its output cached on disk unless augmenting); the suffix and
 * the head train on tfjs (wasm, with tlkit's gradient kernels). The run dir
 * holds both phases' curves with the start of fine-tuning marked, and the
 * best fine-tuned epoch as ONE full model (preprocess + base + head).
 */
export async function trainFinetune(opts: FinetuneModeOptions): Promise<TrainResult> {
  const dataDir = await startImageTraining(opts, 'finetune');
  const numClasses = dataDir.classNames.length;
  const timings: Record<string, number> = {};

  // Phase 1: the head. Fine-tuning a randomly initialised head would wreck the base's features.
  let sourceDir = opts.from;
  if (!sourceDir) {
    if (opts.verbose) {
      log(`No --from run given: first training a head on the frozen base (features mode, ${opts.epochs} epochs), as Keras recommends before fine-tuning.`);
    }
    const t0 = performance.now();
    await trainFeatures({ ...opts, mode: 'features', learningRate: undefined, resume: false });
    timings.headPhaseSeconds = (performance.now() - t0) / 1000;
    sourceDir = opts.out;
  }
  const source = await readSourceRun(sourceDir);
  if (source.meta.classes.join('\n') !== dataDir.classNames.join('\n')) {
    throw new UserError(`--from ${sourceDir} was trained on classes [${source.meta.classes.join(', ')}], the data has [${dataDir.classNames.join(', ')}]. Use the run trained on this data.`);
  }
  if (opts.imageSize && opts.imageSize !== source.meta.imageSize[0]) {
    throw new UserError(`--from ${sourceDir} takes ${source.meta.imageSize.join('x')} images, but --image-size is ${opts.imageSize}. Drop --image-size (fine-tuning uses the run's size).`);
  }

  const base = await loadConvBase({ base: opts.base, weights: opts.weights, imageSize: source.meta.imageSize });
  // The run's base weights (changed by an earlier fine-tuning) and its head.
  copyWeightsByName(source.model, base.model);
  if (source.meta.mode === 'finetune') base.weightsHash = hashWeights(base.model);
  const headOpts = source.meta.options as Partial<TrainOptions>;
  const featureShape = base.model.outputs[0].shape.slice(1) as number[];
  const { head, logits } = buildHeadForTraining(featureShape, {
    numClasses,
    units: headOpts.headUnits ?? opts.headUnits,
    dropout: headOpts.dropout ?? opts.dropout,
    pooling: headOpts.pooling ?? opts.pooling,
    seed: opts.seed,
  });
  for (const name of [HEAD_LAYER_NAMES.hidden, HEAD_LAYER_NAMES.output]) {
    const src = source.model.layers.find((l) => l.name === name);
    const dst = head.layers.find((l) => l.name === name);
    if (dst && !src) throw new UserError(`--from ${sourceDir}: its model has no layer ${name}; it was not trained by tlkit with the same head options.`);
    if (src && dst) dst.setWeights(src.getWeights());
  }
  source.model.dispose();

  // Phase 2: cut the base, suffix + head train together.
  const unfreeze = opts.unfreeze ?? defaultUnfreeze(base.model, base.family);
  const cut = cutForUnfreeze(base.model, unfreeze);
  const suffix = buildSuffixModel(base.model, cut);
  // Suffix -> head logits trains (stable cross-entropy); `head` (with its sigmoid/softmax) is what gets saved.
  const trainable = tfl.model({ inputs: suffix.model.inputs, outputs: logits.apply(suffix.model.outputs[0]) as tfl.SymbolicTensor, name: 'finetune' });
  compileHeadForTraining(trainable, numClasses, makeOptimizer(opts.optimizer, opts.learningRate ?? FINETUNE_LEARNING_RATE));
  const frozenInSuffix = cut.unfrozen.filter((n) => !suffix.trainable.includes(n));
  if (opts.verbose) {
    log(
      `Fine-tuning ${cut.unfrozen.length} layers of ${base.source} (${cut.unfrozen.join(', ')}); trainable: ${suffix.trainable.join(', ') || 'none'} + head` +
        `${frozenInSuffix.length ? ` (${frozenInSuffix.join(', ')}: no trainable weights${frozenInSuffix.some((n) => /bn|batch/i.test(n)) ? '; BatchNormalization stays frozen, in inference mode' : ''})` : ''}. ` +
        `Frozen prefix up to ${cut.cutLayer} on ONNX Runtime; learning rate ${opts.learningRate ?? FINETUNE_LEARNING_RATE}.`,
    );
  }

  const augmentation = opts.augment ? withAugmentationDefaults(opts.augmentation) : undefined;
  const wanted = augmentation ? ['validation'] : ['train', 'validation'];
  const cached = await cachedSplits(base, opts, wanted, cut.cutLayer);
  timings.prefixFeaturesSeconds = cached.seconds;
  if (opts.verbose) log(`Prefix features (${cut.cutLayer}, ${cached.splits.validation.featureShape.join('x')}): ${cached.cacheHit ? 'cache hit' : `${cached.seconds.toFixed(1)}s`}.`);

  let frozen: OrtModel | undefined;
  let train: BatchSource;
  let imagesPerEpoch: number;
  if (augmentation) {
    const images = await trainingImages(dataDir, base.imageSize, opts);
    frozen = await OrtModel.create(exportToOnnx(frozenModel(base, base.imageSize), { upTo: cut.cutLayer }));
    timings.frozenPrefixSeconds = 0;
    train = augmentedFeatureSource({
      dataset: images,
      frozen,
      augmentation,
      numClasses,
      seed: opts.seed,
      onFrozenSeconds: (s) => {
        timings.frozenPrefixSeconds += s;
      },
    });
    imagesPerEpoch = images.size;
  } else {
    const t = cached.splits.train;
    train = cachedFeatureSource(t, { batchSize: opts.batchSize, numClasses, seed: opts.seed, shuffle: true });
    imagesPerEpoch = t.n;
  }

  // Carry the head phase's curves into this run dir, fine-tuning marked where it starts.
  const paths = runPaths(opts.out);
  const continuing = sourceDir === opts.out;
  if (!continuing && source.history && existsSync(runPaths(sourceDir).log)) {
    mkdirSync(opts.out, { recursive: true });
    copyFileSync(runPaths(sourceDir).log, paths.log);
  }
  const initialHistory = source.history ?? undefined;
  const initialEpoch = initialHistory?.epoch.length ?? 0;
  try {
    return await fitRun({
      opts,
      mode: 'finetune',
      base,
      classNames: dataDir.classNames,
      model: trainable,
      train,
      validation: cachedFeatureSource(cached.splits.validation, { batchSize: opts.batchSize, numClasses, seed: opts.seed, shuffle: false }),
      saveFull: (dir) => saveFullModel(base, head, dir),
      initialEpoch,
      initialHistory,
      fineTuneStartEpoch: initialEpoch,
      continuing,
      keptCheckpoint: continuing ? { epoch: source.meta.bestEpoch, valLoss: source.meta.bestValLoss } : undefined,
      imagesPerEpoch,
      extraMeta: { from: sourceDir, cutLayer: cut.cutLayer, unfrozen: cut.unfrozen, trainableLayers: suffix.trainable, ...(augmentation ? { augmentation } : {}) },
      timings,
      log,
    });
  } finally {
    await frozen?.dispose();
    trainable.dispose();
  }
}
