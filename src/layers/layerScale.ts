import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

export interface LayerScaleArgs {
  /** Initial value of every scale. */
  initValues: number;
  /** Number of channels (the size of the last axis). */
  projectionDim: number;
  name?: string;
  trainable?: boolean;
}

/**
 * ConvNeXt's LayerScale (Keras `applications/convnext.py`): multiplies the last
 * axis by a trainable per-channel vector `gamma`, initialised to `initValues`.
 */
export class LayerScale extends tfl.layers.Layer {
  static className = 'LayerScale';
  readonly initValues: number;
  readonly projectionDim: number;
  private gamma?: tfl.LayerVariable;

  constructor(args: LayerScaleArgs) {
    super(args);
    this.initValues = args.initValues;
    this.projectionDim = args.projectionDim;
  }

  override build(): void {
    this.gamma = this.addWeight(
      'gamma',
      [this.projectionDim],
      'float32',
      tfl.initializers.constant({ value: this.initValues }),
      undefined,
      true,
    );
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.mul(Array.isArray(inputs) ? inputs[0] : inputs, this.gamma!.read()));
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), initValues: this.initValues, projectionDim: this.projectionDim };
  }
}
tf.serialization.registerClass(LayerScale);
