import { buildHeadForTraining, type HeadModels, type HeadOptions } from '../fit/head.js';
import type { HeadSpec } from '../run/meta.js';
import type { TrainOptions } from './options.js';

/** The head the options ask for, as meta.json records it. */
export function headSpec(opts: TrainOptions): HeadSpec {
  return { units: opts.headUnits, activation: opts.headActivation, dropout: opts.dropout, pooling: opts.pooling };
}

/** buildHeadForTraining's options for a head spec (multi-label: one sigmoid a class). */
export function headOptions(head: HeadSpec, numClasses: number, seed: number, multiLabel = false): HeadOptions {
  return { numClasses, multiLabel, units: head.units, activation: head.activation, dropout: head.dropout, pooling: head.pooling, seed };
}

/** A fresh head on features of `featureShape`: trained on logits (stable cross-entropy, as Keras does), saved with its sigmoid/softmax. */
export function newHead(featureShape: number[], head: HeadSpec, numClasses: number, seed: number, multiLabel = false): HeadModels {
  return buildHeadForTraining(featureShape, headOptions(head, numClasses, seed, multiLabel));
}
