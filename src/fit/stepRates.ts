import type * as tf from '@tensorflow/tfjs-core';
import { isEngineTrainer, layersModelOf, type TrainableModel } from './trainable.js';

/**
 * The rates a schedule sets before each batch: the base learning rate (each layer group
 * trains at this rate times its multiplier, see optimizer.ts) and, where the optimizer has
 * one, the cycled momentum term (SGD's momentum, Adam's and AdamW's beta1, RMSprop's rho).
 */
export interface StepRates {
  learningRate: number;
  momentum?: number;
}

/** An optimizer or engine trainer whose rates can change between batches. */
export interface RateControl {
  setStepRates(rates: StepRates): void;
  stepRates(): StepRates;
}

export function hasRateControl(x: unknown): x is RateControl {
  return typeof x === 'object' && x !== null && 'setStepRates' in x && 'stepRates' in x;
}

/** The rate control of what the loop trains: the engine trainer itself, or the compiled tfjs model's optimizer. */
export function rateControlOf(model: TrainableModel): RateControl {
  if (isEngineTrainer(model)) {
    if (hasRateControl(model)) return model;
    // The tfjs optimizer of an engine trainer's model takes no step: setting its rates would change nothing.
    throw new Error('This engine trainer cannot change its rates between batches.');
  }
  const optimizer: tf.Optimizer | undefined = layersModelOf(model).optimizer;
  if (hasRateControl(optimizer)) return optimizer;
  throw new Error(`The optimizer ${optimizer?.getClassName() ?? '(none)'} cannot change its rates between batches.`);
}
