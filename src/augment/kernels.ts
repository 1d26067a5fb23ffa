// The augmentation's per-image work on plain arrays, without tfjs: the layers, the
// training pipeline and its worker threads (which load only this and plan.ts) share it.

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
 * Warp one HWC image of `src` (starting at `srcAt`) into `dst` (at `dstAt`) with the
 * matrix at `matrices[m..m + 8]`. Every output value is the same float64 expression
 * of the same inputs as TF's per-pixel formula, so any split of a batch into images
 * (threads, workers) gives bit-identical results. Coordinates already inside the
 * image skip the fill-mode mapping (it is the identity there, in every mode), and
 * neighbours all inside skip the bounds checks.
 */
export function warpImage(
  src: ArrayLike<number>,
  srcAt: number,
  dst: Float32Array,
  dstAt: number,
  [h, w, c]: [number, number, number],
  matrices: ArrayLike<number>,
  m: number,
  opts: SamplingOptions = {},
): void {
  const fill = opts.fillValue ?? 0;
  const mode = opts.fillMode ?? 'reflect';
  const bilinear = (opts.interpolation ?? 'bilinear') === 'bilinear';
  const rowStride = w * c;
  const a0 = matrices[m];
  const a1 = matrices[m + 1];
  const a2 = matrices[m + 2];
  const b0 = matrices[m + 3];
  const b1 = matrices[m + 4];
  const b2 = matrices[m + 5];
  const c0 = matrices[m + 6];
  const c1 = matrices[m + 7];
  // A neighbour outside the image reads fillValue (after the fill-mode mapping this
  // only happens in 'constant' mode, or with zero weight at the last row/column).
  const read = (y: number, x: number, ch: number): number =>
    y >= 0 && y < h && x >= 0 && x < w ? src[srcAt + y * rowStride + x * c + ch] : fill;
  let o = dstAt;
  for (let oy = 0; oy < h; oy++) {
    for (let ox = 0; ox < w; ox++) {
      const k = c0 * ox + c1 * oy + 1;
      if (k === 0) {
        for (let ch = 0; ch < c; ch++) dst[o++] = fill;
        continue;
      }
      let x = (a0 * ox + a1 * oy + a2) / k;
      let y = (b0 * ox + b1 * oy + b2) / k;
      if (!(x >= 0 && x <= w - 1)) x = mapCoord(x, w, mode);
      if (!(y >= 0 && y <= h - 1)) y = mapCoord(y, h, mode);
      if (!bilinear) {
        const ry = roundHalfAway(y);
        const rx = roundHalfAway(x);
        for (let ch = 0; ch < c; ch++) dst[o++] = read(ry, rx, ch);
        continue;
      }
      const y0 = Math.floor(y);
      const x0 = Math.floor(x);
      const y1 = y0 + 1;
      const x1 = x0 + 1;
      const wx1 = x1 - x;
      const wx0 = x - x0;
      const wy1 = y1 - y;
      const wy0 = y - y0;
      if (y0 >= 0 && y1 < h && x0 >= 0 && x1 < w) {
        const p00 = srcAt + y0 * rowStride + x0 * c;
        const p10 = p00 + rowStride;
        if (c === 3) {
          dst[o] = wy1 * (wx1 * src[p00] + wx0 * src[p00 + 3]) + wy0 * (wx1 * src[p10] + wx0 * src[p10 + 3]);
          dst[o + 1] = wy1 * (wx1 * src[p00 + 1] + wx0 * src[p00 + 4]) + wy0 * (wx1 * src[p10 + 1] + wx0 * src[p10 + 4]);
          dst[o + 2] = wy1 * (wx1 * src[p00 + 2] + wx0 * src[p00 + 5]) + wy0 * (wx1 * src[p10 + 2] + wx0 * src[p10 + 5]);
          o += 3;
          continue;
        }
        for (let ch = 0; ch < c; ch++) {
          const top = wx1 * src[p00 + ch] + wx0 * src[p00 + c + ch];
          const bottom = wx1 * src[p10 + ch] + wx0 * src[p10 + c + ch];
          dst[o++] = wy1 * top + wy0 * bottom;
        }
        continue;
      }
      for (let ch = 0; ch < c; ch++) {
        const top = wx1 * read(y0, x0, ch) + wx0 * read(y0, x1, ch);
        const bottom = wx1 * read(y1, x0, ch) + wx0 * read(y1, x1, ch);
        dst[o++] = wy1 * top + wy0 * bottom;
      }
    }
  }
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

/**
 * Copy one HWC image from `src` (at `srcAt`) to `dst` (at `dstAt`), reversing its
 * columns (`horizontal`) and/or its rows (`vertical`). A plain copy of the values:
 * what tf.reverse gives, without the backend's per-op cost.
 */
export function flipImage(
  src: ArrayLike<number>,
  srcAt: number,
  dst: { [i: number]: number },
  dstAt: number,
  [h, w, c]: [number, number, number],
  horizontal: boolean,
  vertical: boolean,
): void {
  const rowStride = w * c;
  for (let y = 0; y < h; y++) {
    const from = srcAt + (vertical ? h - 1 - y : y) * rowStride;
    let o = dstAt + y * rowStride;
    for (let x = 0; x < w; x++) {
      const p = from + (horizontal ? w - 1 - x : x) * c;
      for (let ch = 0; ch < c; ch++) dst[o++] = src[p + ch];
    }
  }
}
