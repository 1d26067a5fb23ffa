import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { FAMILIES, FAMILY_NAMES, type Family, type FamilyName, isFamilyName, getFamily } from './index.js';
import type { PreprocessMode } from './preprocess.js';
import { makeDivisible, MOBILENET_V2_WEIGHT_ALPHAS } from './mobilenetV2.js';
import { MOBILENET_WEIGHT_ALPHAS } from './mobilenet.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { readKerasH5, applyKerasH5, type KerasH5Weights } from '../weights/kerasH5.js';
import { nsfwjsArtifacts } from '../weights/nsfwjsModel.js';

/** A pretrained convolutional base, ready for feature extraction or fine-tuning. */
export interface ConvBase {
  /** Keras-exact conv base WITHOUT preprocessing; input [null, H, W, 3]. */
  model: tfl.LayersModel;
  family: FamilyName | 'custom';
  /** What to apply to RGB 0..255 images before `model` (see preprocessingLayer). */
  preprocessing: PreprocessMode;
  imageSize: [number, number];
  /** sha256 hex of the weights (names, shapes, values): a cache key. */
  weightsHash: string;
  /** Human description of where the base came from. */
  source: string;
  /** True for a fresh random initialisation (`weights: 'none'`): no other process has these weights, so caches skip it. */
  randomWeights?: boolean;
}

export interface LoadBaseOptions {
  /** A family name (vgg16, mobilenet, mobilenet_v2), a tfjs model folder, a Keras .h5 weights file, or "nsfwjs". */
  base: string;
  /** For a family: 'imagenet' (default; downloaded and cached), 'none' (random Keras-default init) or a .h5 path. */
  weights?: string;
  /** Input H x W (a number means square). Default: the family's usual size, or the model's own. */
  imageSize?: number | [number, number];
  /** Width multiplier for the MobileNet families (default 1.0; inferred for .h5 files). */
  alpha?: number;
}

const MIN_IMAGE_SIZE = 32;

function normalizeSize(size: number | [number, number] | undefined): [number, number] | undefined {
  if (size === undefined) return undefined;
  const hw: [number, number] = typeof size === 'number' ? [size, size] : size;
  if (!hw.every((v) => Number.isInteger(v) && v >= MIN_IMAGE_SIZE)) {
    throw new UserError(
      `The image size must be whole numbers of at least ${MIN_IMAGE_SIZE} pixels, got ${hw.join('x')}. Use e.g. --image-size 180.`,
    );
  }
  return hw;
}

