import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types.js';

export interface StochasticDepthArgs {
  /** Probability of dropping the residual branch of a whole sample while training. */
  dropPathRate: number;
  name?: string;
}

/**
 * ConvNeXt's StochasticDepth (Keras `applications/convnext.py`): while training,
 * keeps each sample's branch with probability 1 - rate (scaled by 1 / keep);
 * the identity at inference, which is all extraction and export see.
 */
export class StochasticDepth extends tfl.layers.Layer {
  static className = 'StochasticDepth';
  readonly dropPathRate: number;

  constructor(args: StochasticDepthArgs) {
    super(args);
    this.dropPathRate = args.dropPathRate;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!kwargs?.training || this.dropPathRate === 0) return tf.clone(x);
    return tf.tidy(() => {
      const keep = 1 - this.dropPathRate;
      const shape = [x.shape[0], ...Array<number>(x.rank - 1).fill(1)];
      const mask = tf.floor(tf.add(tf.randomUniform(shape, 0, 1), keep));
      return tf.mul(tf.div(x, keep), mask);
    });
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), dropPathRate: this.dropPathRate };
  }
}
tf.serialization.registerClass(StochasticDepth);
