import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { isTraining, onImages, withTrainingDefault } from './layerCall.js';
import { Rng } from '../io/rng.js';
import { checkSampling, type SamplingOptions } from './transform.js';

/** What every geometric augmentation layer takes besides its own factors. */
export interface ResamplingLayerArgs extends SamplingOptions {
  seed?: number;
  name?: string;
  inputShape?: tfl.Shape;
  batchInputShape?: tfl.Shape;
}

/**
 * The common part of RandomRotation and RandomZoom: the fill/interpolation
 * settings, the seeded RNG, the identity outside training (as in Keras) and the
 * serialised config. Subclasses only sample and apply their own transform.
 */
export abstract class ResamplingLayer extends tfl.layers.Layer {
  readonly fillMode: NonNullable<SamplingOptions['fillMode']>;
  readonly interpolation: NonNullable<SamplingOptions['interpolation']>;
  readonly fillValue: number;
  readonly seed?: number;
  protected readonly rng: Rng;

  constructor(args: ResamplingLayerArgs, layerName: string) {
    super({ name: args.name, inputShape: args.inputShape, batchInputShape: args.batchInputShape, trainable: false });
    checkSampling(args, layerName);
    this.fillMode = args.fillMode ?? 'reflect';
    this.interpolation = args.interpolation ?? 'bilinear';
    this.fillValue = args.fillValue ?? 0;
    this.seed = args.seed;
    this.rng = new Rng(args.seed);
  }

  /** Draw a transform for each image of `x` and apply it. */
  protected abstract augment(x: tf.Tensor4D, sampling: SamplingOptions): tf.Tensor4D;

  /** Without `training`, a direct call augments (Keras 3's default) and a call inside a model's predict/evaluate does not. */
  override apply(
    inputs: tf.Tensor | tf.Tensor[] | tfl.SymbolicTensor | tfl.SymbolicTensor[],
    kwargs?: { training?: boolean; [key: string]: unknown },
  ) {
    return super.apply(inputs, withTrainingDefault(inputs, kwargs));
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!isTraining(kwargs)) return tf.clone(x);
    const sampling = { fillMode: this.fillMode, interpolation: this.interpolation, fillValue: this.fillValue };
    return onImages(x, this.getClassName(), (batch) => this.augment(batch, sampling));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      fillMode: this.fillMode,
      interpolation: this.interpolation,
      fillValue: this.fillValue,
      ...(this.seed !== undefined ? { seed: this.seed } : {}),
    };
  }
}
