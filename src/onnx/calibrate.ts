import type { Ranges } from './quantize.js';

// Activation ranges from calibration batches. Every tensor keeps its min, max and a
// histogram of |x| over [0, R] whose range doubles (merging bins pairwise, exactly)
// whenever a batch goes past R, so one pass over the images serves every method:
//   minmax      the observed [min, max]
//   percentile  |x| clipped at the given percentile (default 99.99), symmetric if the tensor goes negative
// (An entropy/KL threshold search was tried too: on MobileNet's ReLU6 activations it
// clipped far too much, cosine 0.69 against 0.995, and was left out.)

export type CalibrationMethod = 'minmax' | 'percentile';

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
      const t = percentileThreshold(s, percentile);
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
