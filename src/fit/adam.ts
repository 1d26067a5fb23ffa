import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerConfig } from './optimizerConfig.js';
import { RateOptimizer } from './rateOptimizer.js';
import { FloatPowers } from '../ortTraining/floatPowers.js';

/**
 * tfjs's Adam, op for op (so its numbers are tf.train.adam's), with a rate per variable
 * and a beta1 that a schedule may cycle:
 *   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
 *   w <- w + (-lr) (m / c1) / (sqrt(v / c2) + eps),   c1 = 1 - b1^t, c2 = 1 - b2^t
 * `lr` is learningRate x the variable's multiplier: the step is scaled, not the gradient
 * (Adam would cancel a scaled gradient). t counts steps from 1; b^t is the float32 product
 * of t factors b, which is the running product tfjs keeps while b is constant, and uses
 * the current b1 when a schedule changes it (PyTorch's Adam does the same), so that it
 * depends only on the step count: a resumed run continues it exactly.
 */
export class Adam extends RateOptimizer {
  static get className(): string {
    // tfjs's name, which the ONNX Runtime trainer matches. Not registered: that would replace tfjs's Adam for deserializers.
    return 'Adam';
  }

  readonly kind: 'adam' | 'adamw' = 'adam';
  protected readonly slotNames = ['m', 'v'] as const;
  private readonly powers = [new FloatPowers(), new FloatPowers()];
  private oneMinusAccBeta1 = 1;
  private oneMinusAccBeta2 = 1;

  constructor(
    learningRate = 1e-3,
    private beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = 1e-7,
    multipliers: Record<string, number> = {},
  ) {
    super(learningRate, multipliers);
  }

  protected momentumTerm(): number {
    return this.beta1;
  }

  protected setMomentumTerm(value: number): void {
    this.beta1 = value;
  }

  protected override beforeStep(): void {
    const t = this.iterations + 1;
    this.oneMinusAccBeta1 = Math.fround(1 - this.powers[0].of(this.beta1, t));
    this.oneMinusAccBeta2 = Math.fround(1 - this.powers[1].of(this.beta2, t));
  }

  protected update(value: tf.Variable, g: tf.Tensor, [m, v]: tf.Variable[], lr: number): void {
    const mNew = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
    const vNew = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
    const mHat = tf.div(mNew, this.oneMinusAccBeta1);
    const vHat = tf.div(vNew, this.oneMinusAccBeta2);
    m.assign(mNew);
    v.assign(vNew);
    value.assign(tf.add(tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), this.epsilon)), -lr), this.decayed(value, lr)));
  }

  /** The weight the Adam step is added to: the weight itself (AdamW decays it first). */
  protected decayed(value: tf.Variable, _lr: number): tf.Tensor {
    return value;
  }

  protected ruleConfig(): Pick<OptimizerConfig, 'beta1' | 'beta2' | 'epsilon' | 'weightDecay'> {
    return { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }
}

/**
 * AdamW: Adam with decoupled weight decay, as Keras 3's and PyTorch's AdamW apply it:
 *   w <- w - lr wd w, then Adam's update (lr = learningRate x the variable's multiplier).
 * Every trained variable decays, biases included (Keras's and PyTorch's default).
 */
export class AdamW extends Adam {
  static override get className(): string {
    return 'AdamW';
  }

  override readonly kind = 'adamw';

  constructor(
    learningRate = 1e-3,
    readonly weightDecay = 0.01,
    beta1 = 0.9,
    beta2 = 0.999,
    epsilon = 1e-7,
    multipliers: Record<string, number> = {},
  ) {
    super(learningRate, beta1, beta2, epsilon, multipliers);
    if (!(Number.isFinite(weightDecay) && weightDecay >= 0))
      throw new Error(`weightDecay must be a finite number >= 0, got ${weightDecay}.`);
  }

  protected override decayed(value: tf.Variable, lr: number): tf.Tensor {
    return tf.sub(value, tf.mul(value, lr * this.weightDecay));
  }

  protected override ruleConfig(): Pick<OptimizerConfig, 'beta1' | 'beta2' | 'epsilon' | 'weightDecay'> {
    return { ...super.ruleConfig(), weightDecay: this.weightDecay };
  }
}
