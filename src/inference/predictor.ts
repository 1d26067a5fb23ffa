import { existsSync } from 'node:fs';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { decodeImageInto } from '../data/decode.js';
import { listClassDirs, listImageFiles, resolveDataDir } from '../data/splits.js';
import type { CalibrationRecord } from '../ort/int8.js';
import { OrtModel, type OrtModelOptions } from '../ort/ortRunner.js';
import type { RunMeta } from '../run/meta.js';
import type { Evaluation } from '../run/evaluation.js';
import { expectedCalibrationError } from '../run/temperature.js';
import { isMultiLabel } from './multiLabel.js';
import type { TtaPlan, TtaScores } from './tta.js';

// Imported here only as types: a predictor opened on a cached graph (runGraph.ts) runs
// without loading tfjs, the exporter or the augmentation layers at all.

/**
 * Inference with a saved run: the WHOLE model (preprocessing + base + head, all
 * frozen now) exported to ONNX and run by ONNX Runtime, on raw RGB 0..255 images
 * at the run's own image size.
 */
export class RunPredictor {
  private constructor(
    private readonly ort: Pick<OrtModel, 'run' | 'dispose'>,
    readonly meta: RunMeta,
    /** The batch size the graph fixes (an ONNX base exported with batch 1), or undefined. */
    private readonly fixedBatch?: number,
  ) {}

  /**
   * int8 needs the run's calibration (int8-calibration.json): the frozen base (or
   * prefix) is quantized with the ranges it was trained with, the rest stays fp32.
   */
  static async create(model: tfl.LayersModel, meta: RunMeta, int8?: CalibrationRecord): Promise<RunPredictor> {
    return new RunPredictor(await OrtModel.create(await modelGraph(model, int8)), meta);
  }

  /** The run's whole model as ONNX bytes (runOnnxModel): RGB 0..255 NHWC in, probabilities out. */
  static async fromOnnx(bytes: Uint8Array, meta: RunMeta): Promise<RunPredictor> {
    return new RunPredictor(await OrtModel.create(bytes), meta, meta.onnxBase?.batch ?? undefined);
  }

  /**
   * Like fromOnnx, but the session is created while the first batch decodes: `scores`
   * and `ttaScores` wait for it only when they run the model.
   */
  static whenReady(bytes: Uint8Array, meta: RunMeta, opts: OrtModelOptions = {}): RunPredictor {
    return RunPredictor.onSession(OrtModel.create(bytes, opts), meta);
  }

  /** A predictor on a session still being created; `settle` (storing what the session wrote, say) is awaited by dispose. */
  static onSession(session: Promise<OrtModel>, meta: RunMeta, settle?: Promise<void>): RunPredictor {
    session.catch(() => {}); // reported by the first run, or by dispose
    const lazy = {
      run: async (x: Float32Array, shape: number[]) => (await session).run(x, shape),
      dispose: async () => {
        await settle;
        await (await session.catch(() => undefined))?.dispose();
      },
    };
    return new RunPredictor(lazy, meta, meta.onnxBase?.batch ?? undefined);
  }

  /**
   * Class scores per image: [P(class 0), P(class 1), ...] (a binary run's one sigmoid p becomes
   * [1-p, p]; a multi-label run's k sigmoids are k independent probabilities, as they are).
   */
  async scores(files: string[], batchSize = 16, onProgress?: (done: number, total: number) => void): Promise<number[][]> {
    const out: number[][] = [];
    for (let start = 0; start < files.length; start += batchSize) {
      const batch = files.slice(start, start + batchSize);
      out.push(...(await this.scoresOfPixels(await decodeBatch(batch, this.meta.imageSize), batch.length)));
      onProgress?.(Math.min(files.length, start + batchSize), files.length);
    }
    return out;
  }

  /**
   * The plain and the test-time-augmented class scores of image files, in order: each
   * batch's images and their views go through the model in one call (see tta.ts).
   */
  async ttaScores(files: string[], plan: TtaPlan, batchSize = 16, onProgress?: (done: number, total: number) => void): Promise<TtaScores> {
    const plain: number[][] = [];
    const tta: number[][] = [];
    for (let start = 0; start < files.length; start += batchSize) {
      const batch = files.slice(start, start + batchSize);
      const pixels = await decodeBatch(batch, this.meta.imageSize);
      const { ttaScoresOfPixels } = await import('./tta.js');
      const s = await ttaScoresOfPixels(this, pixels, batch.length, this.meta.imageSize, plan);
      plain.push(...s.plain);
      tta.push(...s.tta);
      onProgress?.(Math.min(files.length, start + batchSize), files.length);
    }
    return { plain, tta };
  }

