/**
 * The figures of a multi-label classifier (k independent sigmoid outputs): per-class precision,
 * recall, F1 and average precision, their means, the exact-match ratio and the Hamming loss, and
 * the per-class thresholds that maximise F1. Pure float64 arithmetic shared by training (which
 * picks the thresholds), evaluate, the report, the exports and the UI.
 *
 * Layout: `probs` and `truth` are row-major n*k (image i, class c at i*k + c). A truth value
 * counts as "label present" when it is >= 0.5, so multi-hot Uint8Array and Float32Array both work.
 * See docs/multilabel.md.
 */

export interface ClassMetrics {
  name: string;
  precision: number;
  recall: number;
  f1: number;
  averagePrecision: number;
  /** How many images carry this label. */
  support: number;
  threshold: number;
}

export interface MultiLabelMetrics {
  perClass: ClassMetrics[];
  /** mAP: mean of the per-class AP over classes with support > 0. */
  meanAveragePrecision: number;
  microF1: number;
  macroF1: number;
  /** Fraction of images whose predicted label set equals the true set. */
  exactMatch: number;
  /** Fraction of wrong (image, class) decisions. */
  hammingLoss: number;
  thresholds: number[];
}

/** A class with no positive example to tune on keeps the neutral sigmoid threshold. */
const DEFAULT_THRESHOLD = 0.5;

const isPositive = (t: number): boolean => t >= 0.5;

/**
 * The precision-recall staircase of one class: one step per distinct score, highest first; at step j
 * the images scoring >= thresholds[j] are called positive, of which tp[j] truly are and fp[j] are not.
 * Sorting once makes every figure below O(n log n).
 */
export interface ScoreSteps {
  thresholds: Float64Array;
  tp: Uint32Array;
  fp: Uint32Array;
  positives: number;
}

export function scoreSteps(scores: ArrayLike<number>, truth: ArrayLike<number>): ScoreSteps {
  const n = scores.length;
  if (truth.length !== n) throw new Error(`scores (${n}) and truth (${truth.length}) differ in length`);
  // Positives and negatives sorted apart, then merged from the top: a typed array's own numeric sort is
  // several times faster than sorting indices with a comparator. A NaN score (a diverged model) ranks lowest.
  let positives = 0;
  for (let i = 0; i < n; i++) if (isPositive(truth[i])) positives++;
  const pos = new Float64Array(positives);
  const neg = new Float64Array(n - positives);
  for (let i = 0, a = 0, b = 0; i < n; i++) {
    const s = Number.isNaN(scores[i]) ? Number.NEGATIVE_INFINITY : scores[i];
    if (isPositive(truth[i])) pos[a++] = s;
    else neg[b++] = s;
  }
  pos.sort();
  neg.sort();
  // Filled in place and cut to length: growing plain arrays of doubles is the slow part at 1e5 images.
  const thresholds = new Float64Array(n);
  const tps = new Uint32Array(n);
  const fps = new Uint32Array(n);
  let m = 0;
  let p = pos.length - 1;
  let q = neg.length - 1;
  let tp = 0;
  let fp = 0;
  while (p >= 0 || q >= 0) {
    // Equal scores share one threshold, so each step takes every image at the next distinct score (as scikit-learn does).
    const t = Math.max(p >= 0 ? pos[p] : Number.NEGATIVE_INFINITY, q >= 0 ? neg[q] : Number.NEGATIVE_INFINITY);
    while (p >= 0 && pos[p] === t) {
      tp++;
      p--;
    }
    while (q >= 0 && neg[q] === t) {
      fp++;
      q--;
    }
    thresholds[m] = t;
    tps[m] = tp;
    fps[m] = fp;
    m++;
  }
  return { thresholds: thresholds.subarray(0, m), tp: tps.subarray(0, m), fp: fps.subarray(0, m), positives };
}

/** Average precision from a class's steps: sum over thresholds of (R_j - R_{j-1}) * P_j (no interpolation). */
function averagePrecisionOfSteps(s: ScoreSteps): number {
  if (s.positives === 0) return 0;
  let ap = 0;
  let previousTp = 0;
  for (let j = 0; j < s.thresholds.length; j++) {
    const tp = s.tp[j];
    if (tp !== previousTp) ap += ((tp - previousTp) / s.positives) * (tp / (tp + s.fp[j]));
    previousTp = tp;
  }
  return ap;
}

/**
 * Average precision of one class, as scikit-learn's average_precision_score: sum_n (R_n - R_{n-1}) P_n
 * over the distinct scores, highest first (tied scores form one step). 0 when the class has no positive.
 */
export function averagePrecision(scores: ArrayLike<number>, truth: ArrayLike<number>): number {
  return averagePrecisionOfSteps(scoreSteps(scores, truth));
}

/** Column c of a row-major n*k matrix. */
function column(m: ArrayLike<number>, k: number, c: number): Float64Array {
  const n = m.length / k;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = m[i * k + c];
  return out;
}

