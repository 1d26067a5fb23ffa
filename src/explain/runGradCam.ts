import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { exportToOnnx } from '../onnx/export.js';
import { OnnxBase } from '../ort/onnxBase.js';
import { OrtModel, type OrtOutput } from '../ort/ortRunner.js';
import type { RunMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { readRun } from '../run/runDir.js';
import { locateRunOnnxBase } from '../run/runOnnx.js';
import { initBackend } from '../tfjs/backend.js';
import { registerWasmGradientKernels } from '../tfjs/gradients/index.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { gradCamOfFeatures, type GradCamMap } from './gradCam.js';
import { baseOutputTensor, layerOutputTensor, logitsFrom } from './scoreGraph.js';

/**
 * Where the feature map is taken: 'base' (default) the base's last feature map, what the
 * head reads; 'cut' (fine-tuned runs) the frozen prefix's output, so that the gradient goes
 * back through the unfrozen top of the base; or the name of a layer of a tfjs-base run.
 */
export type GradCamLayer = 'base' | 'cut' | (string & {});

export interface GradCamOptions {
  /** A run trained on an ONNX base: where that file is now, when it moved (checked against its sha256). */
  base?: string;
  layer?: GradCamLayer;
}

/** What computes the feature map: the frozen part of the model, on ONNX Runtime. */
interface FeatureRunner {
  features(pixels: Float32Array, n: number): Promise<OrtOutput>;
  dispose(): Promise<void>;
}

/**
 * Grad-CAM for a trained run. The frozen part (the base up to the feature map; an ONNX base
 * as ONNX Runtime runs it) computes the feature map on ONNX Runtime, and the rest of the
 * saved model (the head, or after fine-tuning the unfrozen top of the base and the head, with
 * the run's trained weights) is rebuilt in tfjs, where tf.grad takes the class score's
 * gradient with respect to the map. For an ONNX base only the head is differentiated: the
 * gradient with respect to the cut point's features is exact, and it is all Grad-CAM needs.
 */
export class GradCamExplainer {
  private constructor(
    readonly meta: RunMeta,
    /** The layer whose output is the feature map (for an ONNX base: its output name). */
    readonly featureLayer: string,
    private readonly model: tfl.LayersModel,
    private readonly logits: tfl.LayersModel,
    private readonly frozen: FeatureRunner,
  ) {}

  static async load(runDir: string, opts: GradCamOptions = {}): Promise<GradCamExplainer> {
    await initBackend();
    registerWasmGradientKernels();
    const { meta } = await readRun(runDir);
    const model = await tfl.loadLayersModel(fileSystemIO(runPaths(runDir).model));
    try {
      if (meta.onnxBase) {
        if (opts.layer !== undefined && opts.layer !== 'base') {
          throw new UserError(
            `${runDir} was trained on the ONNX base ${meta.onnxBase.file}: Grad-CAM takes its output (the features the head reads), and layer '${opts.layer}' cannot be chosen. Leave the layer out.`,
          );
        }
        const start = model.inputs[0];
        checkSpatial(start.shape, `the ONNX base's output ${meta.onnxBase.outputName}`);
        const { info, bytes } = locateRunOnnxBase(runDir, meta, opts.base);
        const onnx = await OnnxBase.open(info, bytes);
        return new GradCamExplainer(meta, info.outputName, model, logitsFrom(model, start), onnx);
      }
      if (opts.base !== undefined) locateRunOnnxBase(runDir, meta, opts.base); // says why --base does not apply
      const start = featureTensor(model, meta, runDir, opts.layer ?? 'base');
      const name = start.sourceLayer.name;
      checkSpatial(start.shape, `layer ${name}`);
      const logits = logitsFrom(model, start);
      const ort = await OrtModel.create(exportToOnnx(model, { upTo: name }));
      const [h, w] = meta.imageSize;
      const frozen: FeatureRunner = { features: (pixels, n) => ort.run(pixels, [n, h, w, 3]), dispose: () => ort.dispose() };
      return new GradCamExplainer(meta, name, model, logits, frozen);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  get classNames(): string[] {
    return this.meta.classes;
  }

  /** [height, width] the model takes. */
  get imageSize(): [number, number] {
    return this.meta.imageSize;
  }

  /** The feature maps of `n` images (float32 NHWC RGB 0..255 at the run's size), channels-last. */
  async featureMaps(pixels: Float32Array, n: number): Promise<OrtOutput> {
    return this.frozen.features(pixels, n);
  }

  /** The tfjs model from the feature map to the logits (what the gradient goes through). */
  get logitsModel(): tfl.LayersModel {
    return this.logits;
  }

  /**
   * Grad-CAM of `n` images at the run's size (float32 NHWC RGB 0..255). `targets[i]` is the
   * class index to explain for image i; undefined explains the predicted class.
   */
  async explainPixels(pixels: Float32Array, n: number, targets: ReadonlyArray<number | undefined> = []): Promise<GradCamMap[]> {
    const out: GradCamMap[] = [];
    const batch = 8;
    for (let start = 0; start < n; start += batch) {
      const k = Math.min(batch, n - start);
      const per = pixels.length / n;
      const { data, shape } = await this.frozen.features(pixels.subarray(start * per, (start + k) * per), k);
      out.push(...gradCamOfFeatures(this.logits, data, shape as [number, number, number, number], targets.slice(start, start + k)));
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.frozen.dispose();
    this.model.dispose();
  }
}

/** Load a run for Grad-CAM (see GradCamExplainer). */
export function loadGradCam(runDir: string, opts: GradCamOptions = {}): Promise<GradCamExplainer> {
  return GradCamExplainer.load(runDir, opts);
}

function featureTensor(model: tfl.LayersModel, meta: RunMeta, runDir: string, layer: GradCamLayer): tfl.SymbolicTensor {
  if (layer === 'base') return baseOutputTensor(model);
  if (layer === 'cut') {
    if (meta.mode !== 'finetune' || !meta.cutLayer) {
      throw new UserError(
        `Grad-CAM at 'cut' needs a fine-tuned run (the frozen part's output); ${runDir} was trained in ${meta.mode} mode${meta.phase === 'head' ? ' and has not reached fine-tuning yet' : ''}. Leave the layer out (the base's last feature map).`,
      );
    }
    return layerOutputTensor(model, meta.cutLayer);
  }
  return layerOutputTensor(model, layer);
}

function checkSpatial(shape: Array<number | null>, what: string): void {
  if (shape.length !== 4) {
    throw new UserError(
      `Grad-CAM needs a spatial feature map [height, width, channels], and ${what} gives shape [${shape.slice(1).join(', ')}] per image. Use a base whose output keeps its spatial grid (a conv base without pooling; for an ONNX base, --up-to a conv node).`,
    );
  }
}