  /** Class scores of `n` images already at the run's size: float32 NHWC RGB 0..255. */
  async scoresOfPixels(pixels: Float32Array, n: number): Promise<number[][]> {
    const step = this.fixedBatch;
    if (step !== undefined && n !== step) {
      // a graph that fixes its batch size: that many images a call, the last call padded
      const per = pixels.length / n;
      const out: number[][] = [];
      for (let start = 0; start < n; start += step) {
        const chunk = new Float32Array(step * per);
        chunk.set(pixels.subarray(start * per, Math.min(n, start + step) * per));
        out.push(...(await this.scoresOfPixels(chunk, step)).slice(0, Math.min(step, n - start)));
      }
      return out;
    }
    const [h, w] = this.meta.imageSize;
    const { data, shape } = await this.ort.run(pixels, [n, h, w, 3]);
    const k = shape[shape.length - 1];
    const pair = k === 1 && !isMultiLabel(this.meta);
    const out: number[][] = [];
    for (let i = 0; i < n; i++) {
      const row = Array.from(data.subarray(i * k, (i + 1) * k));
      out.push(pair ? [1 - row[0], row[0]] : row);
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.ort.dispose();
  }
}

/** A tfjs model (the whole run: preprocessing, base, head) as the ONNX graph ORT runs; int8 quantizes its base with the run's calibration. */
export async function modelGraph(model: tfl.LayersModel, int8?: CalibrationRecord): Promise<Uint8Array> {
  const { exportToOnnx } = await import('../onnx/export.js');
  const fp32 = exportToOnnx(model);
  if (!int8) return fp32;
  const { int8Graph } = await import('../ort/int8.js');
  return int8Graph(fp32, int8);
}

/** Image files decoded and resized to [h, w]: float32 NHWC RGB 0..255, the files' order. */
export async function decodeBatch(files: string[], [h, w]: [number, number]): Promise<Float32Array> {
  const per = h * w * 3;
  const buf = new Float32Array(files.length * per);
  await Promise.all(files.map((f, i) => decodeImageInto(f, [h, w], buf, i * per)));
  return buf;
}

export type { Evaluation };

export interface Prediction {
  file: string;
  label: string;
  probability: number;
}

export function toPrediction(file: string, scores: number[], classes: string[]): Prediction {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
  return { file, label: classes[best], probability: scores[best] };
}

export interface ClassProbability {
  label: string;
  probability: number;
}

export interface RankedPrediction {
  /** The predicted class (the most probable one, or by `threshold` for a two-class model) and its probability. */
  label: string;
  probability: number;
  /** Every class, most probable first (the first `topK` when asked). */
  probabilities: ClassProbability[];
}

export interface RankOptions {
  /** Keep only the `topK` most probable classes in `probabilities` (the label is still chosen among all). */
  topK?: number;
  /**
   * Two-class models: predict classes[1] (the positive class, P = the sigmoid output)
   * when its probability is >= threshold, else classes[0]. Default: the most probable class (0.5).
   * Multi-label models: every class's threshold (instead of the run's own, meta.json's).
   */
  threshold?: number;
}

/** Check topK / threshold against a model's classes; a UserError naming the value and the fix. */
export function checkRankOptions(
  opts: RankOptions,
  classes: string[],
  names: { topK?: string; threshold?: string } = {},
  multiLabel = false,
): void {
  const { topK, threshold } = opts;
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 1)) {
    throw new UserError(
      `${names.topK ?? 'topK'} must be a whole number >= 1, got ${topK}. Pass e.g. ${names.topK ?? 'topK'} ${Math.min(3, classes.length)}.`,
    );
  }
  if (threshold !== undefined) {
    if (multiLabel) {
      if (!(Number.isFinite(threshold) && threshold >= 0 && threshold <= 1)) {
        throw new UserError(
          `${names.threshold ?? 'threshold'} must be a probability from 0 to 1 (every label at or above it is given), got ${threshold}. Pass e.g. ${names.threshold ?? 'threshold'} 0.5, or leave it out for the run's own thresholds.`,
        );
      }
      return;
    }
    if (classes.length !== 2) {
      throw new UserError(
        `${names.threshold ?? 'threshold'} applies to two-class (binary) models only; this model has ${classes.length} classes [${classes.join(', ')}]. Leave it out (the most probable class is predicted) or use ${names.topK ?? 'topK'}.`,
      );
    }
    if (!(Number.isFinite(threshold) && threshold >= 0 && threshold <= 1)) {
      throw new UserError(
        `${names.threshold ?? 'threshold'} must be a probability from 0 to 1 (of the positive class '${classes[1]}'), got ${threshold}. Pass e.g. ${names.threshold ?? 'threshold'} 0.5.`,
      );
    }
  }
}

