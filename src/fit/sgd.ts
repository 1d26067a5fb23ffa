import * as tf from '@tensorflow/tfjs-core';
import { RateOptimizer } from './rateOptimizer.js';

/**
 * tfjs's plain SGD, op for op (w <- (-lr) g + w), with a rate per variable
 * (`lr` = learningRate x the variable's multiplier). It has no momentum term: a
 * schedule's momentum is ignored.
 */
export class SGD extends RateOptimizer {
  static get className(): string {
    // tfjs's name, which the ONNX Runtime trainer matches. Not registered: that would replace tfjs's SGD for deserializers.
    return 'SGD';
  }

  readonly kind = 'sgd';
  protected readonly slotNames = [] as const;

  protected momentumTerm(): undefined {
    return undefined;
  }

  protected setMomentumTerm(): void {}

  protected update(value: tf.Variable, g: tf.Tensor, _slots: tf.Variable[], lr: number): void {
    value.assign(tf.add(tf.mul(g, -lr), value));
  }

  protected ruleConfig(): Record<string, never> {
    return {};
  }
}
