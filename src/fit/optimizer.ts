import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import { KerasRMSprop } from './rmsprop.js';

export type OptimizerName = 'rmsprop' | 'adam' | 'sgd';

/** Keras's default epsilon for RMSprop/Adam. */
export const KERAS_EPSILON = 1e-7;

/**
 * An optimizer with Keras's defaults. RMSprop: rho 0.9, epsilon 1e-7 inside the
 * square root (Keras 3), no momentum; see rmsprop.ts (tfjs's own has the same
 * formula but a backend-dependent default epsilon and a slower update).
 */
export function makeOptimizer(name: OptimizerName, learningRate?: number): tf.Optimizer {
  switch (name) {
    case 'rmsprop':
      return new KerasRMSprop(learningRate ?? 1e-3, 0.9, KERAS_EPSILON);
    case 'adam':
      return tf.train.adam(learningRate ?? 1e-3, 0.9, 0.999, KERAS_EPSILON);
    case 'sgd':
      return tf.train.sgd(learningRate ?? 1e-2);
    default:
      throw new UserError(`Unknown optimizer "${String(name)}"; expected rmsprop, adam or sgd.`);
  }
}
