import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { defaultUnfreezeCount, isFamilyName } from '../applications/index.js';

/**
 * Fine-tuning splits a conv base in two at a "cut" layer: the frozen prefix
 * (input .. cut), which runs on ONNX Runtime, and the trainable suffix (the
 * layers after the cut), which trains on tfjs. This file decides the cut and
 * builds the suffix as a tfjs model that SHARES the base's layer objects, so
 * training the suffix trains the base's own weights and the base saves as is.
 */

export interface BaseCut {
  /** Name of the last frozen layer: its output is the suffix's input. */
  cutLayer: string;
  /** Names of the unfrozen layers, in order. */
  unfrozen: string[];
}

/** The base's layers without its InputLayer, in topological order (Keras's `conv_base.layers[1:]`). */
function bodyLayers(model: tfl.LayersModel): tfl.layers.Layer[] {
  return model.layers.filter((l) => l.getClassName() !== 'InputLayer');
}

/**
 * How many layers "the last two blocks" are in the MobileNet families, where
 * names carry the block number (conv_dw_12, conv_pw_12_bn; block_15_expand).
 * Everything from the first layer of the second-to-last block to the end.
 */
function lastTwoBlocks(layers: tfl.layers.Layer[], pattern: RegExp): number | undefined {
  const blockOf = (name: string): number | undefined => {
    const m = pattern.exec(name);
    return m ? Number(m[1]) : undefined;
  };
  const blocks = layers.map((l) => blockOf(l.name)).filter((b): b is number => b !== undefined);
  if (blocks.length === 0) return undefined;
  const last = Math.max(...blocks);
  const first = layers.findIndex((l) => (blockOf(l.name) ?? -1) >= last - 1);
  return layers.length - first;
}

/**
 * The default number of layers to unfreeze: 4 for VGG16 (the book:
 * block5_conv1..3 + block5_pool), the last two depthwise-separable blocks for
 * MobileNet, the last two inverted-residual blocks (and the top conv) for
 * MobileNetV2, 4 otherwise.
 */
export function defaultUnfreeze(model: tfl.LayersModel, family: string): number {
  // The family table's unfreeze point (ResNet50's, EfficientNetB0's, ConvNeXtTiny's last stage, ...).
  const fromTable = isFamilyName(family) ? defaultUnfreezeCount(model, family) : undefined;
  if (fromTable !== undefined) return fromTable;
  const layers = bodyLayers(model);
  if (family === 'mobilenet' || layers.some((l) => /^conv_dw_\d+$/.test(l.name))) {
    return lastTwoBlocks(layers, /^conv_(?:dw|pw|pad)_(\d+)/) ?? 4;
  }
  if (family === 'mobilenet_v2' || layers.some((l) => /^block_\d+_/.test(l.name))) {
    return lastTwoBlocks(layers, /^block_(\d+)_/) ?? 4;
  }
  return 4;
}

/** Where to cut the base so that its last `unfreeze` layers train (`option`: how errors name it, '--unfreeze' or 'unfreeze'). */
export function cutForUnfreeze(model: tfl.LayersModel, unfreeze: number, option = '--unfreeze'): BaseCut {
  const layers = bodyLayers(model);
  if (!Number.isInteger(unfreeze) || unfreeze < 1 || unfreeze >= layers.length) {
    throw new UserError(
      `${option} must be a whole number from 1 to ${layers.length - 1} (the base ${model.name} has ${layers.length} layers after its input, and at least one must stay frozen), got ${unfreeze}.`,
    );
  }
  const cutIndex = layers.length - unfreeze - 1;
  return { cutLayer: layers[cutIndex].name, unfrozen: layers.slice(cutIndex + 1).map((l) => l.name) };
}

/**
 * Keras 3 runs a BatchNormalization layer whose `trainable` is false in
 * inference mode (moving statistics, no updates), and fine-tuning guides keep
 * it so. tfjs-layers passes fit's `training: true` to every layer regardless,
 * so the frozen BN layers of the suffix get their `call` pinned to inference.
 * `trainBn` (fastai's train_bn) takes the pin off again: the layer then trains
 * its gamma and beta and, called as in training, normalises with the batch's
 * statistics and updates its moving ones.
 */
type PinnableLayer = tfl.layers.Layer & { __tlkitOwnCall?: tfl.layers.Layer['call'] };

