import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../io/rng.js';
import type { AugmentationParams } from './params.js';
import * as randomFlip from './randomFlip.js';
import * as randomRotation from './randomRotation.js';
import * as randomZoom from './randomZoom.js';
import { applyPlan, type AugmentPlan } from './plan.js';

/**
 * Draw a batch's augmentation in the order the Keras Sequential of the book draws it
 * (every flip, then every angle, then every zoom), so the generator's sequence, and so
 * the augmented images, are those of flip -> rotate -> zoom applied layer by layer.
 */
export function drawAugmentation(rng: Rng, shape: [number, number, number, number], p: AugmentationParams): AugmentPlan {
  const [n, h, w] = shape;
  const plan: AugmentPlan = { shape };
  if (p.flip !== 'none') {
    const f = randomFlip.sampleTransform(rng, n, p.flip);
    plan.flipHorizontal = Uint8Array.from(f.horizontal, Number);
    plan.flipVertical = Uint8Array.from(f.vertical, Number);
  }
  if (p.rotation > 0) plan.rotation = randomRotation.rotationMatrices(randomRotation.sampleTransform(rng, n, p.rotation).angles, h, w);
  if (p.zoom > 0) plan.zoom = randomZoom.zoomMatrices(randomZoom.sampleTransform(rng, n, p.zoom), h, w);
  return plan;
}

/** Flip -> rotate -> zoom on plain NHWC float data: drawAugmentation, then applyPlan. */
export function augmentPixels(
  images: Float32Array,
  shape: [number, number, number, number],
  p: AugmentationParams,
  rng: Rng,
): Float32Array {
  const out = new Float32Array(images.length);
  applyPlan(images, out, drawAugmentation(rng, shape, p));
  return out;
}

/** Flip -> rotate -> zoom, as the Keras Sequential of the book applies them while training. */
export function augmentImages(images: tf.Tensor4D, p: AugmentationParams, rng: Rng): tf.Tensor4D {
  const shape = images.shape as [number, number, number, number];
  const data = images.dataSync();
  const out = augmentPixels(data instanceof Float32Array ? data : Float32Array.from(data), shape, p, rng);
  return tf.tensor4d(out, shape, 'float32');
}
