import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng } from './rng.js';
import { applyProjective, checkSampling, factorRange, type Factor, type SamplingOptions } from './transform.js';

/** Rotation angle of each image, radians, counter-clockwise positive. */
export interface RotationTransform {
  angles: Float32Array;
}

/** angle ~ U(lower, upper) x 2 pi per image; a single factor f means [-f, f] (Keras). */
export function sampleTransform(rng: Rng, n: number, factor: Factor): RotationTransform {
  const [lo, hi] = factorRange(factor, 'RandomRotation factor');
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

export interface RandomRotationArgs extends SamplingOptions {
  /** Fraction of a full turn: f means angles in [-f, f] x 2 pi; [lower, upper] for an asymmetric range. */
  factor: Factor;
  seed?: number;
  name?: string;
  inputShape?: tfl.Shape;
  batchInputShape?: tfl.Shape;
}

/** Keras RandomRotation: random rotations while training (`training: true`), identity otherwise. */
export class RandomRotation extends tfl.layers.Layer {
  static className = 'RandomRotation';
  readonly factor: Factor;
  readonly fillMode: NonNullable<SamplingOptions['fillMode']>;
  readonly interpolation: NonNullable<SamplingOptions['interpolation']>;
  readonly fillValue: number;
  readonly seed?: number;
  private readonly rng: Rng;

  constructor(args: RandomRotationArgs) {
    super({ name: args.name, inputShape: args.inputShape, batchInputShape: args.batchInputShape, trainable: false });
    factorRange(args.factor, 'RandomRotation factor');
    checkSampling(args, 'RandomRotation');
    this.factor = args.factor;
    this.fillMode = args.fillMode ?? 'reflect';
    this.interpolation = args.interpolation ?? 'bilinear';
    this.fillValue = args.fillValue ?? 0;
    this.seed = args.seed;
    this.rng = new Rng(args.seed);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    if (!kwargs?.training) return tf.clone(x);
    const t = sampleTransform(this.rng, x.shape[0], this.factor);
    return applyTransform(x, t, { fillMode: this.fillMode, interpolation: this.interpolation, fillValue: this.fillValue });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      factor: this.factor,
      fillMode: this.fillMode,
      interpolation: this.interpolation,
      fillValue: this.fillValue,
      ...(this.seed !== undefined ? { seed: this.seed } : {}),
    };
  }
}
tf.serialization.registerClass(RandomRotation);