function setInferencePin(layer: tfl.layers.Layer, pinned: boolean): void {
  const l = layer as PinnableLayer;
  if (!pinned) {
    if (l.__tlkitOwnCall) layer.call = l.__tlkitOwnCall;
    delete l.__tlkitOwnCall;
    return;
  }
  if (l.__tlkitOwnCall) return;
  const own = layer.call;
  const call = own.bind(layer);
  l.__tlkitOwnCall = own;
  layer.call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => call(inputs, { ...kwargs, training: false });
}

export interface SuffixModel {
  /** Input = the cut layer's output (without the batch axis: `inputShape`). */
  model: tfl.LayersModel;
  inputShape: number[];
  /** The layers whose weights train (BatchNormalization excluded: frozen, inference mode, unless `trainBn`). */
  trainable: string[];
}

export interface SuffixOptions {
  /** How errors name the unfreeze option ('--unfreeze' or 'unfreeze'). */
  unfreezeOption?: string;
  /** fastai's train_bn: the suffix's BatchNormalization layers train (gamma, beta, batch statistics) instead of staying frozen. */
  trainBn?: boolean;
}

/**
 * The node that wires `layer` inside the base. Later nodes are our own re-applications;
 * a nested model (ConvNeXt's stem and downsampling Sequentials) also has a node of its
 * own construction, with no inbound layers, before the one that calls it in the base.
 */
function wiringNode(layer: tfl.layers.Layer): tfl.layers.Layer['inboundNodes'][number] {
  return layer.inboundNodes.find((n) => n.inboundLayers.length > 0) ?? layer.inboundNodes[0];
}

/**
 * A tfjs model from the cut layer's output to the base's output, made of the
 * base's own layer objects (weights shared). Unfrozen layers are made
 * trainable except BatchNormalization, which stays frozen in inference mode
 * (or trains, in training mode, with `trainBn`). Branches inside the suffix (residual adds) are followed; a branch that
 * starts before the cut is a UserError (cut elsewhere).
 */
export function buildSuffixModel(base: tfl.LayersModel, cut: BaseCut, options: SuffixOptions = {}): SuffixModel {
  const { unfreezeOption = '--unfreeze', trainBn = false } = options;
  const cutLayer = base.getLayer(cut.cutLayer);
  const cutOutput = wiringNode(cutLayer).outputTensors;
  if (cutOutput.length !== 1)
    throw new UserError(`Cannot cut ${base.name} after ${cut.cutLayer}: the layer has ${cutOutput.length} outputs.`);
  const inputShape = cutOutput[0].shape.slice(1) as number[];
  const input = tfl.input({ shape: inputShape, name: `${cut.cutLayer}_features` });
  const mapped = new Map<number, tfl.SymbolicTensor>([[cutOutput[0].id, input]]);
  const trainable: string[] = [];
  for (const name of cut.unfrozen) {
    const layer = base.getLayer(name);
    const node = wiringNode(layer);
    const inputs = node.inputTensors.map((t) => {
      const m = mapped.get(t.id);
      if (!m) {
        throw new UserError(
          `Cannot fine-tune ${base.name} from ${cut.unfrozen[0]}: layer ${name} also reads ${t.name}, from before the cut (a skip connection). Choose ${unfreezeOption} so that the cut falls between blocks.`,
        );
      }
      return m;
    });
    if (layer.getClassName() === 'BatchNormalization' && !trainBn) {
      layer.trainable = false;
      setInferencePin(layer, true);
    } else {
      setInferencePin(layer, false);
      layer.trainable = true;
      if (layer.trainableWeights.length > 0) trainable.push(name);
    }
    const out = layer.apply(inputs.length === 1 ? inputs[0] : inputs);
    const outs = (Array.isArray(out) ? out : [out]) as tfl.SymbolicTensor[];
    node.outputTensors.forEach((t, i) => mapped.set(t.id, outs[i]));
  }
  const finalOutput = mapped.get(base.outputs[0].id);
  if (!finalOutput) throw new Error(`the suffix of ${base.name} after ${cut.cutLayer} does not reach the base's output`);
  return { model: tfl.model({ inputs: input, outputs: finalOutput, name: `${base.name}_suffix` }), inputShape, trainable };
}
