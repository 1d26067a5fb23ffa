import { existsSync, promises as fsp } from 'node:fs';
import { runPaths } from './paths.js';

/** Accuracy, Keras's cross-entropy loss, confusion matrix and per-class precision/recall. */
export interface Evaluation {
  accuracy: number;
  loss: number;
  n: number;
  classes: string[];
  /** confusion[true][predicted] */
  confusion: number[][];
  precision: number[];
  recall: number[];
}

export interface FileResult {
  file: string;
  /** Index of the true class. */
  label: number;
  scores: number[];
}

/** evaluation.json in a run folder: what `tlkit evaluate` found, read by `tlkit report`. */
export interface RunEvaluation extends Evaluation {
  /** The folder of class folders evaluated on. */
  dir: string;
  files: FileResult[];
  seconds: number;
  imagesPerSecond: number;
}

export async function readEvaluationFile(runDir: string): Promise<(RunEvaluation & { data?: string }) | undefined> {
  const file = runPaths(runDir).evaluation;
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as RunEvaluation & { data?: string };
  } catch {
    return undefined;
  }
}
