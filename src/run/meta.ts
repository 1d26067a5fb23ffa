import { promises as fsp } from 'node:fs';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { PreprocessMode } from '../applications/preprocess.js';
import type { AugmentationParams } from '../augment/params.js';
import { runPaths } from './paths.js';

export type TrainMode = 'features' | 'augment' | 'finetune' | 'knn';
export type HeadPooling = 'flatten' | 'avg';
export type HeadActivation = 'linear' | 'relu';
/** What happens to the saved model when training ends: temperature scaling (fitted on validation), or nothing. */
export type CalibrationMethod = 'temperature' | 'none';

/**
 * Temperature scaling, fitted on the validation split when training ended: the saved
 * model's last Dense (`layer`) holds kernel / T and bias / T, so every reader of model/
 * (predict, evaluate, the exports, the browser page) gives the calibrated probabilities.
 * It describes model/ only while `sha256` is that layer's saved weights: a newer
 * checkpoint (an epoch that beat the best) is uncalibrated again until training ends.
 */
export interface TemperatureRecord {
  method: 'temperature';
  /** T: the logits are divided by it (T > 1 softens overconfident probabilities). */
  temperature: number;
  /** The Dense layer T is folded into (the head's output layer). */
  layer: string;
  /** sha256 of that layer's kernel and bias bytes as saved, after folding. */
  sha256: string;
  /** The 0-based epoch of the checkpoint that was calibrated. */
  epoch: number;
  /** On the validation split: images, cross-entropy and expected calibration error (15 bins) before and after. */
  validation: { n: number; nllBefore: number; nllAfter: number; eceBefore: number; eceAfter: number };
  /** Why T is what it is when the data gave no finite optimum (every validation image right: T stays 1). */
  note?: string;
}

/** The dense head on the base: [pooling] -> Dense(units, activation) -> Dropout -> Dense(classes). */
export interface HeadSpec {
  units: number;
  /** The hidden Dense's activation; runs written before it was an option have 'relu'. */
  activation: HeadActivation;
  dropout: number;
  pooling: HeadPooling;
}

/**
 * An ONNX file as the frozen base (`--base model.onnx`): what inference needs to find it
 * again, check it is the same file, and run it as training did. model/ then holds the head only.
 */
export interface OnnxBaseRecord {
  /** Absolute path of the .onnx file when training. */
  file: string;
  /** sha256 of its bytes: inference refuses a file whose hash differs. */
  sha256: string;
  inputName: string;
  /** The output the features come from (the --up-to cut, or the model's first output). */
  outputName: string;
  /** --up-to as given, or null. */
  upTo: string | null;
  layout: 'NCHW' | 'NHWC';
  /** The input's fixed batch size, or null when open. */
  batch: number | null;
  /** y = (x * scale - mean) / std on RGB 0..255, channels in channelOrder; `preprocessing` names it. */
  preprocess: { scale: number; mean: [number, number, number]; std: [number, number, number]; channelOrder: 'rgb' | 'bgr' };
}

/** A kNN run: its neighbours, the features it stores, and how it scored on validation when built. */
export interface KnnRecord {
  /** Neighbours that vote (fewer when fewer images are stored). */
  k: number;
  /** Images stored (rows of knn/vectors.npy) and the length of each pooled vector. */
  count: number;
  dim: number;
  /** On the validation split when the run was built (absent without one). */
  validation?: { n: number; accuracy: number; loss: number };
}

