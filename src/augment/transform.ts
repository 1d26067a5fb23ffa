import * as tf from '@tensorflow/tfjs-core';

/** How points outside the input are filled (Keras/TF fill_mode). */
export type FillMode = 'reflect' | 'constant' | 'nearest' | 'wrap';
export const FILL_MODES: readonly FillMode[] = ['reflect', 'constant', 'nearest', 'wrap'];

/** How output pixels are sampled from the input. */
export type TransformInterpolation = 'bilinear' | 'nearest';
export const TRANSFORM_INTERPOLATIONS: readonly TransformInterpolation[] = ['bilinear', 'nearest'];

export interface SamplingOptions {
  /** Default 'reflect', as Keras: (d c b a | a b c d | d c b a). */
  fillMode?: FillMode;
  /** Default 'bilinear'. */
  interpolation?: TransformInterpolation;
  /** Value for fillMode 'constant'. Default 0. */
  fillValue?: number;
}

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
  const fill = opts.fillValue ?? 0;
  const mode = opts.fillMode ?? 'reflect';
  const bilinear = (opts.interpolation ?? 'bilinear') === 'bilinear';
  const out = new Float32Array(n * h * w * c);
  const rowStride = w * c;
  const imageSize = h * rowStride;
  // A neighbour outside the image reads fillValue (after the fill-mode mapping this
  // only happens in 'constant' mode, or with zero weight at the last row/column).
  const read = (base: number, y: number, x: number, ch: number): number =>
    y >= 0 && y < h && x >= 0 && x < w ? src[base + y * rowStride + x * c + ch] : fill;
  let o = 0;
  for (let b = 0; b < n; b++) {
    const m = b * 8;
    const [a0, a1, a2, b0, b1, b2, c0, c1] = [0, 1, 2, 3, 4, 5, 6, 7].map((k) => matrices[m + k]);
    const base = b * imageSize;
    for (let oy = 0; oy < h; oy++) {
      for (let ox = 0; ox < w; ox++) {
        const k = c0 * ox + c1 * oy + 1;
        if (k === 0) {
          for (let ch = 0; ch < c; ch++) out[o++] = fill;
          continue;
        }
        const x = mapCoord((a0 * ox + a1 * oy + a2) / k, w, mode);
        const y = mapCoord((b0 * ox + b1 * oy + b2) / k, h, mode);
        if (!bilinear) {
          const ry = roundHalfAway(y);
          const rx = roundHalfAway(x);
          for (let ch = 0; ch < c; ch++) out[o++] = read(base, ry, rx, ch);
          continue;
        }
        const y0 = Math.floor(y);
        const x0 = Math.floor(x);
        const y1 = y0 + 1;
        const x1 = x0 + 1;
        for (let ch = 0; ch < c; ch++) {
          const top = (x1 - x) * read(base, y0, x0, ch) + (x - x0) * read(base, y0, x1, ch);
          const bottom = (x1 - x) * read(base, y1, x0, ch) + (x - x0) * read(base, y1, x1, ch);
          out[o++] = (y1 - y) * top + (y - y0) * bottom;
        }
      }
    }
  }
  return out;
}

/**
 * Map an input coordinate that may fall outside [0, len - 1] back inside, as TF's
 * MapCoordinate does for each fill mode ('constant' leaves it outside).
 */
export function mapCoord(coord: number, len: number, mode: FillMode): number {
  let v = coord;
  switch (mode) {
    case 'constant':
      return v;
    case 'nearest':
      return clamp(v, len);
    case 'reflect':
      // (d c b a | a b c d | d c b a): reflection about the outer edge of the border pixel.
      if (v < 0) {
        if (len <= 1) v = 0;
        else {
          const sz2 = 2 * len;
          if (v < sz2) v = sz2 * Math.trunc(-v / sz2) + v;
          v = v < -len ? v + sz2 : -v - 1;
        }
      } else if (v > len - 1) {
        if (len <= 1) v = 0;
        else {
          const sz2 = 2 * len;
          v -= sz2 * Math.trunc(v / sz2);
          if (v >= len) v = sz2 - v - 1;
        }
      }
      return clamp(v, len);
    case 'wrap':
      // (a b c d | a b c d | a b c d)
      if (v < 0) {
        if (len <= 1) v = 0;
        else v += len * (Math.trunc(-v / (len - 1)) + 1);
      } else if (v > len - 1) {
        if (len <= 1) v = 0;
        else v -= len * Math.trunc(v / (len - 1));
      }
      return clamp(v, len);
  }
}

function clamp(v: number, len: number): number {
  // biome-ignore lint/complexity/useMathMinMax: Math.max(-0, 0) is +0; the comparisons keep the coordinate as it was.
  return v < 0 ? 0 : v > len - 1 ? len - 1 : v;
}

/** std::round: halves away from zero (Math.round rounds -0.5 up). */
function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
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
