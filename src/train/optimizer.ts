import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import type { OptimizerName } from './options.js';

/** Keras's default epsilon for RMSprop/Adam. */
export const KERAS_EPSILON = 1e-7;

/**
 * An optimizer with Keras's defaults. tfjs's RMSprop divides by
 * sqrt(meanSquare + epsilon), epsilon inside the square root as in Keras 3;
 * only its default epsilon differs by backend, so it is always passed explicitly.
 */
export function makeOptimizer(name: OptimizerName, learningRate?: number): tf.Optimizer {
  switch (name) {
    case 'rmsprop':
      return tf.train.rmsprop(learningRate ?? 1e-3, 0.9, 0, KERAS_EPSILON, false);
    case 'adam':
      return tf.train.adam(learningRate ?? 1e-3, 0.9, 0.999, KERAS_EPSILON);
    case 'sgd':
      return tf.train.sgd(learningRate ?? 1e-2);
    default:
      throw new UserError(`Unknown optimizer "${String(name)}"; expected rmsprop, adam or sgd.`);
  }
}
