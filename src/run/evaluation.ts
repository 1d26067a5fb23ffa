import { existsSync, promises as fsp } from 'node:fs';
import type { MultiLabelMetrics } from './multiLabelMetrics.js';
import { runPaths } from './paths.js';
import { expectedCalibrationError } from './temperature.js';

/**
 * Accuracy, Keras's cross-entropy loss, confusion matrix and per-class precision/recall/F1/support.
 * A multi-label run: `accuracy` is the exact-match ratio, `loss` the mean binary cross-entropy over
 * every (image, class), `confusion` is empty (no single predicted class), the per-class arrays are
 * `multiLabel.perClass`'s at the run's thresholds, and there is no `ece`.
 */
export interface Evaluation {
  accuracy: number;
  loss: number;
  n: number;
  classes: string[];
  /** confusion[true][predicted]; empty for a multi-label run. */
  confusion: number[][];
  precision: number[];
  recall: number[];
  /** Per class: harmonic mean of precision and recall (0 when both are 0). Absent in evaluation.json files older than this field. */
  f1: number[];
  /** Per class: how many images of that class were evaluated. */
  support: number[];
  /** Expected calibration error: 15 equal-width bins on the top-class probability, the count-weighted |accuracy - confidence| (absent in evaluation.json files older than it). */
  ece?: number;
  /** Set when the figures above are test-time augmentation's (evaluate --tta). */
  tta?: TtaRecord;
  /** Present exactly for a multi-label run: per-class figures with AP and threshold, mAP, micro/macro F1, exact match, Hamming loss. */
  multiLabel?: MultiLabelMetrics;
}

/** How a TTA evaluation's views were made, and the plain prediction's figures on the same images. */
export interface TtaRecord {
  /** Augmented views per image, blended with the plain image as fastai does: (1 - beta) x their mean + beta x plain. */
  views: number;
  beta: number;
  seed: number;
  /** The views' augmentation (the run's, or horizontal flips and the book's zoom for a run trained without). */
  augmentation: { flip: string; rotation: number; zoom: number };
  /** The plain prediction's figures; a multi-label run's ece is 0 (not computed) and it adds the plain mAP. */
  plain: { accuracy: number; loss: number; ece: number; meanAveragePrecision?: number };
}

export interface FileResult {
  file: string;
  /** Index of the true class; -1 for a multi-label run (its true labels are `labels`). */
  label: number;
  /** The class probabilities: a softmax, or a multi-label run's k independent sigmoids. */
  scores: number[];
  /** Multi-label runs: the true labels of the image, in class order. */
  labels?: string[];
  /** Multi-label runs: the labels whose probability is at or above their threshold, in class order. */
  predicted?: string[];
}

/** evaluation.json in a run folder: what `tlkit evaluate` found, read by `tlkit report`. */
export interface RunEvaluation extends Evaluation {
  /** The folder of class folders evaluated on. */
  dir: string;
  files: FileResult[];
  seconds: number;
  /** Unreadable images left out (evaluate --skip-bad-images). */
  skipped?: string[];
  imagesPerSecond: number;
  /** The precision the base ran at, fp32 or int8 (absent in evaluations written before int8: fp32). */
  basePrecision?: 'fp32' | 'int8';
  /** The temperature folded into the model evaluated (meta.json's calibration), when it has one. */
  temperature?: number;
  /** With a temperature: the ECE of the same model without it (its probabilities with the logits times T). */
  eceUncalibrated?: number;
}

export async function readEvaluationFile(runDir: string): Promise<(RunEvaluation & { data?: string }) | undefined> {
  const file = runPaths(runDir).evaluation;
  if (!existsSync(file)) return undefined;
  let e: RunEvaluation & { data?: string };
  try {
    e = JSON.parse(await fsp.readFile(file, 'utf8')) as RunEvaluation & { data?: string };
  } catch {
    return undefined;
  }
  // Files written before F1, support and the ECE were recorded: they follow from the confusion matrix and the scores.
  if (Array.isArray(e.confusion)) {
    e.support ??= e.confusion.map((row) => row.reduce((a, b) => a + b, 0));
    if (e.ece === undefined && !e.multiLabel && Array.isArray(e.files))
      e.ece = expectedCalibrationError(
        e.files.map((f) => f.scores),
        e.files.map((f) => f.label),
      );
    e.f1 ??= (e.precision ?? []).map((p, c) => (p + (e.recall?.[c] ?? 0) === 0 ? 0 : (2 * p * e.recall[c]) / (p + e.recall[c])));
  }
  return e;
}
