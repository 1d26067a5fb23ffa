import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

type LayerInput = tf.Tensor | tf.Tensor[] | tfl.SymbolicTensor | tfl.SymbolicTensor[];
type Kwargs = { training?: boolean; [key: string]: unknown };

/**
 * The `training` flag an augmentation layer runs with. Keras 3 declares
 * `call(inputs, training=True)`: a layer, or a Sequential of them (the book's
 * `data_augmentation(images)`), called directly on images augments unless told
 * `training=False`, while `fit` passes true and `predict`/`evaluate` pass false.
 * tfjs-layers 4.22 reaches the layer's `apply` in three ways: a user calling
 * `layer.apply(images)` passes one tensor; a model run by `fit`, `predict` or
 * `evaluate` passes its inputs as an ARRAY with `{ training: true }` (fit) or no
 * kwargs at all (predict, evaluate); a model called directly, `model.apply(images,
 * kwargs)`, passes an array with the caller's kwargs object (`{}` when none). So:
 * an explicit flag wins; one tensor, or an array with a kwargs object, trains
 * (Keras's default); an array without kwargs is predict/evaluate: inference.
 */
export function withTrainingDefault(inputs: LayerInput, kwargs: Kwargs | undefined): Kwargs | undefined {
  if (kwargs?.training !== undefined && kwargs.training !== null) return kwargs;
  const concrete = Array.isArray(inputs) ? inputs.length > 0 && inputs.every((t) => t instanceof tf.Tensor) : inputs instanceof tf.Tensor;
  if (!concrete) return kwargs;
  if (Array.isArray(inputs) && kwargs === undefined) return { training: false };
  return { ...kwargs, training: true };
}

/** Keras's default for a call that reaches `call` without a flag (see withTrainingDefault). */
export function isTraining(kwargs: Kwargs | undefined): boolean {
  return kwargs?.training ?? true;
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
  throw new Error(
    `${layer} expects images of shape [batch, height, width, channels] or [height, width, channels], got shape [${x.shape.join(', ')}]`,
  );
}
