/**
 * Calibration figures and temperature scaling (Guo et al. 2017, "On Calibration of Modern
 * Neural Networks"): the expected calibration error over equal-width confidence bins, and
 * the temperature T that minimises the cross-entropy of logits / T on held-out data. Pure
 * arithmetic in float64, shared by training (which fits T), evaluate and the report.
 * See docs/calibration.md.
 */

/** Equal-width bins on the top-class confidence, as Guo et al. count them. */
export const ECE_BINS = 15;

/** The range T is searched in: beyond it the probabilities are all 1/k, or all 0 and 1, anyway. */
export const TEMPERATURE_RANGE = [1e-2, 1e4] as const;

export interface ReliabilityBin {
  /** The bin's confidence interval (lo, hi]. */
  lo: number;
  hi: number;
  count: number;
  /** Mean top-class confidence and accuracy of the images in the bin (0 when empty). */
  confidence: number;
  accuracy: number;
}

/** Index of the largest score (the first on ties, as predict ranks them). */
function argmax(s: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < s.length; i++) if (s[i] > s[best]) best = i;
  return best;
}

/** The reliability diagram's bins: per confidence bin, how many images, their mean confidence and accuracy. */
export function reliabilityBins(scores: number[][], labels: number[], bins = ECE_BINS): ReliabilityBin[] {
  const out = Array.from({ length: bins }, (_, b) => ({ lo: b / bins, hi: (b + 1) / bins, count: 0, confidence: 0, accuracy: 0 }));
  scores.forEach((s, i) => {
    const predicted = argmax(s);
    const confidence = s[predicted];
    // (lo, hi]: a confidence of exactly 1 goes in the last bin, 0 in the first.
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(confidence * bins) - 1));
    out[b].count += 1;
    out[b].confidence += confidence;
    out[b].accuracy += predicted === labels[i] ? 1 : 0;
  });
  for (const b of out) {
    if (b.count === 0) continue;
    b.confidence /= b.count;
    b.accuracy /= b.count;
  }
  return out;
}

/** Expected calibration error: the count-weighted mean gap between accuracy and confidence over the bins. */
export function expectedCalibrationError(scores: number[][], labels: number[], bins = ECE_BINS): number {
  const n = scores.length;
  if (n === 0) return 0;
  return reliabilityBins(scores, labels, bins).reduce((sum, b) => sum + (b.count / n) * Math.abs(b.accuracy - b.confidence), 0);
}

/**
 * The class probabilities of the same model with its logits multiplied by `factor`:
 * p_i^factor, renormalised (softmax of factor * log p; a sigmoid's [1-p, p] alike).
 * With factor T, the scores of a calibrated model become the uncalibrated model's.
 */
export function rescaleScores(scores: number[][], factor: number): number[][] {
  return scores.map((s) => {
    const logs = s.map((p) => Math.log(p) * factor);
    const max = Math.max(...logs);
    if (!Number.isFinite(max)) return [...s];
    const e = logs.map((l) => Math.exp(l - max));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / total);
  });
}

/**
 * Logits of n images: `width` values each (1: a sigmoid head's single logit, P(class 1) =
 * sigmoid(z); k: a softmax head's), row after row; labels are class indices.
 */
export interface Logits {
  values: Float32Array | Float64Array;
  width: number;
  labels: ArrayLike<number>;
}

const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

/** Mean cross-entropy of logits / T (stable: softplus and log-sum-exp in float64). */
export function temperatureNll(l: Logits, t: number): number {
  const { values, width, labels } = l;
  const n = labels.length;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (width === 1) {
      const z = values[i] / t;
      sum += labels[i] === 1 ? softplus(-z) : softplus(z);
      continue;
    }
    let max = -Infinity;
    for (let c = 0; c < width; c++) max = Math.max(max, values[i * width + c] / t);
    let total = 0;
    for (let c = 0; c < width; c++) total += Math.exp(values[i * width + c] / t - max);
    sum += max + Math.log(total) - values[i * width + labels[i]] / t;
  }
  return sum / n;
}

/** Class probabilities of logits / T, as predict gives them: a sigmoid's p becomes [1-p, p]. */
export function probabilitiesOf(l: Logits, t = 1): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < l.labels.length; i++) {
    if (l.width === 1) {
      const p = 1 / (1 + Math.exp(-l.values[i] / t));
      out.push([1 - p, p]);
      continue;
    }
    const row = Array.from(l.values.subarray(i * l.width, (i + 1) * l.width), (z) => z / t);
    const max = Math.max(...row);
    const e = row.map((z) => Math.exp(z - max));
    const total = e.reduce((a, b) => a + b, 0);
    out.push(e.map((v) => v / total));
  }
  return out;
}

export interface TemperatureFit {
  temperature: number;
  nllBefore: number;
  nllAfter: number;
  /** Set when T was not fitted: every image right, so the cross-entropy falls without end as T shrinks. */
  note?: string;
}

/** How many images the logits classify right (sign for one logit, argmax otherwise). */
function correctCount(l: Logits): number {
  let right = 0;
  for (let i = 0; i < l.labels.length; i++) {
    const predicted = l.width === 1 ? (l.values[i] > 0 ? 1 : 0) : argmax(l.values.subarray(i * l.width, (i + 1) * l.width));
    if (predicted === l.labels[i]) right++;
  }
  return right;
}

/**
 * The temperature T minimising the mean cross-entropy of logits / T. In beta = 1/T the
 * cross-entropy is convex, so in u = log T it is unimodal: a golden-section search over
 * log T in TEMPERATURE_RANGE finds the minimum (or the end of the range it lies beyond)
 * to 1e-9 of log T, with no step size to tune and no derivative to overflow. T > 0 keeps
 * every argmax (and every sign), so the accuracy is the same at any T.
 *
 * When every image is classified right, the cross-entropy keeps falling as T -> 0
 * (sharpening without end): the data shows no overconfidence to correct, and T stays 1.
 */
export function fitTemperature(l: Logits): TemperatureFit {
  const nllBefore = temperatureNll(l, 1);
  const n = l.labels.length;
  if (n === 0) return { temperature: 1, nllBefore, nllAfter: nllBefore, note: 'no validation images' };
  if (correctCount(l) === n) {
    return {
      temperature: 1,
      nllBefore,
      nllAfter: nllBefore,
      note: `every one of the ${n} validation images is classified right, so no temperature is optimal (the loss falls without end as T shrinks): the model is kept as it is (T = 1)`,
    };
  }
  const f = (u: number) => temperatureNll(l, Math.exp(u));
  let a = Math.log(TEMPERATURE_RANGE[0]);
  let b = Math.log(TEMPERATURE_RANGE[1]);
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > 1e-9) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const temperature = Math.exp((a + b) / 2);
  const nllAfter = temperatureNll(l, temperature);
  // A flat loss (every logit 0) has no better T than 1: keep the model as it is.
  if (!(nllAfter < nllBefore)) return { temperature: 1, nllBefore, nllAfter: nllBefore };
  return { temperature, nllBefore, nllAfter };
}
