import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { FAMILIES, FAMILY_NAMES, isFamilyName, type FamilyName } from './index.js';
import { preprocessingLayer } from './preprocess.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { forwardFlops } from '../onnx/flops.js';
import { exportToOnnx } from '../onnx/export.js';
import { OrtModel } from '../ort/ortRunner.js';
import { kerasWeightFile } from '../weights/kerasWeightFiles.js';
import { cacheRoot, cachedWeightPath } from '../weights/download.js';

/**
 * The last layer of each stage of a family's conv base (the base's last layer ends the last
 * stage and is not listed), as the architecture's paper groups its blocks: where the
 * resolution or the width changes. Discriminative fine-tuning (fit/layerGroups.ts) splits the
 * unfrozen layers after these, as fastai's model_meta splits a body into layer groups. The
 * top convolutions of MobileNetV2 and EfficientNetB0 and ConvNeXt's final LayerNorm belong to
 * the last stage; ConvNeXt's downsampling blocks open the stage they feed.
 */
export const STAGE_ENDS: Record<FamilyName, readonly string[]> = {
  vgg16: ['block1_pool', 'block2_pool', 'block3_pool', 'block4_pool'],
  mobilenet: ['conv_pw_1_relu', 'conv_pw_3_relu', 'conv_pw_5_relu', 'conv_pw_11_relu'],
  mobilenet_v2: ['expanded_conv_project_BN', 'block_2_add', 'block_5_add', 'block_9_add', 'block_12_add', 'block_15_add'],
  resnet50: ['pool1_pool', 'conv2_block3_out', 'conv3_block4_out', 'conv4_block6_out'],
  efficientnet_b0: ['stem_activation', 'block1a_project_bn', 'block2b_add', 'block3b_add', 'block4c_add', 'block5c_add', 'block6d_add'],
  convnext_tiny: ['convnext_tiny_stem', 'add_2', 'add_5', 'add_14'],
};

/** The stage ends of a base's family; none (one group) for an architecture tlkit does not know. */
export function stageEndsOf(family: string): readonly string[] {
  return isFamilyName(family) ? STAGE_ENDS[family] : [];
}

/** One row of `tlkit models`: what a family is and costs, and whether its weights are here. */
export interface FamilyInfo {
  family: FamilyName;
  /** Parameters of the conv base (include_top false) and of the whole ImageNet classifier. */
  baseParams: number;
  topParams: number;
  /** Forward GFLOPs of the conv base for one image at the default size (a multiply-add = 2 FLOPs; convolutions and dense layers). */
  gflops: number;
  defaultSize: number;
  preprocessing: string;
  /** The default fine-tuning cut: the last frozen layer, how many layers train after it, and what they are. */
  unfreezeAfter: string;
  unfreezeLayers: number;
  unfreezeText: string;
  /** The Keras weights file of the conv base, and where it was found on this machine (null: not here, a download is needed). */
  weightsFile: string;
  weightsPath: string | null;
  /** Another pretrained source that needs no download, if any. */
  offlineAlternative?: string;
  /** Extraction images/s on this machine (ONNX Runtime, batch 8, random weights), with --bench. */
  imagesPerSecond?: number;
}

/** The conv base's Keras weights file if it is in tlkit's cache or Keras's own (~/.keras/models). */
export function cachedWeights(family: FamilyName, env: NodeJS.ProcessEnv = process.env): { fileName: string; found: string | null } {
  const spec = kerasWeightFile({ family, includeTop: false, alpha: 1.0, rows: FAMILIES[family].defaultSize });
  const kerasHome = env.KERAS_HOME || path.join(os.homedir(), '.keras');
  const candidates = [cachedWeightPath(spec, cacheRoot(env)), path.join(kerasHome, 'models', spec.fileName)];
  const found = candidates.find((f) => existsSync(f) && statSync(f).isFile() && statSync(f).size > 0) ?? null;
  return { fileName: spec.fileName, found };
}

/** Facts about `family` (builds the graph twice, with random weights; no download). */
export function familyInfo(family: FamilyName, env: NodeJS.ProcessEnv = process.env): FamilyInfo {
  const f = FAMILIES[family];
  const size = f.defaultSize;
  const base = f.architecture({ includeTop: false, weights: 'none', inputShape: [size, size, 3] });
  const top = f.architecture({ includeTop: true, weights: 'none' });
  try {
    const body = base.layers.filter((l) => l.getClassName() !== 'InputLayer');
    const cut = body.findIndex((l) => l.name === f.unfreezeAfter);
    const weights = cachedWeights(family, env);
    return {
      family,
      baseParams: base.countParams(),
      topParams: top.countParams(),
      gflops: forwardFlops(base) / 1e9,
      defaultSize: size,
      preprocessing: f.preprocessingText,
      unfreezeAfter: f.unfreezeAfter,
      unfreezeLayers: body.length - 1 - cut,
      unfreezeText: f.unfreezeText,
      weightsFile: weights.fileName,
      weightsPath: weights.found,
      offlineAlternative: family === 'mobilenet_v2' ? 'nsfwjs (npm package, --base nsfwjs)' : undefined,
    };
  } finally {
    base.dispose();
    top.dispose();
  }
}

export function allFamilyInfo(families: readonly FamilyName[] = FAMILY_NAMES, env: NodeJS.ProcessEnv = process.env): FamilyInfo[] {
  return families.map((f) => familyInfo(f, env));
}

export interface BenchOptions {
  /** Square input size; default the family's. */
  size?: number;
  batch?: number;
  /** Measure for about this long after one warm-up batch. Default 3 s. */
  seconds?: number;
}

/**
 * Feature extraction speed of a family's conv base on this machine: the base (random
 * weights) behind its preprocessing, exported to ONNX and run by ONNX Runtime on random
 * images, as `tlkit extract` runs it (decoding excluded). Images per second.
 */
export async function benchExtraction(family: FamilyName, opts: BenchOptions = {}): Promise<number> {
  const f = FAMILIES[family];
  const size = opts.size ?? f.defaultSize;
  const batch = opts.batch ?? 8;
  const seconds = opts.seconds ?? 3;
  const base = f.architecture({ includeTop: false, weights: 'none', inputShape: [size, size, 3] });
  const input = tfl.input({ shape: [size, size, 3] });
  const wrapped = tfl.model({
    inputs: input,
    outputs: base.apply(preprocessingLayer(f.preprocessing).apply(input) as tfl.SymbolicTensor) as tfl.SymbolicTensor,
  });
  const ort = await OrtModel.create(exportToOnnx(wrapped));
  base.dispose();
  try {
    const random = tf.randomUniform([batch, size, size, 3], 0, 255, 'float32', 1);
    const data = new Float32Array(random.dataSync() as Float32Array);
    random.dispose();
    const shape = [batch, size, size, 3];
    await ort.run(data, shape); // warm-up
    let images = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    do {
      await ort.run(data, shape);
      images += batch;
      elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    } while (elapsed < seconds);
    return images / elapsed;
  } finally {
    await ort.dispose();
  }
}
