import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import { decodeRgb, resizeDecoded } from '../data/decode.js';
import { initBackend } from '../tfjs/backend.js';
import { checkPrecision, type Precision } from '../ort/int8.js';
import type { Evaluation } from '../run/evaluation.js';
import type { RunMeta } from '../run/meta.js';
import { readRun } from '../run/runDir.js';
import { explainPredictions, type ExplainInput, type ExplainSetting, type Explanation } from '../explain/explainImages.js';
import { loadGradCam, type GradCamExplainer } from '../explain/runGradCam.js';
import type { LabelsTableOptions } from '../data/labelsTable.js';
import { ttaPlan, ttaScoresOfPixels, type TtaPlan, type TtaScores, type TtaSetting } from './tta.js';
import { checkRankOptions, decodeBatch, rankScores, type ClassProbability, type RankOptions, type RunPredictor } from './predictor.js';
import { openRunPredictor } from './runGraph.js';
import { evaluationListing, scoreListing } from './labelledFiles.js';
import { isMultiLabel, multiLabelPrediction, runThresholds, type MultiLabelPrediction } from './multiLabel.js';

/** An image for `predict`: a file path, the bytes of an image file, or RGB 0..255 pixels ([H, W, 3] or [N, H, W, 3]). */
export type ClassifierInput = string | Uint8Array | tf.Tensor3D | tf.Tensor4D;

export type { ClassProbability, RankOptions, MultiLabelPrediction };

export interface PredictOptions extends RankOptions {
  /**
   * Test-time augmentation: the number of augmented views (or { views, beta, seed,
   * augmentation }); each image's probabilities become fastai's blend of its views' mean
   * and its plain prediction. 0 or absent: the plain prediction.
   */
  tta?: TtaSetting;
  /**
   * Grad-CAM of each image's predicted label over the base's last feature map, blended over
   * the photo: true gives it in `explanation` (the PNG in memory); a folder also writes
   * <image name>.gradcam.png there. See docs/exports.md.
   */
  explain?: ExplainSetting;
}

/** One image's prediction; a multi-label run's is a MultiLabelPrediction (`labels` set). */
export interface ClassifierPrediction {
  /** The predicted class (the most probable one, or by `threshold` on a two-class model) and its probability. */
  label: string;
  probability: number;
  /** Every class, most probable first (the first `topK` when asked). */
  probabilities: ClassProbability[];
  /** Multi-label runs only: every label at or above its threshold, in class order (`label` is then just the most probable class). */
  labels?: string[];
  /** With `explain`: the Grad-CAM of `label` (the heatmap, its PNG over the photo, and where it was written). */
  explanation?: Explanation;
}

/**
 * A trained run, ready to use (fastai's load_learner, Keras's load_model + predict):
 *
 *   const clf = await loadClassifier('runs/finetune');
 *   const [p] = await clf.predict('photo.jpg');     // { label: 'dogs', probability: 0.98, probabilities: [...] }
 *   await clf.dispose();
 *
 * A multi-label run's predictions also give `labels`: every class whose probability is at
 * or above its threshold (meta.json's, or `threshold` for all), none, one or several.
 *
 * Inference runs the whole saved model (preprocessing + base + head) on ONNX Runtime,
 * at the run's own image size, with the same decoding and resizing as training. A run
 * trained on an ONNX base runs that file (checked against its recorded sha256) before its head.
 */
export class Classifier {
  private constructor(
    readonly runDir: string,
    readonly meta: RunMeta,
    private readonly predictor: RunPredictor,
    /** The precision the base runs at here (the run's own unless asked otherwise). */
    readonly precision: Precision,
    /** --base as given (a moved ONNX base), for the Grad-CAM explainer loaded on the first `explain`. */
    private readonly onnxBaseFile?: string,
  ) {}

  private explainer?: Promise<GradCamExplainer>;

  static async load(runDir: string, opts: ClassifierOptions = {}): Promise<Classifier> {
    await initBackend();
    const run = await readRun(runDir);
    const precision = checkPrecision(opts.precision ?? run.meta.precision ?? 'fp32');
    // The run's whole model as one ONNX graph (its ONNX base stitched to the head when it has one), through the graph cache.
    const predictor = await openRunPredictor(runDir, run.meta, { precision, base: opts.base });
    return new Classifier(runDir, run.meta, predictor, precision, opts.base);
  }

