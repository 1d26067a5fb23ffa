import { UserError } from '../errors.js';
import { Adam, AdamW } from './adam.js';
import type { OptimizerKind } from './optimizerConfig.js';
import type { RateOptimizer } from './rateOptimizer.js';
import { KerasRMSprop } from './rmsprop.js';
import { SGD } from './sgd.js';

export type OptimizerName = OptimizerKind;

/** Keras's default epsilon for RMSprop/Adam. */
export const KERAS_EPSILON = 1e-7;

/** AdamW's default decay: PyTorch's and fastai's (Keras 3's AdamW has 0.004). */
export const ADAMW_WEIGHT_DECAY = 0.01;

/** What makeOptimizer builds. */
export interface OptimizerOptions {
  name: OptimizerName;
  /** Default: 1e-3 (rmsprop, adam, adamw), 1e-2 (sgd), Keras's. */
  learningRate?: number;
  /** adamw only. Default ADAMW_WEIGHT_DECAY. */
  weightDecay?: number;
  /** tfjs variable name (a model's `trainableWeights[i].name`) to its rate multiplier; absent names train at 1. */
  multipliers?: Record<string, number>;
}

/**
 * An optimizer with Keras's defaults whose rates a schedule can change between batches
 * (RateControl) and whose getConfig() is an OptimizerConfig. RMSprop: rho 0.9, epsilon
 * 1e-7 inside the square root (Keras 3), no momentum, see rmsprop.ts; Adam: tfjs's formula
 * (beta1 0.9, beta2 0.999, epsilon 1e-7), see adam.ts; AdamW: the same plus decoupled
 * weight decay; SGD: tfjs's, no momentum.
 * The older form makeOptimizer(name, learningRate) is kept for callers that need no more.
 */
export function makeOptimizer(spec: OptimizerOptions | OptimizerName, learningRate?: number): RateOptimizer {
  const o: OptimizerOptions = typeof spec === 'string' ? { name: spec, learningRate } : spec;
  const multipliers = o.multipliers ?? {};
  if (o.weightDecay !== undefined && o.name !== 'adamw')
    throw new UserError(
      `Weight decay (${o.weightDecay}) applies to the adamw optimizer, got ${o.name}. Use adamw, or drop the weight decay.`,
    );
  switch (o.name) {
    case 'rmsprop':
      return new KerasRMSprop(o.learningRate ?? 1e-3, 0.9, KERAS_EPSILON, multipliers);
    case 'adam':
      return new Adam(o.learningRate ?? 1e-3, 0.9, 0.999, KERAS_EPSILON, multipliers);
    case 'adamw':
      return new AdamW(o.learningRate ?? 1e-3, o.weightDecay ?? ADAMW_WEIGHT_DECAY, 0.9, 0.999, KERAS_EPSILON, multipliers);
    case 'sgd':
      return new SGD(o.learningRate ?? 1e-2, multipliers);
    default:
      throw new UserError(`Unknown optimizer "${String(o.name)}"; expected rmsprop, adam, adamw or sgd.`);
  }
}
