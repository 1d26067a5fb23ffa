import { UserError } from '../errors.js';
import type { Evaluation } from '../run/evaluation.js';
import type { RunMeta } from '../run/meta.js';
import { multiLabelMetrics } from '../run/multiLabelMetrics.js';

// A multi-label run's model gives k independent sigmoid probabilities (meta.labelMode
// 'multi-label'): an image gets every label whose probability is at or above that label's
// threshold (meta.thresholds), possibly none, possibly all.

/** Labels joined in one text cell when the run records no --label-delim (csv, text). */
export const DEFAULT_LABEL_JOIN = ';';

/** Keras's backend epsilon: probabilities are clipped to [eps, 1 - eps] in the cross-entropy. */
const EPSILON = 1e-7;

/** True for a run whose output is one sigmoid per class. */
export function isMultiLabel(meta: Pick<RunMeta, 'labelMode'>): boolean {
  return meta.labelMode === 'multi-label';
}

/**
 * The decision thresholds of a multi-label run, one per class: `override` for every class
 * when given (predict --threshold), else meta.json's, checked (a UserError on a damaged file).
 */
export function runThresholds(meta: Pick<RunMeta, 'classes' | 'thresholds'>, override?: number): number[] {
  const k = meta.classes.length;
  if (override !== undefined) return new Array<number>(k).fill(override);
  const t = meta.thresholds;
  if (!Array.isArray(t) || t.length !== k || !t.every((x) => typeof x === 'number' && x >= 0 && x <= 1)) {
    throw new UserError(
      `The run's meta.json is multi-label but ${Array.isArray(t) ? `its thresholds [${t.join(', ')}] are not ${k} probabilities from 0 to 1` : 'has no thresholds'} (one per class: ${meta.classes.join(', ')}). ` +
        'Train the run again; predict also takes --threshold P (threshold from code), which gives every class the threshold P.',
    );
  }
  return t.slice();
}

/**
 * The text a run's label lists are joined with: the --label-delim it was trained with (from
 * meta.json's options), else ';'. `avoid` are characters the output format cannot hold in a cell.
 */
export function labelJoin(meta: Pick<RunMeta, 'options'>, avoid = ''): string {
  const d = meta.options?.labelDelim;
  if (typeof d !== 'string' || d === '' || [...avoid].some((c) => d.includes(c))) return DEFAULT_LABEL_JOIN;
  return d;
}

/** The labels of one image at the thresholds (probability >= threshold), in class order. */
export function labelsAbove(scores: ArrayLike<number>, classes: string[], thresholds: number[]): string[] {
  return classes.filter((_, c) => scores[c] >= thresholds[c]);
}

/** One image of a multi-label run, as the library's predict gives it. */
export interface MultiLabelPrediction {
  /** The most probable class and its probability (given or not: see `labels`). */
  label: string;
  probability: number;
  /** Every class, most probable first (the first `topK` when asked). */
  probabilities: Array<{ label: string; probability: number }>;
  /** The labels at or above their thresholds, in class order: none, one or several. */
  labels: string[];
}

/** One image's probabilities -> its labels at the thresholds and every class probability (stable sort: ties keep class order). */
export function multiLabelPrediction(
  scores: number[],
  classes: string[],
  thresholds: number[],
  opts: { topK?: number } = {},
): MultiLabelPrediction {
  const all = scores.map((p, i) => ({ label: classes[i], probability: p, i })).sort((a, b) => b.probability - a.probability || a.i - b.i);
  const kept = opts.topK !== undefined ? all.slice(0, Math.max(1, opts.topK)) : all;
  return {
    label: all[0].label,
    probability: all[0].probability,
    probabilities: kept.map(({ label, probability }) => ({ label, probability })),
    labels: labelsAbove(scores, classes, thresholds),
  };
}

/** Label lists -> a row-major n*k multi-hot matrix (1 = the image has that class). */
export function multiHot(labelLists: string[][], classes: string[]): Uint8Array {
  const k = classes.length;
  const index = new Map(classes.map((c, i) => [c, i]));
  const out = new Uint8Array(labelLists.length * k);
  labelLists.forEach((labels, i) => {
    for (const l of labels) {
      const c = index.get(l);
      if (c === undefined) throw new Error(`label '${l}' is not one of the classes [${classes.join(', ')}]`);
      out[i * k + c] = 1;
    }
  });
  return out;
}

/** Mean binary cross-entropy over every (image, class), probabilities clipped as Keras clips them. */
export function binaryCrossEntropy(probs: ArrayLike<number>, truth: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = Math.min(1 - EPSILON, Math.max(EPSILON, probs[i]));
    sum += truth[i] >= 0.5 ? -Math.log(p) : -Math.log(1 - p);
  }
  return probs.length ? sum / probs.length : 0;
}

/**
 * A multi-label evaluation: the metrics of run/multiLabelMetrics at the thresholds, with
 * the Evaluation fields every reader knows: accuracy = the exact-match ratio, loss = the mean
 * binary cross-entropy, the per-class arrays from the per-class figures, no confusion matrix.
 */
export function scoreMultiLabel(scores: number[][], truth: string[][], classes: string[], thresholds: number[]): Evaluation {
  const k = classes.length;
  const probs = new Float64Array(scores.length * k);
  scores.forEach((s, i) => {
    if (s.length !== k) throw new Error(`image ${i} has ${s.length} probabilities for ${k} classes`);
    probs.set(s, i * k);
  });
  const hot = multiHot(truth, classes);
  const m = multiLabelMetrics(probs, hot, classes, thresholds);
  return {
    accuracy: m.exactMatch,
    loss: binaryCrossEntropy(probs, hot),
    n: scores.length,
    classes,
    confusion: [],
    precision: m.perClass.map((c) => c.precision),
    recall: m.perClass.map((c) => c.recall),
    f1: m.perClass.map((c) => c.f1),
    support: m.perClass.map((c) => c.support),
    multiLabel: m,
  };
}