  get classNames(): string[] {
    return this.meta.classes;
  }

  /** [height, width] the model takes; inputs of other sizes are resized (bilinear, half-pixel centres). */
  get imageSize(): [number, number] {
    return this.meta.imageSize;
  }

  /** True for a two-class single-label model (sigmoid output = P(classNames[1]), or a two-way softmax). */
  get isBinary(): boolean {
    return this.classNames.length === 2 && !this.isMultiLabel;
  }

  /** True for a multi-label model: one sigmoid per class, each label given at or above its threshold. */
  get isMultiLabel(): boolean {
    return isMultiLabel(this.meta);
  }

  /** A multi-label run's thresholds, one per class in classNames order (meta.json's); undefined for a single-label run. */
  get thresholds(): number[] | undefined {
    return this.isMultiLabel ? runThresholds(this.meta) : undefined;
  }

  /**
   * Class probabilities of one input (or a batch tensor): one prediction per image, every
   * class most probable first. `topK` keeps the first k; `threshold` (two-class models)
   * predicts classNames[1] when its probability is >= threshold. A multi-label run's
   * predictions add `labels`, the classes at or above their thresholds (`threshold` replaces them all).
   */
  async predict(input: ClassifierInput | ClassifierInput[], opts: PredictOptions = {}): Promise<ClassifierPrediction[]> {
    checkRankOptions(opts, this.classNames, {}, this.isMultiLabel);
    if (opts.explain && this.meta.knn)
      throw new UserError(
        `${this.runDir} is a kNN run: its stored neighbours vote, and no trained layer has a gradient for Grad-CAM to follow. Predict without explain, or explain a run trained with mode features, augment or finetune.`,
      );
    const thresholds = this.isMultiLabel ? runThresholds(this.meta, opts.threshold) : undefined;
    const plan = opts.tta !== undefined ? this.ttaPlan(opts.tta) : undefined;
    const inputs = Array.isArray(input) ? input : [input];
    const scores: number[][] = [];
    const explained: ExplainInput[] = [];
    for (const x of inputs) {
      const { pixels, n } = await this.pixelsOf(x);
      if (opts.explain) explained.push({ source: typeof x === 'string' || x instanceof Uint8Array ? x : undefined, pixels, n });
      scores.push(
        ...(plan
          ? (await ttaScoresOfPixels(this.predictor, pixels, n, this.imageSize, plan)).tta
          : await this.predictor.scoresOfPixels(pixels, n)),
      );
    }
    const predictions: ClassifierPrediction[] = scores.map((s) =>
      thresholds ? multiLabelPrediction(s, this.classNames, thresholds, opts) : rankScores(s, this.classNames, opts),
    );
    if (opts.explain) {
      this.explainer ??= loadGradCam(this.runDir, { base: this.onnxBaseFile });
      const explanations = await explainPredictions(
        await this.explainer,
        explained,
        predictions.map((p) => p.label),
        opts.explain,
      );
      explanations.forEach((e, i) => (predictions[i].explanation = e));
    }
    return predictions;
  }

  /**
   * Accuracy, loss, confusion matrix and per-class precision/recall/F1/support on labelled
   * images (test/ or class folders, or a labels `table` over `dir`). With `tta`, the figures
   * are the TTA prediction's, and `tta.plain` holds the plain prediction's accuracy, loss and
   * ECE on the same images. A multi-label run needs `table`, and gives `multiLabel` (see Evaluation).
   */
  async evaluate(dir: string, opts: { batchSize?: number; tta?: TtaSetting; table?: LabelsTableOptions } = {}): Promise<Evaluation> {
    const listing = evaluationListing(dir, this.meta, opts.table);
    const thresholds = this.thresholds;
    if (opts.tta === undefined)
      return scoreListing(await this.scoresOfFiles(listing.files, opts.batchSize ?? 16), listing, this.classNames, thresholds);
    const plan = this.ttaPlan(opts.tta);
    const s = await this.ttaScoresOfFiles(listing.files, plan, opts.batchSize ?? 16);
    return withTtaRecord(
      scoreListing(s.tta, listing, this.classNames, thresholds),
      scoreListing(s.plain, listing, this.classNames, thresholds),
      plan,
    );
  }

