import * as tf from '@tensorflow/tfjs-core';
import { rowSize, type FeatureRows } from '../features/featureRows.js';
import { markHandled } from '../io/markHandled.js';
import { deriveSeed, Rng } from '../io/rng.js';

/**
 * What the fit loop trains on: a fixed number of batches an epoch, produced anew for
 * each epoch. `batches(epoch)` depends only on the epoch number (and the source's
 * seed), so a resumed run sees the same epochs as an uninterrupted one.
 */
export interface BatchSource {
  /** Batches per epoch. */
  size: number;
  /** Samples per epoch. */
  samples: number;
  batches(epoch: number): AsyncIterable<{ xs: tf.Tensor; ys: tf.Tensor }>;
}

/**
 * Labels as the head wants them: [n, 1] of 0/1 for two classes, one-hot [n, k] otherwise;
 * multi-label, `ids` are already the multi-hot rows (n k values): [n, k] as they are.
 */
export function encodeLabels(ids: ArrayLike<number>, numClasses: number, multiLabel = false): tf.Tensor2D {
  if (multiLabel) return tf.tensor2d(Float32Array.from(ids), [ids.length / numClasses, numClasses]);
  const n = ids.length;
  if (numClasses === 2) return tf.tensor2d(Float32Array.from(ids), [n, 1]);
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(ids), 'int32'), numClasses), 'float32') as tf.Tensor2D);
}

/** Batches a feature source reads ahead of the one training uses (each a batch of rows in memory). */
export const FEATURE_READ_AHEAD = 2;

/**
 * Batches of feature rows (on disk or in memory), reshuffled every epoch by a generator
 * seeded with (seed, epoch), or in order. Rows are read a batch at a time, up to
 * `readAhead` batches ahead of training, so memory holds a few batches whatever the
 * number of rows; the batches are those of the whole split sliced in memory.
 */
export function featureBatches(
  data: FeatureRows,
  args: { batchSize: number; numClasses: number; seed: number; shuffle: boolean; readAhead?: number; multiLabel?: boolean },
): BatchSource {
  const per = rowSize(data.featureShape);
  const k = args.numClasses;
  const { targets } = data;
  if (args.multiLabel && !targets) throw new Error("featureBatches: multi-label needs the rows' multi-hot targets");
  // Multi-label: each row's multi-hot targets; else its class id.
  const labelsOf = (idx: Int32Array): ArrayLike<number> => {
    if (!args.multiLabel || !targets) return Int32Array.from(idx, (src) => data.labels[src]);
    const out = new Float32Array(idx.length * k);
    idx.forEach((src, j) => out.set(targets.subarray(src * k, (src + 1) * k), j * k));
    return out;
  };
  const readAhead = Math.max(1, args.readAhead ?? FEATURE_READ_AHEAD);
  return {
    size: Math.ceil(data.n / args.batchSize),
    samples: data.n,
    async *batches(epoch: number) {
      const order = Int32Array.from({ length: data.n }, (_, i) => i);
      if (args.shuffle) new Rng(deriveSeed(args.seed, epoch)).shuffle(order);
      const load = async (start: number) => {
        const idx = order.subarray(start, Math.min(data.n, start + args.batchSize));
        const xs = new Float32Array(idx.length * per);
        await data.read(idx, xs);
        return { xs, rows: idx.length, ids: labelsOf(idx) };
      };
      const pending: Array<Promise<{ xs: Float32Array; rows: number; ids: ArrayLike<number> }>> = [];
      let next = 0;
      const fill = () => {
        for (; pending.length < readAhead && next < data.n; next += args.batchSize) pending.push(markHandled(load(next)));
      };
      fill();
      while (pending.length > 0) {
        const { xs, rows, ids } = await (pending.shift() as Promise<{ xs: Float32Array; rows: number; ids: ArrayLike<number> }>);
        fill();
        yield { xs: tf.tensor(xs, [rows, ...data.featureShape]), ys: encodeLabels(ids, args.numClasses, args.multiLabel) };
      }
    },
  };
}
