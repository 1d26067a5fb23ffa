import type { HeadPoolingKind } from './headGraph.js';

/**
 * The head that the hand-written head graphs (headGraph.ts) train, as the code that builds it
 * declares it (fit/head.ts: trainableHead), so the trainer never guesses it from layer classes:
 *
 *   features -> pooling -> [hidden Dense + bias] -> [dropout] -> output Dense + bias (linear: logits)
 *
 * The logits model's trainable weights must be, in this order, the hidden kernel and bias
 * (when there is a hidden layer), then the output kernel and bias; the trainer checks their shapes.
 */
export interface TrainableHead {
  /** How the features become a vector: 'flatten', 'avg' (global average pooling, channels-last) or 'none' (already one). */
  pooling: HeadPoolingKind;
  hidden?: { units: number; activation: 'relu' | 'linear' };
  /** Dropout in front of the output Dense, training only; its masks are drawn from `seed`. */
  dropout?: { rate: number; seed: number };
  /** Units of the output Dense: 1 (binary, sigmoid cross-entropy) or the number of classes (softmax). */
  output: { units: number };
}
