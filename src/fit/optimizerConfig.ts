/**
 * What tlkit's optimizers report from getConfig(): everything another engine needs to apply
 * the same update (ortTraining/ reads it to build ONNX Runtime's update of the same rule).
 *
 *   rmsprop (Keras): v <- rho v + (1 - rho) g^2;  w <- w - lr g / sqrt(v + eps)
 *   adam (tfjs):     m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  w <- w + (-lr) (m / c1) / (sqrt(v / c2) + eps)
 *   adamw:           w <- w - lr wd w first (decoupled weight decay, as Keras's and PyTorch's AdamW), then adam's update
 *   sgd (tfjs):      w <- (-lr) g + w
 *
 * `lr` of a variable is learningRate times its multiplier (1 when absent): the layer groups of
 * discriminative fine-tuning. learningRate and the momentum term (rho, beta1) change between
 * batches when a schedule runs (stepRates.ts); the config holds their current values.
 */
export type OptimizerKind = 'rmsprop' | 'adam' | 'adamw' | 'sgd';

export interface OptimizerConfig {
  kind: OptimizerKind;
  learningRate: number;
  /** rmsprop. */
  rho?: number;
  /** adam, adamw. */
  beta1?: number;
  beta2?: number;
  /** rmsprop, adam, adamw. */
  epsilon?: number;
  /** adamw. */
  weightDecay?: number;
  /** Variable name (tfjs's, e.g. 'dense_Dense1/kernel') to its rate multiplier; absent names train at 1. */
  multipliers: Record<string, number>;
}
