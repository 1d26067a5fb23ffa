import * as tf from '@tensorflow/tfjs-core';
import { randomFlip, randomRotation, randomZoom, Rng, type FlipMode } from '../augment/index.js';
import type { ImageDataset } from '../data/imageDataset.js';
import type { OrtModel } from '../engine/ortRunner.js';
import { markHandled } from '../io/markHandled.js';
import { encodeLabels } from './featureDataset.js';
import type { BatchSource } from './fitLoop.js';

/**
 * Batch sources for fitDataset in the augment and finetune workflows: images
 * augmented on the fly and pushed through a frozen network on ONNX Runtime,
 * or features already cached, kept in JS memory and sliced per batch.
 */

/** The book's augmentation: RandomFlip("horizontal"), RandomRotation(0.1), RandomZoom(0.2). */
export interface AugmentationParams {
  /** 'none' turns flipping off. */
  flip: FlipMode | 'none';
  /** RandomRotation factor (fraction of a full turn); 0 = off. */
  rotation: number;
  /** RandomZoom height factor (same on width); 0 = off. */
  zoom: number;
}

export const BOOK_AUGMENTATION: AugmentationParams = { flip: 'horizontal', rotation: 0.1, zoom: 0.2 };

export function withAugmentationDefaults(p: Partial<AugmentationParams> | undefined): AugmentationParams {
  const full = { ...BOOK_AUGMENTATION, ...Object.fromEntries(Object.entries(p ?? {}).filter(([, v]) => v !== undefined)) };
  return full as AugmentationParams;
}

/** Flip -> rotate -> zoom, as the Keras Sequential of the book applies them while training. */
export function augmentImages(images: tf.Tensor4D, p: AugmentationParams, rng: Rng): tf.Tensor4D {
  return tf.tidy(() => {
    const n = images.shape[0];
    let x = images;
    if (p.flip !== 'none') x = randomFlip.applyTransform(x, randomFlip.sampleTransform(rng, n, p.flip));
    if (p.rotation > 0) x = randomRotation.applyTransform(x, randomRotation.sampleTransform(rng, n, p.rotation));
    if (p.zoom > 0) x = randomZoom.applyTransform(x, randomZoom.sampleTransform(rng, n, p.zoom));
    return x;
  });
}

interface Prepared {
  features: Float32Array;
  shape: number[];
  labels: ArrayLike<number>;
}

/**
 * Every epoch: decode a batch, augment it (tfjs), run it through `frozen`
 * (ONNX Runtime: preprocessing + frozen base or prefix), hand the features to
 * training. The next batch is prepared while the current one trains, so
 * decoding and ONNX Runtime overlap the tfjs step.
 */
export function augmentedFeatureSource(args: {
  dataset: ImageDataset;
  frozen: OrtModel;
  augmentation: AugmentationParams;
  numClasses: number;
  seed: number;
  /** Called with the seconds ONNX Runtime took for each batch (for the timings). */
  onFrozenSeconds?: (s: number, images: number) => void;
}): BatchSource {
  const rng = new Rng(args.seed);
  return {
    size: args.dataset.numBatches,
    async iterator() {
      const it = args.dataset.batches()[Symbol.asyncIterator]();
      const prepare = async (): Promise<Prepared | undefined> => {
        const r = await it.next();
        if (r.done) return undefined;
        const batch = r.value;
        const augmented = tf.tidy(() => augmentImages(tf.tensor4d(batch.images, batch.shape), args.augmentation, rng));
        const pixels = (await augmented.data()) as Float32Array;
        augmented.dispose();
        const t0 = performance.now();
        const out = await args.frozen.run(pixels, batch.shape);
        args.onFrozenSeconds?.((performance.now() - t0) / 1000, batch.shape[0]);
        return { features: out.data, shape: out.shape, labels: batch.labels };
      };
      let pending = markHandled(prepare());
      return {
        async next(): Promise<IteratorResult<{ xs: tf.Tensor; ys: tf.Tensor }>> {
          const p = await pending;
          if (!p) return { done: true, value: undefined };
          pending = markHandled(prepare());
          return { done: false, value: { xs: tf.tensor(p.features, p.shape), ys: encodeLabels(p.labels, args.numClasses) } };
        },
      };
    },
  };
}

/** Cached features of one split, held in JS memory (not the wasm heap) and batched on demand. */
export interface FeatureArrays {
  features: Float32Array;
  labels: ArrayLike<number>;
  n: number;
  /** One sample's shape, e.g. [11, 11, 512]. */
  featureShape: number[];
}

/** Batches of cached features, reshuffled every epoch with a seeded generator (or in order). */
export function cachedFeatureSource(data: FeatureArrays, args: { batchSize: number; numClasses: number; seed: number; shuffle: boolean }): BatchSource {
  const per = data.featureShape.reduce((a, b) => a * b, 1);
  const rng = new Rng(args.seed);
  return {
    size: Math.ceil(data.n / args.batchSize),
    async iterator() {
      const order = Int32Array.from({ length: data.n }, (_, i) => i);
      if (args.shuffle) rng.shuffle(order);
      let start = 0;
      return {
        async next(): Promise<IteratorResult<{ xs: tf.Tensor; ys: tf.Tensor }>> {
          if (start >= data.n) return { done: true, value: undefined };
          const idx = order.subarray(start, Math.min(data.n, start + args.batchSize));
          start += args.batchSize;
          const xs = new Float32Array(idx.length * per);
          const ids = new Int32Array(idx.length);
          idx.forEach((src, i) => {
            xs.set(data.features.subarray(src * per, (src + 1) * per), i * per);
            ids[i] = data.labels[src];
          });
          return { done: false, value: { xs: tf.tensor(xs, [idx.length, ...data.featureShape]), ys: encodeLabels(ids, args.numClasses) } };
        },
      };
    },
  };
}
