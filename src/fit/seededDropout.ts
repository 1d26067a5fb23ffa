import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types.js';
import { Rng } from '../io/rng.js';

export interface SeededDropoutArgs {
  /** Fraction of the inputs to drop, in [0, 1). */
  rate: number;
  /** Seeds the sequence of masks; every call draws a new mask from it. */
  seed: number;
  name?: string;
}

/**
 * Dropout whose masks are reproducible from a seed. tfjs's own Dropout with a
 * `seed` draws the SAME mask on every batch (it reseeds each call), and without
 * one it uses Math.random, so neither gives Keras-like training with `--seed`.
 * Used for training only: saved models get a standard Dropout in its place
 * (see assembleModel.ts), so browsers need no custom layer.
 */
export class SeededDropout extends tfl.layers.Layer {
  static className = 'SeededDropout';
  readonly rate: number;
  readonly seed: number;
  private readonly rng: Rng;

  constructor(args: SeededDropoutArgs) {
    super({ name: args.name });
    if (!(args.rate >= 0 && args.rate < 1)) throw new Error(`SeededDropout rate must be in [0, 1), got ${args.rate}`);
    this.rate = args.rate;
    this.seed = args.seed;
    this.rng = new Rng(args.seed);
    this.supportsMasking = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!kwargs.training || this.rate === 0) return tf.clone(x);
    const keep = 1 - this.rate;
    // One 31-bit seed a call from our own generator: a fresh, reproducible mask every batch.
    const callSeed = this.rng.int(2 ** 31);
    return tf.tidy(() => {
      const mask = tf.floor(tf.add(tf.randomUniform(x.shape, 0, 1, 'float32', callSeed), keep));
      return tf.mul(x, tf.div(mask, keep));
    });
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}
tf.serialization.registerClass(SeededDropout);
