import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

type LayerInput = tf.Tensor | tf.Tensor[] | tfl.SymbolicTensor | tfl.SymbolicTensor[];
type Kwargs = { training?: boolean; [key: string]: unknown };

/**
 * The `training` flag an augmentation layer runs with. Keras 3 declares
 * `call(inputs, training=True)`, so a layer called directly on images augments unless
 * told `training=False`, while `fit` passes true and `predict`/`evaluate` pass false.
 * tfjs-layers' executor calls each layer of a model with its inputs as an ARRAY and
 * passes no `training` at all in predict and evaluate; a user calling
 * `layer.apply(images)` passes one tensor. So: an explicit flag wins; otherwise a
 * direct call on one concrete tensor trains, and a call from inside a model does not.
 */
export function withTrainingDefault(inputs: LayerInput, kwargs: Kwargs | undefined): Kwargs | undefined {
  if (kwargs?.training !== undefined && kwargs.training !== null) return kwargs;
  if (!Array.isArray(inputs) && inputs instanceof tf.Tensor) return { ...kwargs, training: true };
  return kwargs;
}

/**
 * Apply a batch operation to NHWC images or to one HWC image: Keras's image layers
 * accept an unbatched (height, width, channels) image and return the same shape.
 */
export function onImages(x: tf.Tensor, layer: string, f: (batch: tf.Tensor4D) => tf.Tensor4D): tf.Tensor {
  if (x.rank === 4) return f(x as tf.Tensor4D);
  if (x.rank === 3) {
    return tf.tidy(() => {
      const batch = tf.expandDims(x, 0) as tf.Tensor4D;
      return tf.squeeze(f(batch), [0]);
    });
  }
  throw new Error(`${layer} expects images of shape [batch, height, width, channels] or [height, width, channels], got shape [${x.shape.join(', ')}]`);
}
