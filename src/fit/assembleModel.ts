import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { preprocessingLayer, type PreprocessMode } from '../applications/preprocess.js';
import { SeededDropout } from './seededDropout.js';

/* The serialized (Keras JSON) form of a functional model, as toJSON() writes it. */
type InboundRef = [string, number, number, Record<string, unknown>?];
interface LayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: InboundRef[][];
}
interface ModelJson {
  class_name: string;
  config: { name: string; layers: LayerJson[]; input_layers: [string, number, number][]; output_layers: [string, number, number][] };
}

function modelJson(model: tfl.LayersModel): ModelJson {
  const json = model.toJSON(null, false) as unknown as ModelJson;
  if (!Array.isArray(json?.config?.layers) || !Array.isArray(json.config.input_layers)) {
    throw new Error(`cannot combine model ${model.name}: it is not a functional model (class ${json?.class_name})`);
  }
  if (json.config.input_layers.length !== 1 || json.config.output_layers.length !== 1) {
    throw new Error(`cannot combine model ${model.name}: expected one input and one output`);
  }
  return json;
}

function renameInbound(layers: LayerJson[], from: string, to: [string, number, number]): LayerJson[] {
  return layers.map((l) => ({
    ...l,
    inbound_nodes: l.inbound_nodes.map((node) =>
      node.map((ref) => (ref[0] === from ? ([to[0], to[1], to[2], ref[3] ?? {}] as InboundRef) : ref)),
    ),
  }));
}

/** SeededDropout is for training; the saved model gets Keras's standard Dropout (same inference). */
function standardizeLayer(l: LayerJson): LayerJson {
  if (l.class_name !== SeededDropout.className) return l;
  const { rate, name, trainable, dtype } = l.config;
  return { ...l, class_name: 'Dropout', config: { rate, name, trainable, dtype, noise_shape: null, seed: null } };
}

export interface AssembleOptions {
  /** Preprocessing mode: a frozen 1x1 Conv2D named 'preprocess' goes in front of the base, so the model takes RGB 0..255. */
  preprocessing: PreprocessMode;
  /** The conv base (input [null, H, W, 3], without preprocessing). */
  base: tfl.LayersModel;
  /** The head, whose input takes the base's output. */
  head: tfl.LayersModel;
  name?: string;
}

/**
 * One flat, standard tfjs layers model: input (RGB 0..255) -> preprocess -> every base
 * layer -> every head layer, with the weights of `base` and `head` copied in. Built from
 * the models' JSON, so any topology (branches, adds) and any layer names survive, and
 * the result has no nested models and no custom layers: `tf.loadLayersModel` in a
 * browser loads it as saved, and the ONNX exporter sees plain layers.
 */
export async function assembleFullModel(opts: AssembleOptions): Promise<tfl.LayersModel> {
  const base = modelJson(opts.base);
  const head = modelJson(opts.head);

  const [inputName] = base.config.input_layers[0];
  // Build the preprocessing layer on a throwaway graph to get its serialized config and fixed weights.
  const pre = preprocessingLayer(opts.preprocessing);
  const preInput = tfl.input({ batchShape: opts.base.inputs[0].shape, name: 'preprocess_probe' });
  const preModel = tfl.model({ inputs: preInput, outputs: pre.apply(preInput) as tfl.SymbolicTensor });
  const preJson = modelJson(preModel).config.layers.find((l) => l.name === pre.name)!;

  const baseNames = new Set(base.config.layers.map((l) => l.name));
  if (baseNames.has(pre.name)) throw new Error(`the base already has a layer named ${pre.name}`);
  const headInput = head.config.input_layers[0][0];
  const headLayers = head.config.layers.filter((l) => l.name !== headInput);
  const clash = headLayers.find((l) => baseNames.has(l.name));
  if (clash) throw new Error(`head layer name ${clash.name} is also a base layer name`);

  const layers: LayerJson[] = [
    ...base.config.layers.filter((l) => l.name === inputName),
    { ...preJson, inbound_nodes: [[[inputName, 0, 0, {}]]] },
    ...renameInbound(
      base.config.layers.filter((l) => l.name !== inputName),
      inputName,
      [pre.name, 0, 0],
    ),
    ...renameInbound(headLayers, headInput, base.config.output_layers[0]).map(standardizeLayer),
  ];
  const topology = {
    class_name: 'Model',
    config: { name: opts.name ?? 'tlkit_model', layers, input_layers: base.config.input_layers, output_layers: head.config.output_layers },
    keras_version: `tfjs-layers ${tfl.version_layers}`,
    backend: 'tensor_flow.js',
  };
  // Through JSON text: drops undefined fields, which tfjs's deserializer cannot walk.
  const full = await tfl.models.modelFromJSON({ modelTopology: JSON.parse(JSON.stringify(topology)) } as unknown as tf.io.ModelJSON);

  const source = (name: string): tfl.layers.Layer | undefined => {
    if (name === pre.name) return pre;
    for (const m of [opts.base, opts.head]) {
      const hit = m.layers.find((l) => l.name === name);
      if (hit) return hit;
    }
    return undefined;
  };
  for (const layer of full.layers) {
    const src = source(layer.name);
    const weights = src?.getWeights() ?? [];
    if (weights.length > 0) layer.setWeights(weights);
  }
  pre.dispose();
  return full;
}

/**
 * The head alone as a standard tfjs model (features in, probabilities out; SeededDropout
 * saved as Dropout): the saved model of a run whose base is an ONNX file.
 */
export async function standardHeadModel(head: tfl.LayersModel): Promise<tfl.LayersModel> {
  const json = modelJson(head);
  const topology = {
    class_name: 'Model',
    config: { ...json.config, layers: json.config.layers.map(standardizeLayer) },
    keras_version: `tfjs-layers ${tfl.version_layers}`,
    backend: 'tensor_flow.js',
  };
  const model = await tfl.models.modelFromJSON({ modelTopology: JSON.parse(JSON.stringify(topology)) } as unknown as tf.io.ModelJSON);
  for (const layer of model.layers) {
    const weights = head.getLayer(layer.name).getWeights();
    if (weights.length > 0) layer.setWeights(weights);
  }
  return model;
}

/** Copy weights layer by layer (same names) from one model into another (a saved full model into a base, a base into a full model). */
export function copyWeightsByName(from: tfl.LayersModel, target: tfl.LayersModel): void {
  for (const layer of target.layers) {
    if (layer.weights.length === 0) continue;
    const src = from.layers.find((l) => l.name === layer.name);
    if (src) layer.setWeights(src.getWeights());
  }
}
