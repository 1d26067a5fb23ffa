import path from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { RunEvaluation } from '../run/evaluation.js';
import { savedTemperature } from '../run/calibratedModel.js';
import { runPaths } from '../run/paths.js';
import { expectedCalibrationError, rescaleScores } from '../run/temperature.js';
import { partitionReadable, warnSkipped } from '../data/collect.js';
import { loadClassifier } from './classifier.js';
import type { Precision } from '../ort/int8.js';
import { evaluationFiles, scoreEvaluation } from './predictor.js';

export type { RunEvaluation } from '../run/evaluation.js';

/**
 * Evaluate a run on labelled data (test/ of the book's layout, or class folders):
 * the whole saved model on ONNX Runtime. Also writes `<run>/evaluation.json`, which
 * `tlkit report` reads for the confusion matrix, the reliability diagram and the most
 * confidently wrong images. `ece` is the model's expected calibration error; a model
 * calibrated when it was trained also gets its `temperature` and `eceUncalibrated`.
 */
export async function evaluateRun(
  runDir: string,
  data: string,
  opts: {
    batchSize?: number;
    save?: boolean;
    /** Leave out images that cannot be decoded, with a warning each (n counts the rest). */
    skipBadImages?: boolean;
    /** A run trained on an ONNX base: the file where it is now (see loadClassifier). */
    base?: string;
    /** The base's precision; default the run's own. */
    precision?: Precision;
  } = {},
): Promise<RunEvaluation> {
  const classifier = await loadClassifier(runDir, { base: opts.base, precision: opts.precision });
  let result: RunEvaluation;
  try {
    const listed = evaluationFiles(data, classifier.classNames);
    let skipped: string[] = [];
    if (opts.skipBadImages) {
      // Found up front (one decode per image), then left out of the evaluation.
      const { bad } = await partitionReadable(listed.files);
      for (const b of bad) warnSkipped(b.file, b.reason);
      skipped = bad.map((b) => b.file);
    }
    const left = new Set(skipped);
    const keep = listed.files.map((f) => !left.has(f));
    const { dir } = listed;
    const files = listed.files.filter((_, i) => keep[i]);
    const labels = listed.labels.filter((_, i) => keep[i]);
    const t0 = performance.now();
    const scores = await classifier.scoresOfFiles(files, opts.batchSize ?? 16);
    const seconds = (performance.now() - t0) / 1000;
    // A calibrated model: its ECE without the temperature too (the same scores with the logits times T).
    const temperature = await savedTemperature(runDir, classifier.meta);
    result = {
      ...scoreEvaluation(scores, labels, classifier.classNames),
      dir,
      files: files.map((file, i) => ({ file, label: labels[i], scores: scores[i] })),
      seconds,
      imagesPerSecond: files.length / Math.max(seconds, 1e-9),
      basePrecision: classifier.precision,
      ...(temperature !== undefined
        ? { temperature, eceUncalibrated: expectedCalibrationError(rescaleScores(scores, temperature), labels) }
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
