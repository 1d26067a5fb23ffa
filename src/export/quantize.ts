import type * as tf from '@tensorflow/tfjs-core';

export type QuantizeMode = 'float16' | 'uint8';

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
 * 0..255 and min/max nudged so that 0 is exactly representable.
 */
export function affineRange(min: number, max: number): { scale: number; min: number; max: number } {
  const scale = (max - min) / 255;
  if (!(scale > 0)) return { scale: 1, min, max: min };
  const zeroPoint = Math.max(0, Math.min(255, Math.round(-min / scale)));
  return { scale, min: -zeroPoint * scale, max: (255 - zeroPoint) * scale };
}

export interface QuantizedWeights {
  specs: tf.io.WeightsManifestEntry[];
  data: ArrayBuffer;
}

/**
 * Quantize the float32 weights of a tfjs weights manifest the way tfjs-converter's
 * `--quantize_float16` / `--quantize_uint8` do: each float32 tensor is stored as
 * float16, or as uint8 with a per-tensor affine {scale, min}; tfjs's own
 * `decodeWeights` (inside tf.loadLayersModel) turns them back into float32.
 * Other dtypes are copied as they are.
 */
export function quantizeWeights(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer, mode: QuantizeMode): QuantizedWeights {
  const parts: Uint8Array[] = [];
  const out: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    if (spec.quantization) throw new Error(`weight ${spec.name} is already quantized (${spec.quantization.dtype})`);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = n * (spec.dtype === 'bool' ? 1 : 4);
    const src = data.slice(offset, offset + bytes);
    offset += bytes;
    if (spec.dtype !== 'float32') {
      out.push(spec);
      parts.push(new Uint8Array(src));
      continue;
    }
    const values = new Float32Array(src);
    if (mode === 'float16') {
      const half = new Uint16Array(n);
      for (let i = 0; i < n; i++) half[i] = float16Bits(values[i]);
      out.push({ ...spec, quantization: { dtype: 'float16' } });
      parts.push(new Uint8Array(half.buffer));
    } else {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < n; i++) {
        if (values[i] < lo) lo = values[i];
        if (values[i] > hi) hi = values[i];
      }
      if (n === 0) lo = hi = 0;
      const r = affineRange(lo, hi);
      const q = new Uint8Array(n);
      for (let i = 0; i < n; i++) q[i] = Math.max(0, Math.min(255, Math.round((values[i] - r.min) / r.scale)));
      out.push({ ...spec, quantization: { dtype: 'uint8', scale: r.scale, min: r.min } });
      parts.push(q);
    }
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
