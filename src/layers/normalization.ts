import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

export interface NormalizationArgs {
  /** The feature axis (statistics per entry of it). Default -1 (Keras). */
  axis?: number;
  /** Fixed per-feature means. When mean and variance are both given, the layer has no weights (Keras keeps them as constants). */
  mean?: number[] | null;
  /** Fixed per-feature variances (see mean). */
  variance?: number[] | null;
  /** Undo the normalisation instead (x * sqrt(var) + mean). Default false. */
  invert?: boolean;
  name?: string;
  trainable?: boolean;
  inputShape?: tfl.Shape;
  batchInputShape?: tfl.Shape;
}

/** Keras backend.epsilon(): the floor of the standard deviation. */
const EPSILON = 1e-7;

/**
 * Keras `layers.Normalization`: (x - mean) / max(sqrt(variance), 1e-7) over one
 * feature axis. Without fixed statistics it owns three non-trainable weights as
 * Keras 3 does (mean, variance, and the sample count, a scalar), which Keras .h5
 * files carry; `adapt()` is not implemented (load the statistics instead).
 */
export class Normalization extends tfl.layers.Layer {
  static className = 'Normalization';
  readonly axis: number;
  readonly fixedMean: number[] | null;
  readonly fixedVariance: number[] | null;
  readonly invert: boolean;
  private meanVar?: tfl.LayerVariable;
  private varianceVar?: tfl.LayerVariable;

  constructor(args: NormalizationArgs = {}) {
    super(args);
    this.axis = args.axis ?? -1;
    const hasMean = args.mean !== undefined && args.mean !== null;
    const hasVariance = args.variance !== undefined && args.variance !== null;
    if (hasMean !== hasVariance) throw new Error('Normalization: give both mean and variance, or neither');
    this.fixedMean = hasMean ? [...(args.mean as number[])] : null;
    this.fixedVariance = hasVariance ? [...(args.variance as number[])] : null;
    this.invert = args.invert ?? false;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const axis = this.axis < 0 ? this.axis + shape.length : this.axis;
    const n = shape[axis];
    if (n === null || n === undefined)
      throw new Error(`Normalization: the feature axis ${this.axis} of input ${JSON.stringify(shape)} must have a known size`);
    if (this.fixedMean) {
      if (this.fixedMean.length !== n && this.fixedMean.length !== 1)
        throw new Error(`Normalization: ${this.fixedMean.length} means for ${n} features`);
    } else {
      this.meanVar = this.addWeight('mean', [n], 'float32', tfl.initializers.zeros(), undefined, false);
      this.varianceVar = this.addWeight('variance', [n], 'float32', tfl.initializers.ones(), undefined, false);
      this.addWeight('count', [], 'float32', tfl.initializers.zeros(), undefined, false);
    }
    this.built = true;
  }

  /** The statistics in force, broadcastable over an input of rank `rank`. */
  statistics(rank: number): { mean: number[]; variance: number[]; shape: number[] } {
    const mean = this.fixedMean ?? Array.from(this.meanVar!.read().dataSync());
    const variance = this.fixedVariance ?? Array.from(this.varianceVar!.read().dataSync());
    const axis = this.axis < 0 ? this.axis + rank : this.axis;
    const shape = Array<number>(rank).fill(1);
    shape[axis] = mean.length;
    return { mean, variance, shape };
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x0 = Array.isArray(inputs) ? inputs[0] : inputs;
      const x = x0.dtype === 'float32' ? x0 : tf.cast(x0, 'float32');
      const axis = this.axis < 0 ? this.axis + x.rank : this.axis;
      const bshape = Array<number>(x.rank).fill(1);
      let mean: tf.Tensor;
      let variance: tf.Tensor;
      if (this.fixedMean) {
        bshape[axis] = this.fixedMean.length;
        mean = tf.tensor(this.fixedMean, bshape);
        variance = tf.tensor(this.fixedVariance as number[], bshape);
      } else {
        bshape[axis] = this.meanVar!.shape[0] as number;
        mean = tf.reshape(this.meanVar!.read(), bshape);
        variance = tf.reshape(this.varianceVar!.read(), bshape);
      }
      const std = tf.maximum(tf.sqrt(variance), EPSILON);
      return this.invert ? tf.add(tf.mul(x, std), mean) : tf.div(tf.sub(x, mean), std);
    });
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), axis: this.axis, mean: this.fixedMean, variance: this.fixedVariance, invert: this.invert };
  }
}
tf.serialization.registerClass(Normalization);