/** Class scores -> the predicted label and every class probability, sorted (stable: ties keep class order). */
export function rankScores(scores: number[], classes: string[], opts: RankOptions = {}): RankedPrediction {
  const all = scores.map((p, i) => ({ label: classes[i], probability: p, i })).sort((a, b) => b.probability - a.probability || a.i - b.i);
  let chosen = all[0];
  if (opts.threshold !== undefined && classes.length === 2) {
    const c = scores[1] >= opts.threshold ? 1 : 0;
    chosen = all.find((x) => x.i === c) as (typeof all)[number];
  }
  const kept = opts.topK !== undefined ? all.slice(0, Math.max(1, opts.topK)) : all;
  return {
    label: chosen.label,
    probability: chosen.probability,
    probabilities: kept.map(({ label, probability }) => ({ label, probability })),
  };
}

export interface LabelledFiles {
  /** The folder holding the class folders. */
  dir: string;
  files: string[];
  labels: number[];
}

/**
 * The labelled images to evaluate on: `test/` of the book's layout (or class folders
 * directly). Their classes must be exactly the model's.
 */
export function evaluationFiles(data: string, classes: string[]): LabelledFiles {
  // A folder holding only test/ (the held-out split shipped on its own) is evaluated as is.
  const testOnly = path.join(data, 'test');
  const resolved = !existsSync(path.join(data, 'train')) && existsSync(testOnly) ? resolveDataDir(testOnly) : resolveDataDir(data);
  const dir = resolved.splits.test ?? (resolved.layout === 'classes' ? resolved.root : undefined);
  if (!dir) {
    throw new UserError(
      `${data} has no test/ split to evaluate on (it has ${Object.keys(resolved.splits).join(', ')}). Add a test/ folder with one folder per class, or pass a folder of class folders.`,
    );
  }
  const found = listClassDirs(dir);
  if (found.join('\n') !== classes.join('\n')) {
    throw new UserError(
      `The model was trained on classes [${classes.join(', ')}] but ${dir} has class folders [${found.join(', ')}]. ` +
        'Evaluate on data with the same class folders (names and number) as the training data.',
    );
  }
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((c, i) => {
    for (const f of listImageFiles(path.join(dir, c))) {
      files.push(f);
      labels.push(i);
    }
  });
  return { dir, files, labels };
}

const EPSILON = 1e-7; // Keras's backend epsilon, used to clip probabilities in cross-entropy.

/** Accuracy, Keras's cross-entropy loss, confusion matrix, per-class precision/recall/F1/support and the ECE. */
export function scoreEvaluation(scores: number[][], labels: number[], classes: string[]): Evaluation {
  const k = classes.length;
  const confusion = classes.map(() => new Array<number>(k).fill(0));
  let lossSum = 0;
  let correct = 0;
  scores.forEach((s, i) => {
    const pred = toPrediction('', s, classes);
    const p = classes.indexOf(pred.label);
    confusion[labels[i]][p] += 1;
    if (p === labels[i]) correct += 1;
    const pt = Math.min(1 - EPSILON, Math.max(EPSILON, s[labels[i]]));
    lossSum += -Math.log(pt);
  });
  const n = scores.length;
  const precision = classes.map((_, c) => {
    const col = confusion.reduce((a, row) => a + row[c], 0);
    return col === 0 ? 0 : confusion[c][c] / col;
  });
  const recall = classes.map((_, c) => {
    const row = confusion[c].reduce((a, b) => a + b, 0);
    return row === 0 ? 0 : confusion[c][c] / row;
  });
  const f1 = classes.map((_, c) => (precision[c] + recall[c] === 0 ? 0 : (2 * precision[c] * recall[c]) / (precision[c] + recall[c])));
  const support = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const ece = expectedCalibrationError(scores, labels);
  return { accuracy: n ? correct / n : 0, loss: n ? lossSum / n : 0, n, classes, confusion, precision, recall, f1, support, ece };
}
