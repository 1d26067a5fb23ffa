import { createHash } from 'node:crypto';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import type { ConvBase } from '../applications/loadBase.js';
import { preprocessingLayer } from '../applications/preprocess.js';
import { exportToOnnx } from '../onnx/export.js';
import { describePreprocess, inspectOnnxBase, OnnxBase, type OnnxBaseInfo, type OnnxBaseOptions } from '../ort/onnxBase.js';
import { OrtModel, type OrtOutput } from '../ort/ortRunner.js';
import { cachedGraph, type GraphCacheOptions, type GraphKey } from './graphCache.js';

/**
 * An ONNX file as a frozen base (`--base model.onnx`): the inspected facts and the bytes
 * to run (cut at --up-to), with the fields the feature cache keys on, as a ConvBase has them.
 */
export interface OnnxFeatureBase {
  family: 'onnx';
  /** The preprocessing's name (a preset, or keys): a cache key part, and what the run records. */
  preprocessing: string;
  imageSize: [number, number];
  /** The file's sha256. */
  weightsHash: string;
  source: string;
  onnx: { info: OnnxBaseInfo; bytes: Uint8Array };
}

/** What features are computed with: a tfjs conv base (Keras families, tfjs folders, .h5) or an ONNX file. */
export type FeatureBase = ConvBase | OnnxFeatureBase;

export function isOnnxFeatureBase(base: FeatureBase): base is OnnxFeatureBase {
  return 'onnx' in base;
}

/** Read and check an ONNX base (a UserError naming the file and the fix when it cannot be one). */
export function loadOnnxFeatureBase(file: string, opts: OnnxBaseOptions): OnnxFeatureBase {
  const { info, bytes } = inspectOnnxBase(file, opts);
  return onnxFeatureBase(info, bytes);
}

export function onnxFeatureBase(info: OnnxBaseInfo, bytes: Uint8Array): OnnxFeatureBase {
  const preprocessing = describePreprocess(info.preprocess);
  const cut = info.upTo ? `, up to ${info.upTo}` : '';
  const source = `ONNX model ${info.file} (sha256 ${info.sha256.slice(0, 12)}, ${info.layout} ${info.imageSize.join('x')}, preprocess ${preprocessing}${cut})`;
  return { family: 'onnx', preprocessing, imageSize: info.imageSize, weightsHash: info.sha256, source, onnx: { info, bytes } };
}

/** What the feature cache keys a base on (with the image size, data and options). */
export interface FeatureKeyParts {
  weightsHash: string;
  preprocessing: string;
  /** Where the base is cut ('' for the whole base). */
  cutLayer: string;
}

/**
 * The cache key parts of `base` cut at `upTo` (a layer of a tfjs base). An ONNX base is
 * cut when loaded: its --up-to, its layout and input name join the key instead.
 */
export function featureKeyParts(base: FeatureBase, upTo?: string): FeatureKeyParts {
  if (!isOnnxFeatureBase(base)) return { weightsHash: base.weightsHash, preprocessing: base.preprocessing, cutLayer: upTo ?? '' };
  if (upTo !== undefined)
    throw new UserError(
      `The ONNX base ${base.onnx.info.file} is cut when it is loaded: give the cut (${upTo}) as upTo of loadOnnxFeatureBase (--up-to on the command line).`,
    );
  const { info } = base.onnx;
  return {
    weightsHash: base.weightsHash,
    preprocessing: `onnx ${info.layout} ${info.inputName}: ${base.preprocessing}`,
    cutLayer: info.upTo ?? '',
  };
}

/** Runs the frozen base on ONNX Runtime: RGB 0..255 NHWC batches in, channels-last features out. */
export interface FrozenRunner {
  run(images: Float32Array, shape: number[]): Promise<OrtOutput>;
  dispose(): Promise<void>;
}

/** The frozen base (or its prefix up to layer `upTo`, tfjs bases) on ONNX Runtime at `imageSize`. */
export async function openFrozenRunner(
  base: FeatureBase,
  imageSize: [number, number],
  opts: { upTo?: string; threads?: number } = {},
): Promise<FrozenRunner> {
  if (!isOnnxFeatureBase(base)) {
    const { bytes } = await frozenGraphBytes(base, imageSize, opts.upTo);
    return OrtModel.create(bytes, { threads: opts.threads });
  }
  featureKeyParts(base, opts.upTo);
  const { info, bytes } = base.onnx;
  if (info.imageSize.join('x') !== imageSize.join('x')) {
    throw new UserError(
      `The ONNX base ${info.file} was loaded for ${info.imageSize.join('x')} images, not ${imageSize.join('x')}. Give the image size when loading it (--image-size), not when extracting.`,
    );
  }
  const model = await OnnxBase.open(info, bytes, opts.threads);
  return {
    run: (images, shape) => model.features(images, shape[0]),
    dispose: () => model.dispose(),
  };
}

/**
 * The network ONNX Runtime runs: raw RGB input -> preprocessing layer -> base.
 * The preprocessing is a fixed 1x1 conv (applications/preprocess.ts), so the
 * exporter needs no special case.
 */
export function frozenModel(base: ConvBase, imageSize: [number, number]): tfl.LayersModel {
  const [h, w] = [base.model.inputs[0].shape[1], base.model.inputs[0].shape[2]];
  if ((h !== null && h !== imageSize[0]) || (w !== null && w !== imageSize[1])) {
    throw new UserError(
      `The base ${base.source} takes ${h}x${w} images, but the image size asked for is ${imageSize[0]}x${imageSize[1]}. Load the base at that size, or leave the image size (imageSize, --image-size) out.`,
    );
  }
  const x = tfl.input({ shape: [imageSize[0], imageSize[1], 3], name: 'image' });
  const pre = preprocessingLayer(base.preprocessing).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: x, outputs: base.model.apply(pre) as tfl.SymbolicTensor, name: `${base.model.name}_frozen` });
}

/**
 * What the fp32 frozen graph of a tfjs base is a function of: its weights, its layers'
 * configuration, the preprocessing in front, the cut and the image size.
 */
export function frozenGraphKey(base: ConvBase, imageSize: [number, number], upTo?: string): GraphKey {
  const topology = createHash('sha256')
    .update(JSON.stringify(base.model.toJSON(null, false)))
    .digest('hex');
  return {
    kind: 'frozen',
    weightsHash: base.weightsHash,
    cut: upTo ?? '',
    imageSize,
    precision: 'fp32',
    extra: { preprocessing: base.preprocessing, topology },
  };
}

/**
 * The fp32 ONNX graph of the frozen base (cut at `upTo`): from the on-disk graph cache
 * when a sound copy is there, else exported (and cached). A base with random weights
 * is exported each time: nothing else will ever ask for its graph.
 */
export async function frozenGraphBytes(
  base: ConvBase,
  imageSize: [number, number],
  upTo?: string,
  cache: GraphCacheOptions = {},
): Promise<{ bytes: Uint8Array; hit: boolean; key: GraphKey }> {
  const key = frozenGraphKey(base, imageSize, upTo);
  const build = () => exportToOnnx(frozenModel(base, imageSize), { upTo });
  if (base.randomWeights) return { bytes: build(), hit: false, key };
  return { ...(await cachedGraph(key, build, cache)), key };
}
