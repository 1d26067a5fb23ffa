import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../io/rng.js';

/**
 * In-memory features as a tfjs fitDataset source that reshuffles every epoch
 * with a seeded generator (tfjs's own `fit({shuffle})` uses Math.random, so
 * `--seed` could not make it reproducible).
 */
export function shuffledTensorDataset(x: tf.Tensor, y: tf.Tensor, batchSize: number, seed: number, shuffle = true) {
  const n = x.shape[0];
  const rng = new Rng(seed);
  const size = Math.ceil(n / batchSize);
  return {
    size,
    async iterator() {
      const order = new Int32Array(n).map((_, i) => i);
      if (shuffle) rng.shuffle(order);
      let start = 0;
      return {
        async next(): Promise<IteratorResult<{ xs: tf.Tensor; ys: tf.Tensor }>> {
          if (start >= n) return { done: true, value: undefined };
          const idx = tf.tensor1d(order.subarray(start, Math.min(n, start + batchSize)), 'int32');
          start += batchSize;
          const value = tf.tidy(() => ({ xs: tf.gather(x, idx), ys: tf.gather(y, idx) }));
          idx.dispose();
          return { done: false, value };
        },
      };
    },
  };
}

/** Labels as the head wants them: [n, 1] of 0/1 for two classes, one-hot [n, k] otherwise. */
export function encodeLabels(ids: ArrayLike<number>, numClasses: number): tf.Tensor2D {
  const n = ids.length;
  if (numClasses === 2) return tf.tensor2d(Float32Array.from(ids), [n, 1]);
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(ids), 'int32'), numClasses), 'float32') as tf.Tensor2D);
}
