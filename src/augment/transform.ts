import * as tf from '@tensorflow/tfjs-core';
import { FILL_MODES, TRANSFORM_INTERPOLATIONS, warpImage, type SamplingOptions } from './kernels.js';

export type { FillMode, SamplingOptions } from './kernels.js';

/**
 * Warp each image with its own projective matrix [a0 a1 a2 b0 b1 b2 c0 c1] (TF's
 * ImageProjectiveTransformV3 convention: it maps an OUTPUT pixel (x, y) to the input
 * point ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1).
 *
 * Computed in JS on the tensor's data rather than with tf.image.transform, whose
 * kernels in tfjs 4.22 are wrong: the wasm one returned misplaced rows for a
 * 90-degree rotation of a 4x4 ramp, the cpu one transforms only the first image of a
 * batch (it returns inside its batch loop). Augmentation sits in front of the frozen
 * base, so no gradient has to flow through it.
 */
export function applyProjective(images: tf.Tensor4D, matrices: Float32Array, opts: SamplingOptions = {}): tf.Tensor4D {
  const [n, h, w, c] = images.shape;
  if (matrices.length !== n * 8) throw new Error(`expected ${n * 8} transform values for ${n} images, got ${matrices.length}`);
  const src = images.dataSync() as Float32Array | Int32Array | Uint8Array;
  const out = projectiveTransform(src, [n, h, w, c], matrices, opts);
  return tf.tensor4d(out, [n, h, w, c], 'float32');
}

/** applyProjective on plain arrays: NHWC in, NHWC float32 out (same size). */
export function projectiveTransform(
  src: ArrayLike<number>,
  shape: [number, number, number, number],
  matrices: ArrayLike<number>,
  opts: SamplingOptions = {},
): Float32Array {
  const [n, h, w, c] = shape;
  const out = new Float32Array(n * h * w * c);
  const imageSize = h * w * c;
  for (let b = 0; b < n; b++) warpImage(src, b * imageSize, out, b * imageSize, [h, w, c], matrices, b * 8, opts);
  return out;
}

/** A factor given as one number f (meaning [-f, f]) or as [lower, upper]. */
export type Factor = number | [number, number];

/**
 * [lower, upper] of a factor, as Keras reads it: one number f means [-|f|, |f|]; a
 * pair is sorted, so [0.4, -0.2] is the range [-0.2, 0.4]. `bounds` are Keras's
 * (rotation [-1, 1], zoom (-1, 1]): a single number must lie within them; each value
 * of a pair too, unless `pairCheck` is 'ends', Keras's base-layer rule (used by
 * RandomRotation), which only rejects a pair whose first value is above the upper
 * bound or whose second is below the lower one. `name` is used in the error.
 */
export function factorRange(
  factor: Factor,
  name: string,
  bounds: { min: number; max: number; minExclusive?: boolean; pairCheck?: 'each' | 'ends' } = { min: -Infinity, max: Infinity },
): [number, number] {
  const isPair = Array.isArray(factor) && factor.length === 2;
  const values = typeof factor === 'number' ? [factor] : isPair ? [factor[0], factor[1]] : [];
  const inBounds = (v: number) => (bounds.minExclusive ? v > bounds.min : v >= bounds.min) && v <= bounds.max;
  const ok =
    values.length > 0 &&
    values.every((v) => typeof v === 'number' && Number.isFinite(v)) &&
    (typeof factor === 'number' || bounds.pairCheck !== 'ends'
      ? values.every(inBounds)
      : !(values[0] > bounds.max || values[1] < bounds.min));
  if (!ok) {
    const range = Number.isFinite(bounds.min) ? ` with every value in ${bounds.minExclusive ? '(' : '['}${bounds.min}, ${bounds.max}]` : '';
    throw new Error(`${name} must be a number or a pair [lower, upper]${range}, got ${JSON.stringify(factor)}`);
  }
  if (typeof factor === 'number') return [-Math.abs(factor), Math.abs(factor)];
  const [a, b] = values;
  return a <= b ? [a, b] : [b, a];
}

export function checkSampling(opts: SamplingOptions, layer: string): void {
  if (opts.fillMode !== undefined && !FILL_MODES.includes(opts.fillMode)) {
    throw new Error(`${layer}: fillMode must be one of ${FILL_MODES.join(', ')}, got '${opts.fillMode}'`);
  }
  if (opts.interpolation !== undefined && !TRANSFORM_INTERPOLATIONS.includes(opts.interpolation)) {
    throw new Error(`${layer}: interpolation must be 'bilinear' or 'nearest', got '${opts.interpolation}'`);
  }
}
