// What the `tlkit ui` server and its page say to each other: the JSON of every /api
// route and the Server-Sent Events of a training. Types only: the page imports them
// with `import type`, so nothing of the server reaches the browser.
import type { Evaluation } from '../run/evaluation.js';

/** One file of the data or a run folder, with the URL that serves it (under /files/). */
export interface FileLink {
  /** Path relative to its folder, '/'-separated. */
  rel: string;
  url: string;
}

export interface DataProblem {
  kind: string;
  message: string;
  files: FileLink[];
}

/** The chosen data folder as check-data sees it. */
export interface DataSummary {
  dir: string;
  layout: 'splits' | 'classes';
  classNames: string[];
  /** Per split ('train', 'validation', 'test', or '.' for class folders directly): images per class. */
  splits: Array<{ split: string; counts: Record<string, number>; total: number }>;
  problems: DataProblem[];
  ok: boolean;
}

export interface DataState {
  /** The folder chosen, absolute; null before one is. */
  dir: string | null;
  summary: DataSummary | null;
  /** Why the folder cannot be trained on yet (no class folders, a missing split, ...). */
  error?: string;
  recent: string[];
}

export interface ImagePage {
  total: number;
  offset: number;
  files: FileLink[];
}

/** The training form: every field the CLI's `train` has an option for, with its defaults. */
export interface TrainFormSpec {
  modes: readonly string[];
  bases: readonly string[];
  flips: readonly string[];
  optimizers: readonly string[];
  /** tlkit export's formats (tfjs, onnx, tm, keras). */
  exportFormats: readonly string[];
  /** TRAIN_DEFAULTS as the CLI shows them (option name without dashes -> value). */
  defaults: Record<string, string | number | boolean>;
}

/** The form's values as typed: strings, as on a command line (the CLI's parsing and messages apply). */
export interface TrainRequest {
  run?: string;
  base: string;
  mode?: string;
  epochs?: string;
  batchSize?: string;
  learningRate?: string;
  headUnits?: string;
  imageSize?: string;
  validationSplit?: string;
  seed?: string;
  augmentFlip?: string;
  augmentRotation?: string;
  augmentZoom?: string;
  augment?: boolean;
}

export interface RunSummary {
  id: string;
  mode: string;
  base: string;
  classes: string[];
  epochsDone: number;
  /** 1-based; 0 when no checkpoint was saved. */
  bestEpoch: number;
  bestValLoss: number | null;
  bestValAccuracy: number | null;
  finished: boolean;
  interrupted: boolean;
  training: boolean;
  createdAt: string;
  history: { epoch: number[]; history: Record<string, Array<number | null>> };
}

export interface LossImage {
  file: string;
  /** The image under /files/data/, when it is inside the chosen data folder. */
  url: string | null;
  label: string;
  predicted: string;
  loss: number;
  probability: number;
}

/** evaluateRun's figures (Evaluation: accuracy, loss, confusion[true][predicted], per-class metrics) and the highest losses per class. */
export interface EvaluationView extends Evaluation {
  dir: string;
  topLosses: LossImage[][];
}

export interface ExportView {
  format: string;
  out: string;
  files: FileLink[];
}

/** Server-Sent Events of the training in progress (event name = `type`). */
export type TrainEvent =
  | { type: 'start'; run: string }
  /** After every batch. epoch is 1-based over the whole run; imagesDone and elapsed count from the start of this phase. */
  | { type: 'batch'; run: string; epoch: number; epochs: number; firstEpoch: number; batch: number; batches: number; imagesDone: number; elapsed: number }
  | { type: 'epoch'; run: string; epoch: number; epochs: number; metrics: Record<string, number | null>; checkpointSaved: boolean }
  | { type: 'end'; run: string; bestEpoch: number; interrupted: boolean; message: string }
  | { type: 'error'; run: string; message: string };

export interface ApiError {
  error: string;
}
