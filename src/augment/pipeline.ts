import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../io/rng.js';
import type { AugmentationParams } from './params.js';
import * as randomFlip from './randomFlip.js';
import * as randomRotation from './randomRotation.js';
import * as randomZoom from './randomZoom.js';

/** Flip -> rotate -> zoom, as the Keras Sequential of the book applies them while training. */
export function augmentImages(images: tf.Tensor4D, p: AugmentationParams, rng: Rng): tf.Tensor4D {
  return tf.tidy(() => {
    const n = images.shape[0];
    let x = images;
    if (p.flip !== 'none') x = randomFlip.applyTransform(x, randomFlip.sampleTransform(rng, n, p.flip));
    if (p.rotation > 0) x = randomRotation.applyTransform(x, randomRotation.sampleTransform(rng, n, p.rotation));
    if (p.zoom > 0) x = randomZoom.applyTransform(x, randomZoom.sampleTransform(rng, n, p.zoom));
    return x;
  });
}
