import path from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { RunEvaluation } from '../run/evaluation.js';
import { savedTemperature } from '../run/calibratedModel.js';
import { runPaths } from '../run/paths.js';
import { expectedCalibrationError, rescaleScores } from '../run/temperature.js';
import { partitionReadable, warnSkipped } from '../data/collect.js';
import { loadClassifier, withTtaRecord } from './classifier.js';
import type { TtaSetting } from './tta.js';
import type { Precision } from '../ort/int8.js';
import type { LabelsTableOptions } from '../data/labelsTable.js';
import { evaluationListing, keepListed, scoreListing } from './labelledFiles.js';
import { labelsAbove } from './multiLabel.js';

export type { RunEvaluation } from '../run/evaluation.js';

/**
 * Evaluate a run on labelled data (test/ of the book's layout, or class folders):
 * the whole saved model on ONNX Runtime. Also writes `<run>/evaluation.json`, which
 * `tlkit report` reads for the confusion matrix, the reliability diagram and the most
 * confidently wrong images. `ece` is the model's expected calibration error; a model
 * calibrated when it was trained also gets its `temperature` and `eceUncalibrated`.
 * With `tta`, every figure is the test-time-augmented prediction's, and `tta` records the
 * views and the plain prediction's accuracy, loss and ECE on the same images (one pass).
 * A multi-label run is evaluated on a labels `table` (its rows' label lists) at the run's
 * thresholds: `multiLabel` holds the figures, and each file its true and predicted labels.
 */
export async function evaluateRun(
  runDir: string,
  data: string,
  opts: {
    batchSize?: number;
    save?: boolean;
    /** Leave out images that cannot be decoded, with a warning each (n counts the rest). */
    skipBadImages?: boolean;
    /** Labels from a table over `data` (every row is evaluated) instead of class folders; what a multi-label run needs. */
    table?: LabelsTableOptions;
    /** A run trained on an ONNX base: the file where it is now (see loadClassifier). */
    base?: string;
    /** The base's precision; default the run's own. */
    precision?: Precision;
    /** Test-time augmentation: the number of augmented views, or { views, beta, seed, augmentation } (see tta.ts). */
    tta?: TtaSetting;
    /** Called after each batch with the images done and the total. */
    onProgress?: (done: number, total: number) => void;
  } = {},
): Promise<RunEvaluation> {
  const classifier = await loadClassifier(runDir, { base: opts.base, precision: opts.precision });
  let result: RunEvaluation;
  try {
    const plan = opts.tta !== undefined ? classifier.ttaPlan(opts.tta) : undefined;
    const listed = evaluationListing(data, classifier.meta, opts.table);
    const classes = classifier.classNames;
    const thresholds = classifier.thresholds;
    let skipped: string[] = [];
    if (opts.skipBadImages) {
      // Found up front (one decode per image), then left out of the evaluation.
      const { bad } = await partitionReadable(listed.files);
      for (const b of bad) warnSkipped(b.file, b.reason);
      skipped = bad.map((b) => b.file);
    }
    const left = new Set(skipped);
    const kept = keepListed(
      listed,
      listed.files.map((f) => !left.has(f)),
    );
    const { dir, files, labels, labelLists } = kept;
    const t0 = performance.now();
    const batchSize = opts.batchSize ?? 16;
    const both = plan ? await classifier.ttaScoresOfFiles(files, plan, batchSize, opts.onProgress) : undefined;
    const scores = both ? both.tta : await classifier.scoresOfFiles(files, batchSize, { onProgress: opts.onProgress });
    const seconds = (performance.now() - t0) / 1000;
    const scored = scoreListing(scores, kept, classes, thresholds);
    // A calibrated model: its ECE without the temperature too (the same scores with the logits times T).
    // Not for a TTA blend: rescaling a mean of probabilities is not the mean of the rescaled views.
    const temperature = thresholds ? undefined : await savedTemperature(runDir, classifier.meta);
    result = {
      ...(both && plan ? withTtaRecord(scored, scoreListing(both.plain, kept, classes, thresholds), plan) : scored),
      dir,
      files: files.map((file, i) => ({
        file,
        label: labels[i],
        scores: scores[i],
        ...(labelLists && thresholds ? { labels: labelLists[i], predicted: labelsAbove(scores[i], classes, thresholds) } : {}),
      })),
      seconds,
      imagesPerSecond: files.length / Math.max(seconds, 1e-9),
      basePrecision: classifier.precision,
      ...(temperature !== undefined
        ? { temperature, ...(plan ? {} : { eceUncalibrated: expectedCalibrationError(rescaleScores(scores, temperature), labels) }) }
        : {}),
      ...(skipped.length ? { skipped } : {}),
    };
  } finally {
    await classifier.dispose();
  }
  if (opts.save !== false) {
    await writeFileAtomic(
      runPaths(runDir).evaluation,
      `${JSON.stringify({ ...result, data: path.resolve(data), evaluatedAt: new Date().toISOString() })}\n`,
    );
  }
  return result;
}