function checkShape(probs: ArrayLike<number>, truth: ArrayLike<number>, k: number): number {
  if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive whole number, got ${k}`);
  if (probs.length !== truth.length) throw new Error(`probs (${probs.length}) and truth (${truth.length}) differ in length`);
  if (probs.length % k !== 0) throw new Error(`${probs.length} values do not make rows of ${k} classes`);
  return probs.length / k;
}

/** The best F1 threshold of one class: the F1-maximising distinct score, the lowest of equal F1s. */
function bestF1Threshold(s: ScoreSteps): number {
  if (s.positives === 0) return DEFAULT_THRESHOLD;
  let best = -1;
  let threshold = DEFAULT_THRESHOLD;
  for (let j = 0; j < s.thresholds.length; j++) {
    // F1 = 2tp / (2tp + fp + fn), with fn = positives - tp.
    const f1 = (2 * s.tp[j]) / (s.tp[j] + s.fp[j] + s.positives);
    // Thresholds fall as j grows, so >= keeps the lowest of equal F1s: on held-out images a lower
    // threshold recalls more of the positives that score a little below the ones seen here.
    if (f1 >= best) {
      best = f1;
      threshold = s.thresholds[j];
    }
  }
  // Only NaN scores rank at -Infinity: calling everything positive is then a threshold of 0.
  return Math.max(threshold, 0);
}

/**
 * Per class, the threshold maximising that class's F1 on these images (a label is given when its
 * probability >= its threshold). Candidates are the distinct scores of the class; on equal F1 the lowest
 * wins; a class with no positive keeps 0.5.
 */
export function chooseThresholds(probs: ArrayLike<number>, truth: ArrayLike<number>, k: number): number[] {
  checkShape(probs, truth, k);
  return Array.from({ length: k }, (_, c) => bestF1Threshold(scoreSteps(column(probs, k, c), column(truth, k, c))));
}

/** Mean of the per-class average precision over the classes that have at least one positive (0 when none has). */
export function meanAveragePrecision(probs: ArrayLike<number>, truth: ArrayLike<number>, k: number): number {
  checkShape(probs, truth, k);
  let sum = 0;
  let counted = 0;
  for (let c = 0; c < k; c++) {
    const s = scoreSteps(column(probs, k, c), column(truth, k, c));
    if (s.positives === 0) continue;
    sum += averagePrecisionOfSteps(s);
    counted++;
  }
  return counted === 0 ? 0 : sum / counted;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/**
 * Every multi-label figure at the given thresholds. Precision, recall and F1 of a class with nothing to
 * divide by are 0 (scikit-learn's zero_division=0); macro-F1 averages all k classes, as scikit-learn does.
 */
export function multiLabelMetrics(
  probs: ArrayLike<number>,
  truth: ArrayLike<number>,
  classes: string[],
  thresholds: number[],
): MultiLabelMetrics {
  const k = classes.length;
  const n = checkShape(probs, truth, k);
  if (thresholds.length !== k) throw new Error(`${thresholds.length} thresholds for ${k} classes`);
  const tp = new Float64Array(k);
  const fp = new Float64Array(k);
  const fn = new Float64Array(k);
  let exact = 0;
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    let rowWrong = 0;
    for (let c = 0; c < k; c++) {
      const predicted = probs[i * k + c] >= thresholds[c];
      const actual = isPositive(truth[i * k + c]);
      if (predicted && actual) tp[c]++;
      else if (predicted) fp[c]++;
      else if (actual) fn[c]++;
      if (predicted !== actual) rowWrong++;
    }
    if (rowWrong === 0) exact++;
    wrong += rowWrong;
  }
  let apSum = 0;
  let apCount = 0;
  const perClass = classes.map((name, c): ClassMetrics => {
    const s = scoreSteps(column(probs, k, c), column(truth, k, c));
    const averagePrecision = averagePrecisionOfSteps(s);
    if (s.positives > 0) {
      apSum += averagePrecision;
      apCount++;
    }
    return {
      name,
      precision: ratio(tp[c], tp[c] + fp[c]),
      recall: ratio(tp[c], tp[c] + fn[c]),
      f1: ratio(2 * tp[c], 2 * tp[c] + fp[c] + fn[c]),
      averagePrecision,
      support: s.positives,
      threshold: thresholds[c],
    };
  });
  const sum = (a: Float64Array): number => a.reduce((x, y) => x + y, 0);
  return {
    perClass,
    meanAveragePrecision: ratio(apSum, apCount),
    microF1: ratio(2 * sum(tp), 2 * sum(tp) + sum(fp) + sum(fn)),
    macroF1: ratio(
      perClass.reduce((a, p) => a + p.f1, 0),
      k,
    ),
    exactMatch: ratio(exact, n),
    hammingLoss: ratio(wrong, n * k),
    thresholds: [...thresholds],
  };
}