/** meta.json: everything evaluate/predict/report and --resume need to know about a run. */
export interface RunMeta {
  /** 3 since ONNX bases (onnxBase); 2 since the single training driver (1: head options only inside `options`). */
  version: number;
  tool: 'tlkit';
  classes: string[];
  /**
   * 'binary': one sigmoid output = P(classes[1]); 'categorical': softmax over classes;
   * 'multi-label': one sigmoid per class (independent probabilities), a label is given when
   * its probability reaches its threshold.
   */
  labelMode: 'binary' | 'categorical' | 'multi-label';
  /** Multi-label only: one decision threshold per class, in `classes` order (probability >= threshold gives the label). */
  thresholds?: number[];
  /** Multi-label only: 'validation-f1' (each class's F1 maximised on the validation split) or 'given' (--threshold). */
  thresholdSource?: 'validation-f1' | 'given';
  /** A Keras preprocessing mode; for an ONNX base, its --preprocess (a preset name or keys). */
  preprocessing: PreprocessMode | string;
  /** [height, width] the model takes. */
  imageSize: [number, number];
  /** What --base was, and its family / description / weights hash. */
  base: string;
  baseFamily: string;
  baseSource: string;
  weightsHash?: string;
  /** Set when the base is an ONNX file: model/ holds the head alone, and inference runs this file before it. */
  onnxBase?: OnnxBaseRecord;
  /** The data folder, absolute (so that `tlkit report` works from any directory). */
  data?: string;
  mode: TrainMode;
  /** Finetune runs without --from: 'head' while the head trains first, then 'finetune'. */
  phase?: 'head' | 'finetune';
  head: HeadSpec;
  /** 0-based epoch of the saved checkpoint, -1 before the first one. */
  bestEpoch: number;
  bestValLoss: number | null;
  epochsDone: number;
  /** True once training ended normally (false while running or after an interruption). */
  finished: boolean;
  interrupted?: boolean;
  /** Finetune: where fine-tuning starts in the history, the run it started from, the cut. */
  fineTuneStartEpoch?: number;
  from?: string;
  cutLayer?: string;
  unfrozen?: string[];
  trainableLayers?: string[];
  augmentation?: AugmentationParams;
  /** Set when the saved model is calibrated (temperature scaling folded into its last Dense; see TemperatureRecord). */
  calibration?: TemperatureRecord;
  /** The precision of the frozen base (or prefix) that computed the features: 'int8' with int8-calibration.json beside (absent: fp32). */
  precision?: 'fp32' | 'int8';
  /** Mode knn: no model was trained; model/ is the base and knn/ holds the stored features (run/knnIndex.ts). */
  knn?: KnnRecord;
  /** The training options as given (without the abort signal). */
  options: Record<string, unknown>;
  /** Seconds per phase (extract, train, ...). */
  timings: Record<string, number>;
  createdAt: string;
  updatedAt: string;
}

export const META_VERSION = 3;

export async function writeMeta(dir: string, meta: RunMeta): Promise<void> {
  const clean = { ...meta, updatedAt: new Date().toISOString() };
  await writeFileAtomic(
    runPaths(dir).meta,
    `${JSON.stringify(clean, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
}

export async function readMeta(dir: string): Promise<RunMeta> {
  const file = runPaths(dir).meta;
  let meta: RunMeta;
  try {
    meta = JSON.parse(await fsp.readFile(file, 'utf8')) as RunMeta;
  } catch (e) {
    throw new UserError(`${file} is not valid JSON (${(e as Error).message}). The run dir is damaged; train again.`);
  }
  const missing = ['classes', 'preprocessing', 'imageSize', 'labelMode'].filter((k) => !(k in (meta ?? {})));
  if (missing.length > 0 || meta.tool !== 'tlkit') {
    throw new UserError(
      `${file} is not a tlkit run's meta.json (missing ${missing.join(', ') || 'tool: tlkit'}). Give the --out folder of \`tlkit train\`.`,
    );
  }
  if (typeof meta.version === 'number' && meta.version > META_VERSION) {
    throw new UserError(
      `${file} is from a newer tlkit (meta.json version ${meta.version}; this tlkit reads up to ${META_VERSION}). Update tlkit to use this run.`,
    );
  }
  if (!meta.head) {
    // Version 1 kept the head's settings among the options only.
    const o = meta.options ?? {};
    meta.head = {
      units: Number(o.headUnits ?? 256),
      activation: 'relu',
      dropout: Number(o.dropout ?? 0.5),
      pooling: o.pooling === 'avg' ? 'avg' : 'flatten',
    };
  }
  // Before --head-activation, every head's hidden Dense was relu.
  meta.head.activation ??= 'relu';
  return meta;
}
