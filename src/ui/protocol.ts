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
  /** check-data's severity: errors break or mislead training, warnings are worth a look. */
  severity: 'error' | 'warning';
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
  /** Tables at the folder's top (CSV, TSV, JSON lines) that may hold its labels: the form's "Labels" field takes one. */
  tables?: string[];
  recent: string[];
}

export interface ImagePage {
  total: number;
  offset: number;
  files: FileLink[];
}

/** One field of the training form: a train() option as its declaration (workflows/trainOptions.ts) describes it. */
export interface TrainFormField {
  /** The option's id: the field's name and its key in TrainRequest.options. */
  name: string;
  label: string;
  /** Its `tlkit train` flag (the page's messages name the field by its label instead). */
  flag: string;
  help: string;
  input: 'text' | 'select' | 'checkbox';
  choices?: string[];
  /** The fixed default: a select starts on it, a checkbox is ticked by it. */
  default?: string | number | boolean;
  /** What an empty field means: the default, in words where it depends on the base or the mode. */
  placeholder: string;
  /** The modes that read it; the page greys it out in the others. */
  modes: string[];
  /** In finetune mode, read only with the augment box ticked. */
  needsAugment: boolean;
  group: string;
  /** Suggestions for a text field (the base families). */
  list?: string[];
  /** Sent as typed, spaces included, not trimmed (a label separator may be one space). */
  verbatim?: boolean;
}

/** The training form: every option of `tlkit train` the page can set, in groups. */
export interface TrainFormSpec {
  groups: Array<{ id: string; title: string; open: boolean }>;
  fields: TrainFormField[];
  /** tlkit export's formats (tfjs, onnx, tm, keras). */
  exportFormats: readonly string[];
}

/** The form as filled in: text as typed, true for a ticked box; left-out fields take their defaults. */
export interface TrainRequest {
  run?: string;
  options: Record<string, string | boolean>;
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
  /** Multi-label runs: val_map (the validation mAP) at the best epoch; null otherwise. */
  bestValMap: number | null;
  /** 'binary', 'categorical' or 'multi-label'. */
  labelMode: string;
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
  /** The true class; multi-label: the label of the list, with `present`. */
  label: string;
  /** The predicted class; multi-label: the label too, with `given`. */
  predicted: string;
  loss: number;
  /** P(true class); multi-label: P(label). */
  probability: number;
  /** Multi-label: whether the image truly has the label, and whether the model gave it (P >= its threshold). */
  present?: boolean;
  given?: boolean;
}

/**
 * evaluateRun's figures (Evaluation: accuracy, loss, confusion[true][predicted], per-class metrics) and
 * the highest losses per class. A multi-label run's has `multiLabel` (mAP, per-class AP and thresholds,
 * micro/macro F1, exact match, Hamming loss), no confusion matrix, and its top losses per label.
 */
export interface EvaluationView extends Evaluation {
  dir: string;
  /** Per class, the images with the highest loss that were misclassified or had P(true) below lossShownBelow (possibly none). */
  topLosses: LossImage[][];
  /** Per class, why its list is shorter than the others' limit ('' when it is full): "Only 2 of the 500 cats images ...". */
  topLossesNotes: string[];
  lossShownBelow: number;
  /** What was evaluated when it is not the folder's test or validation images (a labels table's rows). */
  evaluatedOn?: string;
}

export interface ExportView {
  format: string;
  out: string;
  files: FileLink[];
}

/** What the form's "Find learning rate" answers: lr-find's suggestions (fastai's) and the plot of its sweep. */
export interface LrFindView {
  /** What swept ('The head', 'Fine-tuning (... + head)'), how many batches, in how many seconds. */
  what: string;
  batches: number;
  seconds: number;
  /** The suggested rates; null when the loss diverged too early to read any. */
  suggestions: { valley: number; steep: number; minimum: number } | null;
  /** The valley as the learning-rate field takes it (e.g. '2.8e-6'), or null. */
  learningRate: string | null;
  /** The plot (PNG) under /files/runs/, or null. */
  plotUrl: string | null;
  message: string;
}

/** Server-Sent Events of the training in progress (event name = `type`). */
export type TrainEvent =
  | { type: 'start'; run: string }
  /** After every batch. epoch is 1-based over the whole run; imagesDone and elapsed count from the start of this phase. */
  | {
      type: 'batch';
      run: string;
      epoch: number;
      epochs: number;
      firstEpoch: number;
      batch: number;
      batches: number;
      imagesDone: number;
      elapsed: number;
      /** Fine-tuning after earlier epochs (the head's, or the run it started from): the 0-based epoch it started at. */
      fineTuneStart?: number;
    }
  | { type: 'epoch'; run: string; epoch: number; epochs: number; metrics: Record<string, number | null>; checkpointSaved: boolean }
  | { type: 'end'; run: string; bestEpoch: number; interrupted: boolean; message: string }
  | { type: 'error'; run: string; message: string };

export interface ApiError {
  error: string;
}

/** One image on a run's dataset map (map.json's point, for the page). */
export interface MapPointView {
  /** Relative to the run's data folder, '/'-separated. */
  file: string;
  label: string;
  split: string;
  x: number;
  y: number;
  /** Most of its nearest neighbours (pooled features) carry another label. */
  outlier: boolean;
  /** The share of its nearest neighbours with another label, 0..1. */
  score: number;
  looksLike: string | null;
}

/** GET /api/runs/RUN/map: the map, or how far its computation is, or (with ?peek=1) that none is on disk. */
export type MapAnswer =
  | {
      status: 'ready';
      run: string;
      seed: number;
      dataRoot: string;
      classNames: string[];
      splits: string[];
      points: MapPointView[];
      /** Indices into points of the flagged outliers, most outlying first. */
      outliers: number[];
      outlierNeighbors: number;
      /** Images of the map no longer in the data folder (moved since): recompute to see them where they are. */
      missing: number;
      seconds: number;
    }
  | { status: 'computing'; run: string; seed: number; stage: string; done: number; total: number; line: string }
  | { status: 'absent'; run: string };

/** One image of the Review panel: where it is, what the run says of it, why it is listed. */
export interface ReviewItemView {
  /** Relative to the data folder, '/'-separated. */
  file: string;
  /** Its thumbnail (served from the review's data folder). */
  url: string;
  split: string;
  label: string | null;
  predicted?: string;
  confidence?: number;
  probability?: number;
  loss?: number;
  reasons: Array<{ kind: string; text: string }>;
}

/** A done action of the review journal, newest first in ReviewView. */
export interface ReviewEntryView {
  id: string;
  time: string;
  action: string;
  from: string;
  to: string;
  fromLabel?: string;
  toLabel?: string;
  undoes?: string;
  undone: boolean;
}

/** The Review panel's queue (tlkit review's), the run's classes and the journal. */
export interface ReviewView {
  run: string;
  dataRoot: string;
  classes: string[];
  table?: string;
  journal: string;
  items: ReviewItemView[];
  checked: number;
  entries: ReviewEntryView[];
}

/** POST /api/runs/:id/review/action: relabel (with `to`), quarantine or check one file of the data folder. */
export interface ReviewActionRequest {
  action: 'relabel' | 'quarantine' | 'check';
  file: string;
  to?: string;
}
