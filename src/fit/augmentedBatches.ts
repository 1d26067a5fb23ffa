import * as tf from '@tensorflow/tfjs-core';
import { sharedAugmentPool, type AugmentPool } from '../augment/augmentPool.js';
import type { AugmentationParams } from '../augment/params.js';
import { drawAugmentation } from '../augment/pipeline.js';
import type { ImageDataset } from '../data/imageDataset.js';
import type { OrtModel } from '../ort/ortRunner.js';
import { markHandled } from '../io/markHandled.js';
import { deriveSeed, Rng } from '../io/rng.js';
import { encodeLabels, type BatchSource } from './batchSources.js';

/** Batches decoded and augmented ahead of the one the frozen base runs on. */
export const AUGMENT_AHEAD = 2;

interface Augmented {
  pixels: Float32Array;
  shape: number[];
  labels: ArrayLike<number>;
}

interface Prepared {
  features: Float32Array;
  shape: number[];
  labels: ArrayLike<number>;
}

/**
 * Every epoch: decode a batch, augment it, run it through `frozen` (ONNX Runtime:
 * preprocessing + frozen base or prefix), hand the features to training. Three stages
 * overlap: worker threads augment the next AUGMENT_AHEAD batches while ONNX Runtime
 * runs the frozen base on one, while the current one trains. Each batch's random
 * draws are made on this thread in batch order, before its pixels go to the workers,
 * so the images are those of augmenting batch after batch on one thread.
 */
export function augmentedBatches(args: {
  dataset: ImageDataset;
  frozen: Pick<OrtModel, 'run'>;
  augmentation: AugmentationParams;
  numClasses: number;
  /** The dataset's labels are multi-hot rows (labelMode 'multi_hot'). */
  multiLabel?: boolean;
  seed: number;
  /** Who applies the draws; default the process's shared pool of worker threads. */
  pool?: Pick<AugmentPool, 'apply'>;
  /** Called with the seconds ONNX Runtime took for each batch (for the timings). */
  onFrozenSeconds?: (s: number, images: number) => void;
}): BatchSource {
  return {
    size: args.dataset.numBatches,
    samples: args.dataset.size,
    async *batches(epoch: number) {
      const pool = args.pool ?? sharedAugmentPool();
      const rng = new Rng(deriveSeed(args.seed, epoch, 1));
      const it = args.dataset.batches(epoch)[Symbol.asyncIterator]();
      // Each batch is fetched and drawn only once the one before it has been drawn.
      let drawn: Promise<unknown> = Promise.resolve();
      const augmentNext = (): Promise<Augmented | undefined> => {
        const draw = drawn.then(async () => {
          const r = await it.next();
          if (r.done) return undefined;
          return { batch: r.value, plan: drawAugmentation(rng, r.value.shape, args.augmentation) };
        });
        drawn = draw.catch(() => undefined);
        return draw.then(
          async (d) => d && { pixels: await pool.apply(d.batch.images, d.plan), shape: d.batch.shape, labels: d.batch.labels },
        );
      };
      const augmented: Array<Promise<Augmented | undefined>> = [];
      const fill = () => {
        while (augmented.length < AUGMENT_AHEAD) augmented.push(markHandled(augmentNext()));
      };
      const prepare = async (): Promise<Prepared | undefined> => {
        fill();
        const a = await (augmented.shift() as Promise<Augmented | undefined>);
        if (!a) return undefined;
        fill();
        const t0 = performance.now();
        const out = await args.frozen.run(a.pixels, a.shape);
        args.onFrozenSeconds?.((performance.now() - t0) / 1000, a.shape[0]);
        return { features: out.data, shape: out.shape, labels: a.labels };
      };
      let pending = markHandled(prepare());
      for (;;) {
        const p = await pending;
        if (!p) return;
        pending = markHandled(prepare());
        yield { xs: tf.tensor(p.features, p.shape), ys: encodeLabels(p.labels, args.numClasses, args.multiLabel) };
      }
    },
  };
}
