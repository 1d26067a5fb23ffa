import type * as tf from '@tensorflow/tfjs-core';

export type QuantizeMode = 'float16' | 'uint16' | 'uint8';

/** --quantize uint8 keeps tensors of fewer values at 16 bits (biases, BatchNorm statistics, depthwise kernels: about 1% of a base's weights). */
export const UINT8_MIN_VALUES = 65_536;
/** ... and a larger tensor too when uint8 would change it by more than this (root-mean-square error / root-mean-square value). */
export const UINT8_MAX_RELATIVE_ERROR = 0.02;

/** The root-mean-square error of one tensor stored at uint8 (one affine range), relative to its root-mean-square value. */
export function uint8RelativeError(values: Float32Array): number {
  let lo = Infinity;
  let hi = -Infinity;
  let power = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    power += v * v;
  }
  if (!(power > 0)) return 0;
  const r = affineRange(lo, hi);
  let err = 0;
  for (let i = 0; i < values.length; i++) {
    const d = Math.max(0, Math.min(255, Math.round((values[i] - r.min) / r.scale))) * r.scale + r.min - values[i];
    err += d * d;
  }
  return Math.sqrt(err / power);
}

/**
 * The encoding of one float32 weight under a --quantize mode. uint8 stores at uint8 only the
 * large tensors that one affine range per tensor holds to UINT8_MAX_RELATIVE_ERROR, the rest at
 * `wide` (float16; uint16 for readers without float16): one range cannot hold a BatchNorm
 * variance or a kernel whose channels differ in scale. On the shared MobileNet run, uint8 on
 * every tensor changed 1.7% of the validation labels; this rule (the head's kernel at uint8,
 * 1.4% error; the pointwise kernels, 2.7% to 4%, at float16) none (docs/performance.md#exports).
 */
export function encodingOf(
  mode: QuantizeMode,
  values: Float32Array,
  wide: 'float16' | 'uint16' = 'float16',
): Exclude<WeightEncoding, 'float32'> {
  if (mode !== 'uint8') return mode;
  return values.length >= UINT8_MIN_VALUES && uint8RelativeError(values) <= UINT8_MAX_RELATIVE_ERROR ? 'uint8' : wide;
}

/** Tensors and values per encoding of a weights manifest, e.g. { uint8: { tensors: 9, values: 14876672 }, ... }. */
export function encodingCounts(specs: tf.io.WeightsManifestEntry[]): Record<string, { tensors: number; values: number }> {
  const out: Record<string, { tensors: number; values: number }> = {};
  for (const s of specs) {
    const key = s.quantization?.dtype ?? s.dtype;
    out[key] ??= { tensors: 0, values: 0 };
    out[key].tensors += 1;
    out[key].values += s.shape.reduce((a, b) => a * b, 1);
  }
  return out;
}

/** How one float32 weight is stored: as it is, or in one of tfjs's quantized encodings. */
export type WeightEncoding = 'float32' | 'float16' | 'uint16' | 'uint8';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of a float32 value, rounded to nearest even (overflow to infinity, NaN kept). */
export function float16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const e = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const exp = e - 127 + 15;
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) {
    // Subnormal half (or zero): the implicit 1 becomes explicit and is shifted down.
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half += 1;
    return sign | half;
  }
  let half = sign | (exp << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa moves into the exponent, as it should (up to infinity).
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half += 1;
  return half;
}

/**
 * tfjs-converter's affine range (its `_get_affine_quantization_range`): scale over
 * 0..levels (255 for uint8, 65535 for uint16) and min/max nudged so that 0 is exactly representable.
 */
export function affineRange(min: number, max: number, levels = 255): { scale: number; min: number; max: number } {
  const scale = (max - min) / levels;
  if (!(scale > 0)) return { scale: 1, min, max: min };
  const zeroPoint = Math.max(0, Math.min(levels, Math.round(-min / scale)));
  return { scale, min: -zeroPoint * scale, max: (levels - zeroPoint) * scale };
}

export interface QuantizedWeights {
  specs: tf.io.WeightsManifestEntry[];
  data: ArrayBuffer;
}

/** One float32 tensor in `encoding`, with the manifest's quantization entry (tfjs's `decodeWeights` reads it back). */
export function encodeWeight(
  values: Float32Array,
  encoding: Exclude<WeightEncoding, 'float32'>,
): { bytes: Uint8Array; quantization: tf.io.WeightsManifestEntry['quantization'] } {
  const n = values.length;
  if (encoding === 'float16') {
    const half = new Uint16Array(n);
    for (let i = 0; i < n; i++) half[i] = float16Bits(values[i]);
    return { bytes: new Uint8Array(half.buffer), quantization: { dtype: 'float16' } };
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    if (values[i] < lo) lo = values[i];
    if (values[i] > hi) hi = values[i];
  }
  if (n === 0) lo = hi = 0;
  const levels = encoding === 'uint8' ? 255 : 65535;
  const r = affineRange(lo, hi, levels);
  const q = encoding === 'uint8' ? new Uint8Array(n) : new Uint16Array(n);
  for (let i = 0; i < n; i++) q[i] = Math.max(0, Math.min(levels, Math.round((values[i] - r.min) / r.scale)));
  return { bytes: new Uint8Array(q.buffer), quantization: { dtype: encoding, scale: r.scale, min: r.min } };
}

/**
 * Quantize the float32 weights of a tfjs weights manifest as tfjs-converter's
 * `--quantize_float16` / `--quantize_uint16` / `--quantize_uint8` do: each float32 tensor
 * is stored as float16, or as uint16 / uint8 with a per-tensor affine {scale, min};
 * tfjs's own `decodeWeights` (inside tf.loadLayersModel) turns them back into float32.
 * `encoding` picks the encoding of each float32 weight (a mode: the same for all).
 * Other dtypes are copied as they are.
 */
export function quantizeWeights(
  specs: tf.io.WeightsManifestEntry[],
  data: ArrayBuffer,
  encoding: WeightEncoding | ((spec: tf.io.WeightsManifestEntry, values: Float32Array) => WeightEncoding),
): QuantizedWeights {
  const parts: Uint8Array[] = [];
  const out: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    if (spec.quantization) throw new Error(`weight ${spec.name} is already quantized (${spec.quantization.dtype})`);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = n * (spec.dtype === 'bool' ? 1 : 4);
    const src = data.slice(offset, offset + bytes);
    offset += bytes;
    const values = spec.dtype === 'float32' ? new Float32Array(src) : undefined;
    const enc = !values ? 'float32' : typeof encoding === 'function' ? encoding(spec, values) : encoding;
    if (!values || enc === 'float32') {
      out.push(spec);
      parts.push(new Uint8Array(src));
      continue;
    }
    const e = encodeWeight(values, enc);
    out.push({ ...spec, quantization: e.quantization });
    parts.push(e.bytes);
  }
  const total = parts.reduce((a, p) => a + p.byteLength, 0);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.byteLength;
  }
  return { specs: out, data: joined.buffer };
}
