import { initBackend } from '../engine/backend.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { evaluationFiles, RunPredictor, scoreEvaluation, type Evaluation } from './predictor.js';
import { loadRun, runPaths } from '../run/runDir.js';
import path from 'node:path';

export const EVALUATION_FILE = 'evaluation.json';

export interface FileResult {
  file: string;
  /** Index of the true class. */
  label: number;
  scores: number[];
}

export interface RunEvaluation extends Evaluation {
  /** The folder of class folders evaluated on. */
  dir: string;
  files: FileResult[];
  seconds: number;
  imagesPerSecond: number;
}

/**
 * Evaluate a run on labelled data (test/ of the book's layout, or class folders):
 * the whole saved model on ONNX Runtime. Also writes `<run>/evaluation.json`, which
 * `tlkit report` reads for the confusion matrix and the most confidently wrong images.
 */
export async function evaluateRun(runDir: string, data: string, opts: { batchSize?: number; save?: boolean } = {}): Promise<RunEvaluation> {
  await initBackend();
  const run = await loadRun(runDir);
  const { dir, files, labels } = evaluationFiles(data, run.meta.classes);
  const predictor = await RunPredictor.create(run.model!, run.meta);
  const t0 = performance.now();
  let scores: number[][];
  try {
    scores = await predictor.scores(files, opts.batchSize ?? 16);
  } finally {
    await predictor.dispose();
    run.model!.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  const result: RunEvaluation = {
    ...scoreEvaluation(scores, labels, run.meta.classes),
    dir,
    files: files.map((file, i) => ({ file, label: labels[i], scores: scores[i] })),
    seconds,
    imagesPerSecond: files.length / Math.max(seconds, 1e-9),
  };
  if (opts.save !== false) {
    await writeFileAtomic(path.join(runPaths(runDir).dir, EVALUATION_FILE), `${JSON.stringify({ ...result, data: path.resolve(data), evaluatedAt: new Date().toISOString() })}\n`);
  }
  return result;
}
