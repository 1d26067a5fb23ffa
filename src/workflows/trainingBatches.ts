import type { AugmentationParams } from '../augment/params.js';
import type { ImageDataset } from '../data/imageDataset.js';
import { imageDatasetOfSplit } from '../data/tableData.js';
import { UserError } from '../errors.js';
import { frozenGraph } from '../features/calibration.js';
import { isOnnxFeatureBase, openFrozenRunner, type FeatureBase, type FrozenRunner } from '../features/frozenBase.js';
import type { FeatureRows } from '../features/featureRows.js';
import { augmentedBatches } from '../fit/augmentedBatches.js';
import { featureBatches, type BatchSource } from '../fit/batchSources.js';
import { OrtModel } from '../ort/ortRunner.js';
import { runFeatureFolder } from './featureCache.js';
import { saveCalibration } from './records.js';
import type { BuildContext } from './workflow.js';

/** Batches of cached features, read from disk a batch at a time: shuffled per epoch with the run's seed (training), or in order (validation). */
export function featureSource(ctx: BuildContext, split: FeatureRows, shuffle: boolean): BatchSource {
  return featureBatches(split, {
    batchSize: ctx.opts.batchSize,
    numClasses: ctx.data.classNames.length,
    multiLabel: Boolean(ctx.data.multiLabel),
    seed: ctx.opts.seed,
    shuffle,
  });
}

/** The training images of the data folder, shuffled per epoch with the run's seed. */
export async function trainingImages(ctx: BuildContext, imageSize: [number, number]): Promise<ImageDataset> {
  const train = ctx.data.splits.train;
  if (!train) throw new UserError(`${ctx.opts.data} has no training images (expected a train/ folder or class folders).`);
  return imageDatasetOfSplit(ctx.data, 'train', {
    labelMode: ctx.data.multiLabel ? 'multi_hot' : 'int',
    batchSize: ctx.opts.batchSize,
    imageSize,
    shuffle: true,
    seed: ctx.opts.seed,
    skipBadImages: ctx.opts.skipBadImages,
    prefetch: 2,
  });
}

/**
 * Augmented training batches: images decoded and augmented every epoch, then pushed
 * through the frozen base (or the frozen prefix up to `upTo`) on ONNX Runtime. The
 * caller disposes `frozen`. ONNX Runtime's seconds add up in timings[timingKey].
 */
export async function augmentedTraining(
  ctx: BuildContext,
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
      cacheDir: runFeatureFolder(ctx, base, upTo),
      log: ctx.log,
      signal: ctx.opts.signal,
    });
    if (graph.calibration && ctx.run) await saveCalibration(ctx.run.dir, graph.calibration);
    frozen = await OrtModel.create(graph.bytes);
  }
  ctx.timings[timingKey] = 0;
  const train = augmentedBatches({
    dataset: images,
    frozen,
    augmentation,
    numClasses: ctx.data.classNames.length,
    multiLabel: Boolean(ctx.data.multiLabel),
    seed: ctx.opts.seed,
    onFrozenSeconds: (s) => {
      ctx.timings[timingKey] += s;
    },
  });
  return { train, frozen };
}