  /** Raw class scores of image files, in order; with `tta`, the TTA blend of each. */
  async scoresOfFiles(
    files: string[],
    batchSize = 16,
    opts: { tta?: TtaSetting; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<number[][]> {
    if (opts.tta === undefined) return this.predictor.scores(files, batchSize, opts.onProgress);
    return (await this.ttaScoresOfFiles(files, this.ttaPlan(opts.tta), batchSize, opts.onProgress)).tta;
  }

  /** The test-time augmentation of this run checked (UserError on a bad value): views, beta, seed and the views' augmentation. */
  ttaPlan(setting: TtaSetting, name?: string): TtaPlan {
    return ttaPlan(setting, this.meta, name);
  }

  /** The plain and the TTA class scores of image files, in order, from one pass over the plain images and their views. */
  async ttaScoresOfFiles(
    files: string[],
    plan: TtaPlan,
    batchSize = 16,
    onProgress?: (done: number, total: number) => void,
  ): Promise<TtaScores> {
    return this.predictor.ttaScores(files, plan, batchSize, onProgress);
  }

  async dispose(): Promise<void> {
    await this.predictor.dispose();
    await (await this.explainer?.catch(() => undefined))?.dispose();
  }

  /** An input as float32 NHWC RGB 0..255 pixels at the model's size. */
  private async pixelsOf(x: ClassifierInput): Promise<{ pixels: Float32Array; n: number }> {
    const [h, w] = this.imageSize;
    if (typeof x === 'string') return { pixels: await decodeBatch([x], this.imageSize), n: 1 };
    if (x instanceof Uint8Array) {
      const pixels = new Float32Array(h * w * 3);
      resizeDecoded(await decodeRgb('<image bytes>', x), [h, w], pixels, 0);
      return { pixels, n: 1 };
    }
    if (x instanceof tf.Tensor) {
      if ((x.rank !== 3 && x.rank !== 4) || x.shape[x.rank - 1] !== 3) {
        throw new UserError(
          `predict: a tensor input must be RGB pixels [H, W, 3] or [N, H, W, 3] in 0..255, got shape [${x.shape.join(', ')}].`,
        );
      }
      const batch = tf.tidy(() => {
        const b = (x.rank === 3 ? tf.expandDims(x, 0) : x) as tf.Tensor4D;
        const f = tf.cast(b, 'float32') as tf.Tensor4D;
        return f.shape[1] === h && f.shape[2] === w ? f : tf.image.resizeBilinear(f, [h, w], false, true);
      });
      const pixels = (await batch.data()) as Float32Array;
      const n = batch.shape[0];
      batch.dispose();
      return { pixels, n };
    }
    throw new UserError(`predict takes a file path, the bytes of an image file (Buffer) or a tfjs tensor, got ${typeof x}.`);
  }
}

export interface ClassifierOptions {
  /** A run trained on an ONNX base: the file where it is now, when it moved (checked against the recorded sha256). */
  base?: string;
  /** 'fp32' or 'int8'; default the precision the run was trained at. int8 needs a run trained with precision int8. */
  precision?: Precision;
}
/** Load a trained run folder as a Classifier. */
export function loadClassifier(runDir: string, opts: ClassifierOptions = {}): Promise<Classifier> {
  return Classifier.load(runDir, opts);
}

/** A TTA evaluation with its record: how the views were made, and the plain prediction's figures beside. */
export function withTtaRecord<E extends Evaluation>(tta: E, plain: Evaluation, plan: TtaPlan): E {
  const { views, beta, seed, augmentation } = plan;
  const map = plain.multiLabel ? { meanAveragePrecision: plain.multiLabel.meanAveragePrecision } : {};
  return {
    ...tta,
    tta: { views, beta, seed, augmentation, plain: { accuracy: plain.accuracy, loss: plain.loss, ece: plain.ece ?? 0, ...map } },
  };
}
