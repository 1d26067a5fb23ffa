import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { imageDatasetFromDirectory, type ImageDataset } from '../data/imageDataset.js';
import { resolveDataDir, type DataDir } from '../data/splits.js';
import { initBackend } from '../engine/backend.js';
import { registerWasmGradientKernels } from '../engine/gradients/index.js';
import { exportToOnnx } from '../engine/onnx/export.js';
import { OrtModel } from '../engine/ortRunner.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { assembleFullModel } from '../fit/assembleModel.js';
import { loadConvBase } from './baseLoader.js';
import { extractFeatures, frozenModel } from '../features/extract.js';
import { augmentedFeatureSource, cachedFeatureSource, withAugmentationDefaults, type AugmentationParams, type FeatureArrays } from '../fit/batchSources.js';
import { defaultFeatureCache, type BaseLike } from './features.js';
import { fitRun } from '../fit/fitLoop.js';
import { buildHeadForTraining, compileHeadForTraining } from '../fit/head.js';
import { readNpy } from '../io/npy.js';
import { makeOptimizer } from '../fit/optimizer.js';
import type { TrainOptions, TrainResult } from './options.js';

/** `tlkit train --mode augment` options: the common ones plus the augmentation's parameters. */
export interface AugmentModeOptions extends TrainOptions {
  /** Default: the book's RandomFlip("horizontal"), RandomRotation(0.1), RandomZoom(0.2). */
  augmentation?: Partial<AugmentationParams>;
}

export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The training images of a data dir, shuffled per epoch with the run's seed. */
export async function trainingImages(dataDir: DataDir, imageSize: [number, number], opts: TrainOptions): Promise<ImageDataset> {
  return (await imageDatasetFromDirectory(dataDir.splits.train, {
    labelMode: 'int',
    classNames: dataDir.classNames,
    batchSize: opts.batchSize,
    imageSize,
    shuffle: true,
    seed: opts.seed,
    skipBadImages: opts.skipBadImages,
    prefetch: 2,
  })) as ImageDataset;
}

/**
 * What augment and finetune modes do first: the wasm backend with tlkit's gradient
 * kernels, and the checks of what they don't support (--resume, data without a
 * validation/ folder). Returns the resolved data folder.
 */
export async function startImageTraining(opts: TrainOptions, mode: 'augment' | 'finetune'): Promise<DataDir> {
  await initBackend();
  registerWasmGradientKernels();
  if (opts.resume) {
    throw new UserError(`--resume continues features-mode runs only; run --mode ${mode} again without it (to continue from a finished run, use --mode finetune --from <run dir>).`);
  }
  const dataDir = resolveDataDir(opts.data);
  if (!dataDir.splits.validation) {
    throw new UserError(`${opts.data} has no validation/ folder, which --mode ${mode} needs. Add one beside train/ with the same class folders.`);
  }
  return dataDir;
}

/**
 * Features of some splits of the data dir at the base's output or at a cut
 * layer, extracted once on ONNX Runtime and cached on disk (the same cache as
 * features mode), loaded into JS memory.
 */
export async function cachedSplits(
  base: BaseLike & { weightsHash: string },
  opts: TrainOptions,
  splits: string[],
  upTo?: string,
): Promise<{ classNames: string[]; splits: Record<string, FeatureArrays>; seconds: number; cacheHit: boolean }> {
  const root = opts.cacheDir ?? defaultFeatureCache();
  const out = upTo ? path.join(root, `cut-${upTo}`) : root;
  const t0 = performance.now();
  const extracted = await extractFeatures({ base, data: opts.data, out, splits, skipBadImages: opts.skipBadImages, upTo });
  const result: Record<string, FeatureArrays> = {};
  for (const s of extracted.splits) {
    const f = await readNpy(s.features);
    const l = await readNpy(s.labels);
    result[s.split] = { features: f.data as Float32Array, labels: l.data as ArrayLike<number>, n: s.count, featureShape: s.featureShape };
  }
  return { classNames: extracted.classNames, splits: result, seconds: (performance.now() - t0) / 1000, cacheHit: extracted.cacheHit };
}

/** Save preprocess + base + head as one standard tfjs model (what the checkpoint writes). */
export async function saveFullModel(base: BaseLike, head: tfl.LayersModel, dir: string): Promise<void> {
  const full = await assembleFullModel({ preprocessing: base.preprocessing, base: base.model, head });
  try {
    await full.save(fileSystemIO(dir));
  } finally {
    full.dispose();
  }
}

/**
 * The book's "feature extraction together with data augmentation":
 * augmentation -> preprocess -> frozen base -> head, trained end to end. The
 * frozen base runs on ONNX Runtime batch by batch after the augmentation, so
 * only the head trains on tfjs. Validation features (no augmentation) come
 * from the features cache. The saved model is preprocess + base + head:
 * augmentation is inactive at inference, as in Keras.
 */
export async function trainAugment(opts: AugmentModeOptions): Promise<TrainResult> {
  const dataDir = await startImageTraining(opts, 'augment');
  const augmentation = withAugmentationDefaults(opts.augmentation);
  const imageSize: [number, number] | undefined = opts.imageSize ? [opts.imageSize, opts.imageSize] : undefined;
  const base = await loadConvBase({ base: opts.base, weights: opts.weights, imageSize });
  const numClasses = dataDir.classNames.length;
  const timings: Record<string, number> = {};

  if (opts.verbose) log(`Validation features with ${base.source} at ${base.imageSize.join('x')} (cached)...`);
  const cached = await cachedSplits(base, opts, ['validation']);
  timings.validationFeaturesSeconds = cached.seconds;
  const validation = cached.splits.validation;

  const train = await trainingImages(dataDir, base.imageSize, opts);
  const frozen = await OrtModel.create(exportToOnnx(frozenModel(base, base.imageSize)));
  timings.frozenBaseSeconds = 0;
  // Trained on logits (stable cross-entropy, as Keras does); saved with its sigmoid/softmax.
  const { head, logits } = buildHeadForTraining(validation.featureShape, { numClasses, units: opts.headUnits, dropout: opts.dropout, pooling: opts.pooling, seed: opts.seed });
  compileHeadForTraining(logits, numClasses, makeOptimizer(opts.optimizer, opts.learningRate));
  if (opts.verbose) {
    log(
      `Training the head on augmented images (flip ${augmentation.flip}, rotation ${augmentation.rotation}, zoom ${augmentation.zoom}); ` +
        `the frozen base runs on ONNX Runtime for every batch.`,
    );
  }
  try {
    return await fitRun({
      opts,
      mode: 'augment',
      base,
      classNames: dataDir.classNames,
      model: logits,
      train: augmentedFeatureSource({
        dataset: train,
        frozen,
        augmentation,
        numClasses,
        seed: opts.seed,
        onFrozenSeconds: (s) => {
          timings.frozenBaseSeconds += s;
        },
      }),
      validation: cachedFeatureSource(validation, { batchSize: opts.batchSize, numClasses, seed: opts.seed, shuffle: false }),
      saveFull: (dir) => saveFullModel(base, head, dir),
      extraMeta: { augmentation },
      imagesPerEpoch: train.size,
      timings,
      log,
    });
  } finally {
    await frozen.dispose();
    head.dispose();
  }
}
