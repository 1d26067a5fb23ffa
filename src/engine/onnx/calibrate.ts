import type { Ranges } from './quantize.js';

// Activation ranges from calibration batches. Every tensor keeps its min, max and a
// histogram of |x| over [0, R] whose range doubles (merging bins pairwise, exactly)
// whenever a batch goes past R, so one pass over the images serves every method:
//   minmax      the observed [min, max]
//   percentile  |x| clipped at the given percentile (default 99.99), symmetric if the tensor goes negative
//   entropy     the clipping threshold minimising the KL divergence between the
//               clipped-and-quantized histogram and the original (TensorRT's method)

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

const BINS = 2048;

interface Stats {
  min: number;
  max: number;
  /** Histogram range: bins cover [0, range]. */
  range: number;
  bins: Float64Array;
}

export class RangeCollector {
  private readonly stats = new Map<string, Stats>();

  /** Fold one batch of a tensor's values in. */
  add(name: string, data: Float32Array): void {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (!Number.isFinite(min) || !Number.isFinite(max)) throw new Error(`calibration: tensor ${name} has non-finite values`);
    const amax = Math.max(-min, max);
    let s = this.stats.get(name);
    if (!s) {
      s = { min, max, range: amax > 0 ? amax : 1, bins: new Float64Array(BINS) };
      this.stats.set(name, s);
    }
    s.min = Math.min(s.min, min);
    s.max = Math.max(s.max, max);
    while (amax > s.range) {
      // Double the range: new bin i holds old bins 2i and 2i+1.
      const b = s.bins;
      for (let i = 0; i < BINS / 2; i++) b[i] = b[2 * i] + b[2 * i + 1];
      b.fill(0, BINS / 2);
      s.range *= 2;
    }
    const k = BINS / s.range;
    const bins = s.bins;
    for (let i = 0; i < data.length; i++) {
      const j = (Math.abs(data[i]) * k) | 0;
      bins[j < BINS ? j : BINS - 1]++;
    }
  }

  /** The [low, high] of every tensor seen, by `method`. */
  ranges(method: CalibrationMethod, percentile = 99.99): Ranges {
    const out: Ranges = {};
    for (const [name, s] of this.stats) {
      if (method === 'minmax') {
        out[name] = [s.min, s.max];
        continue;
      }
      const t = method === 'percentile' ? percentileThreshold(s, percentile) : entropyThreshold(s);
      // One-sided tensors (after a Relu) keep all 256 levels on their side.
      out[name] = s.min >= 0 ? [0, Math.min(t, s.max)] : [Math.max(-t, s.min), Math.min(t, s.max)];
    }
    return out;
  }
}

function percentileThreshold(s: Stats, percentile: number): number {
  const total = s.bins.reduce((a, b) => a + b, 0);
  const target = (total * percentile) / 100;
  let acc = 0;
  for (let i = 0; i < BINS; i++) {
    acc += s.bins[i];
    if (acc >= target) return ((i + 1) * s.range) / BINS;
  }
  return s.range;
}

/**
 * TensorRT's entropy calibration over the |x| histogram: for each candidate
 * threshold (from 128 bins up), fold the outliers into the last bin, quantize the
 * kept bins to 128 levels, and pick the threshold whose expanded histogram is
 * closest (KL divergence) to the reference.
 */
function entropyThreshold(s: Stats): number {
  const levels = 128;
  const n = BINS;
  const h = s.bins;
  let last = n;
  while (last > levels && h[last - 1] === 0) last--;
  let best = n;
  let bestKl = Infinity;
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  for (let t = levels; t <= last; t++) {
    p.set(h.subarray(0, t));
    let outliers = 0;
    for (let i = t; i < n; i++) outliers += h[i];
    p[t - 1] += outliers;
    // Quantize p[0..t) into `levels` groups; spread each group's mass over its non-empty bins.
    q.fill(0, 0, t);
    const width = t / levels;
    for (let j = 0; j < levels; j++) {
      const start = Math.floor(j * width);
      const end = j === levels - 1 ? t : Math.floor((j + 1) * width);
      let sum = 0;
      let nonEmpty = 0;
      for (let i = start; i < end; i++) {
        sum += p[i];
        if (p[i] > 0) nonEmpty++;
      }
      if (nonEmpty) for (let i = start; i < end; i++) if (p[i] > 0) q[i] = sum / nonEmpty;
    }
    const kl = klDivergence(p, q, t);
    if (kl < bestKl) {
      bestKl = kl;
      best = t;
    }
  }
  return (best * s.range) / n;
}

function klDivergence(p: Float64Array, q: Float64Array, n: number): number {
  let ps = 0;
  let qs = 0;
  for (let i = 0; i < n; i++) {
    ps += p[i];
    qs += q[i];
  }
  if (ps === 0 || qs === 0) return Infinity;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    if (p[i] === 0) continue;
    const pi = p[i] / ps;
    const qi = q[i] / qs;
    kl += qi === 0 ? pi * 20 : pi * Math.log(pi / qi); // an empty q bin where p has mass: a large, finite penalty
  }
  return kl;
}