/** sha256 over every weight's name, shape and float32 values (of the layers `include` keeps): identifies the base's weights. */
export function hashWeights(model: tfl.LayersModel, include: (layerName: string) => boolean = () => true): string {
  const h = createHash('sha256');
  for (const w of model.layers.filter((l) => include(l.name)).flatMap((l) => l.weights)) {
    h.update(`${w.originalName}:${w.shape.join('x')};`);
    const data = w.read().dataSync() as Float32Array;
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return h.digest('hex');
}

/** Every layer trainable, as a freshly built Keras application (callers freeze what they want). */
function makeTrainable(model: tfl.LayersModel): void {
  for (const layer of model.layers) layer.trainable = true;
  model.trainable = true;
}

function finish(model: tfl.LayersModel, family: FamilyName | 'custom', preprocessing: PreprocessMode, source: string): ConvBase {
  const [h, w] = model.inputs[0].shape.slice(1, 3) as number[];
  return { model, family, preprocessing, imageSize: [h, w], weightsHash: hashWeights(model), source };
}

/** The family whose signature layers the names include, if any. */
export function familyOfLayerNames(names: Iterable<string>): Family | undefined {
  const set = new Set(names);
  return FAMILY_NAMES.map((n) => FAMILIES[n]).find((f) => f.signatureLayers.every((s) => set.has(s)));
}

/** Width multiplier of a MobileNet / MobileNetV2 .h5, from the filter counts of its first layers. */
function inferAlpha(family: FamilyName, h5w: KerasH5Weights): number | undefined {
  const outChannels = (layer: string) => h5w.layers.get(layer)?.[0]?.shape.at(-1);
  if (family === 'mobilenet') {
    const first = outChannels('conv1');
    return MOBILENET_WEIGHT_ALPHAS.find((a) => Math.trunc(32 * a) === first) ?? (first ? first / 32 : undefined);
  }
  if (family === 'mobilenet_v2') {
    const first = outChannels('Conv1');
    const block1 = outChannels('block_1_project');
    return MOBILENET_V2_WEIGHT_ALPHAS.find((a) => makeDivisible(32 * a, 8) === first && makeDivisible(Math.trunc(24 * a), 8) === block1);
  }
  return undefined;
}

async function fromFamily(family: Family, opts: LoadBaseOptions, size: [number, number] | undefined): Promise<ConvBase> {
  const weights = opts.weights ?? 'imagenet';
  const [h, w] = size ?? [family.defaultSize, family.defaultSize];
  const model = await family.build({ includeTop: false, weights, inputShape: [h, w, 3], alpha: opts.alpha });
  const what =
    weights === 'imagenet'
      ? 'ImageNet weights (Keras)'
      : weights === 'none'
        ? 'random Keras-default initialisation'
        : `weights from ${weights}`;
  const base = finish(model, family.name, family.preprocessing, `${family.name} conv base, ${what}`);
  return weights === 'none' ? { ...base, randomWeights: true } : base;
}

async function fromH5(file: string, size: [number, number] | undefined, alphaOverride?: number): Promise<ConvBase> {
  const h5w = await readKerasH5(file);
  const family = familyOfLayerNames(h5w.layerNames);
  if (!family) {
    throw new UserError(
      `Cannot tell which architecture the weights file ${file} is for: its layer names (${h5w.layerNames.slice(0, 4).join(', ')}${h5w.layerNames.length > 4 ? ', ...' : ''}) match none of ${FAMILY_NAMES.join(', ')}. Give the .h5 of one of those Keras applications, or build the model in Keras and export it to a tfjs folder.`,
    );
  }
  const alpha = alphaOverride ?? inferAlpha(family.name, h5w) ?? 1.0;
  const [h, w] = size ?? [family.defaultSize, family.defaultSize];
  const model = family.architecture({ includeTop: false, weights: 'none', inputShape: [h, w, 3], alpha });
  applyKerasH5(model, h5w);
  const alphaText = family.name === 'vgg16' ? '' : `, alpha ${alpha}`;
  return finish(model, family.name, family.preprocessing, `${family.name} conv base${alphaText}, weights from ${file}`);
}

type TopologyLayer = { name: string; class_name: string; config: Record<string, unknown> };
type Topology = { model_config?: { config?: { layers?: TopologyLayer[]; output_layers?: unknown } } };

function topologyLayers(topology: unknown): TopologyLayer[] {
  return (topology as Topology)?.model_config?.config?.layers ?? [];
}

/**
 * Edit a Keras/tfjs topology JSON before building it: set the input size, and/or keep only
 * the layers up to `lastLayer` (Keras lists layers in topological order), so a model is
 * rebuilt at another image size or without its classifier (whose Flatten/Dense would not fit).
 */
function editTopology(topology: unknown, size: [number, number] | undefined, lastLayer: string | undefined): unknown {
  const copy = JSON.parse(JSON.stringify(topology)) as Topology;
  const config = copy.model_config?.config;
  if (!config?.layers)
    throw new UserError('The model.json has no Keras model_config with layers; give a tfjs layers model (not a graph model).');
  if (lastLayer) {
    const end = config.layers.findIndex((l) => l.name === lastLayer);
    config.layers = config.layers.slice(0, end + 1);
    config.output_layers = [[lastLayer, 0, 0]];
  }
  if (size) {
    const inputs = config.layers.filter((l) => l.class_name === 'InputLayer');
    if (inputs.length !== 1)
      throw new UserError(`Cannot change the image size of a model with ${inputs.length} inputs; give a model with one image input.`);
    const cfg = inputs[0].config;
    const shape = (cfg.batch_input_shape ?? cfg.batch_shape) as Array<number | null> | undefined;
    cfg.batch_input_shape = [null, size[0], size[1], shape?.[3] ?? 3];
    delete cfg.batch_shape;
  }
  return copy;
}

/** Build tfjs artifacts as a layers model, optionally resized and cut (weights of dropped layers are ignored). */
async function loadArtifacts(
  artifacts: tf.io.ModelArtifacts,
  size: [number, number] | undefined,
  lastLayer?: string,
): Promise<tfl.LayersModel> {
  const edited =
    size || lastLayer ? { ...artifacts, modelTopology: editTopology(artifacts.modelTopology, size, lastLayer) as object } : artifacts;
  return tfl.loadLayersModel(tf.io.fromMemory(edited), { strict: !lastLayer });
}

function checkImageInput(model: tfl.LayersModel, source: string): void {
  const shape = model.inputs.length === 1 ? model.inputs[0].shape : undefined;
  if (shape?.length !== 4 || shape[3] !== 3) {
    throw new UserError(
      `${source} is not an image model with one [H, W, 3] input (its inputs: ${model.inputs.map((i) => JSON.stringify(i.shape)).join(', ')}); give a conv base that takes RGB images.`,
    );
  }
  if (shape[1] === null || shape[2] === null) {
    throw new UserError(`${source} has no fixed input size (${JSON.stringify(shape)}); pass an image size (--image-size N).`);
  }
}

async function fromTfjsDir(dir: string, size: [number, number] | undefined): Promise<ConvBase> {
  const artifacts = await fileSystemIO(dir).load!();
  const names = topologyLayers(artifacts.modelTopology).map((l) => l.name);
  const family = familyOfLayerNames(names);
  // a whole Keras model of a known family: keep its conv base
  const cut =
    family && names.includes(family.lastConvLayer) && names[names.length - 1] !== family.lastConvLayer ? family.lastConvLayer : undefined;
  const model = await loadArtifacts(artifacts, size, cut);
  checkImageInput(model, dir);
  makeTrainable(model);
  const preprocessing = family?.preprocessing ?? 'none';
  const note = family ? `a ${family.name} architecture, "${preprocessing}" preprocessing` : 'custom architecture, no preprocessing assumed';
  return finish(
    model,
    family?.name ?? 'custom',
    preprocessing,
    `tfjs model ${path.resolve(dir)} (${note}${cut ? `, cut after ${cut}` : ''})`,
  );
}

/**
 * The nsfwjs MobileNetV2 conv base (up to out_relu). nsfwjs feeds it x / 255; that scale is
 * folded into the first convolution's kernel (it has no bias and only zero padding before it),
 * so the base takes RGB 0..255 directly and its preprocessing is 'none'.
 */
async function fromNsfwjs(size: [number, number] | undefined): Promise<ConvBase> {
  const model = await loadArtifacts(nsfwjsArtifacts(), size, 'out_relu');
  const conv1 = model.getLayer('Conv1');
  const weights = conv1.getWeights();
  if (weights.length !== 1) throw new Error('nsfwjs Conv1 unexpectedly has a bias; cannot fold the 1/255 input scale');
  conv1.setWeights([tf.tidy(() => tf.div(weights[0], 255))]);
  makeTrainable(model);
  return finish(
    model,
    'mobilenet_v2',
    'none',
    'nsfwjs MobileNetV2 conv base (Keras 2.2.4, up to out_relu; its 1/255 input scaling folded into Conv1)',
  );
}

/** Load a pretrained conv base: a Keras family, a tfjs model folder, a Keras .h5 file, or nsfwjs. */
export async function loadBase(opts: LoadBaseOptions): Promise<ConvBase> {
  const size = normalizeSize(opts.imageSize);
  const base = opts.base;
  if (base === 'nsfwjs') return fromNsfwjs(size);
  if (/\.onnx$/i.test(base.trim())) {
    throw new UserError(
      `${base} is an ONNX model: tlkit runs it as a frozen base only (train --mode features or augment, extract, predict). Its layers cannot be loaded into tfjs to fine-tune or summarize; use a Keras family for that.`,
    );
  }
  if (existsSync(base)) {
    if (statSync(base).isDirectory() || base.endsWith('.json')) {
      if (opts.weights && opts.weights !== 'imagenet')
        throw new UserError(`--weights ${opts.weights} cannot be combined with the model folder ${base}, which brings its own weights.`);
      return fromTfjsDir(base, size);
    }
    if (opts.weights && opts.weights !== 'imagenet' && path.resolve(opts.weights) !== path.resolve(base)) {
      throw new UserError(`--weights ${opts.weights} cannot be combined with the weights file ${base} given as the base.`);
    }
    return fromH5(base, size, opts.alpha);
  }
  const key = base.toLowerCase().replace(/-/g, '_');
  if (isFamilyName(key) || !/[/\\.]/.test(base)) {
    return fromFamily(getFamily(base), opts, size); // getFamily raises the "unknown family" UserError
  }
  throw new UserError(
    `The base ${base} does not exist. Expected a model family (${FAMILY_NAMES.join(', ')}), a tfjs model folder (with model.json), a Keras .h5 weights file, an ONNX image model (.onnx), or nsfwjs.`,
  );
}
