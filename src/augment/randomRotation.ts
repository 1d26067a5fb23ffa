import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../io/rng.js';
import { ResamplingLayer, type ResamplingLayerArgs } from './resamplingLayer.js';
import { applyProjective, factorRange, type Factor, type SamplingOptions } from './transform.js';

/** Rotation angle of each image, radians, counter-clockwise positive. */
export interface RotationTransform {
  angles: Float32Array;
}

/**
 * Keras's checks of a rotation factor: a number in [-1, 1] (a full turn each way); a
 * pair is rejected when its first value is above 1 or its second below -1 (Keras's
 * base-layer rule, checked as given), then sorted.
 */
export function rotationRange(factor: Factor): [number, number] {
  return factorRange(factor, 'RandomRotation factor', { min: -1, max: 1, pairCheck: 'ends' });
}

/** angle ~ U(lower, upper) x 2 pi per image; a single factor f means [-f, f] (Keras). */
export function sampleTransform(rng: Rng, n: number, factor: Factor): RotationTransform {
  const [lo, hi] = rotationRange(factor);
  const angles = new Float32Array(n);
  for (let i = 0; i < n; i++) angles[i] = rng.uniform(lo * 2 * Math.PI, hi * 2 * Math.PI);
  return { angles };
}

/**
 * Keras's rotation matrix about the image centre: output (x, y) samples the input at
 * (cos x - sin y + ox, sin x + cos y + oy), which in image coordinates (y down) turns
 * the picture counter-clockwise for a positive angle.
 */
export function rotationMatrices(angles: Float32Array, height: number, width: number): Float32Array {
  const m = new Float32Array(angles.length * 8);
  const w = width - 1;
  const h = height - 1;
  angles.forEach((a, i) => {
    const c = Math.cos(a);
    const s = Math.sin(a);
    m.set([c, -s, (w - (c * w - s * h)) / 2, s, c, (h - (s * w + c * h)) / 2, 0, 0], i * 8);
  });
  return m;
}

export function applyTransform(images: tf.Tensor4D, t: RotationTransform, opts: SamplingOptions = {}): tf.Tensor4D {
  const [, height, width] = images.shape;
  return applyProjective(images, rotationMatrices(t.angles, height, width), opts);
}

export interface RandomRotationArgs extends ResamplingLayerArgs {
  /** Fraction of a full turn: f means angles in [-f, f] x 2 pi; [lower, upper] for an asymmetric range. */
  factor: Factor;
}

/** Keras RandomRotation: random rotations while training (`training: true`), identity otherwise. */
export class RandomRotation extends ResamplingLayer {
  static className = 'RandomRotation';
  readonly factor: Factor;

  constructor(args: RandomRotationArgs) {
    super(args, 'RandomRotation');
    rotationRange(args.factor);
    this.factor = args.factor;
  }

  protected augment(x: tf.Tensor4D, sampling: SamplingOptions): tf.Tensor4D {
    return applyTransform(x, sampleTransform(this.rng, x.shape[0], this.factor), sampling);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), factor: this.factor };
  }
}
tf.serialization.registerClass(RandomRotation);
