import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';

// A saved run's model cut in two at a feature map: the part before it runs frozen (on ONNX
// Runtime), the part after it is rebuilt here as a tfjs model that ends at the head's logits,
// so that tf.grad can take the class score's gradient with respect to the feature map.

/** The head's layers as tlkit names them (fit/head.ts): the first one reads the base's last feature map. */
const HEAD_PREFIX = 'head_';
/** The head's last Dense: linear, its outputs are the logits (the sigmoid or softmax follows as its own layer). */
export const LOGITS_LAYER = 'head_output';

type Node = { inboundLayers: tfl.layers.Layer[]; inputTensors: tfl.SymbolicTensor[]; outputTensors: tfl.SymbolicTensor[] };

/**
 * The node that wires `layer` in the model as loaded. Later nodes are re-applications such
 * as ours; a nested model (ConvNeXt's downsampling blocks) also has a node of its own
 * construction, with no inbound layers, before the one that calls it.
 */
function wiring(layer: tfl.layers.Layer): Node {
  const nodes = (layer as unknown as { inboundNodes: Node[] }).inboundNodes;
  return nodes.find((n) => n.inboundLayers.length > 0) ?? nodes[0];
}

/**
 * The tensor the base hands to the head: the input of the first `head_*` layer. For a run
 * on an ONNX base, model/ is the head alone and this is its input.
 */
export function baseOutputTensor(model: tfl.LayersModel): tfl.SymbolicTensor {
  const first = model.layers.find((l) => l.name.startsWith(HEAD_PREFIX));
  if (!first)
    throw new UserError(`The model ${model.name} has no head_* layers: it is not a model tlkit trained, so Grad-CAM cannot find its head.`);
  const inputs = wiring(first).inputTensors;
  if (inputs.length !== 1) throw new Error(`head layer ${first.name} has ${inputs.length} inputs`);
  return inputs[0];
}

/** The output tensor of layer `name` (as wired in the loaded model). */
export function layerOutputTensor(model: tfl.LayersModel, name: string): tfl.SymbolicTensor {
  let layer: tfl.layers.Layer;
  try {
    layer = model.getLayer(name);
  } catch {
    throw new UserError(`The run's model has no layer '${name}'. Give the name of one of its layers (tlkit summary lists them).`);
  }
  const outs = wiring(layer).outputTensors;
  if (outs.length !== 1) throw new UserError(`Layer '${name}' has ${outs.length} outputs; Grad-CAM needs a layer with one feature map.`);
  return outs[0];
}

/**
 * A tfjs model from `start` (a tensor of `model`, typically a rank-4 feature map) to the
 * logits: the layers after it re-applied to a fresh input, sharing their weights. A layer
 * that also reads a tensor from before `start` (a skip connection across the cut) cannot be
 * rebuilt: a UserError that says to pick a feature map between blocks.
 */
export function logitsFrom(model: tfl.LayersModel, start: tfl.SymbolicTensor): tfl.LayersModel {
  const input = tfl.input({ shape: start.shape.slice(1) as number[], name: 'gradcam_feature_map' });
  const mapped = new Map<number, tfl.SymbolicTensor>([[start.id, input]]);
  let logits: tfl.SymbolicTensor | undefined;
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    const node = wiring(layer);
    const ins = node.inputTensors.map((t) => mapped.get(t.id));
    if (ins.every((t) => t === undefined)) continue; // before the feature map, or beside it
    const missing = node.inputTensors.find((t) => !mapped.has(t.id));
    if (missing) {
      throw new UserError(
        `Cannot take Grad-CAM at ${start.sourceLayer.name}: layer ${layer.name} after it also reads ${missing.sourceLayer.name}, from before it (a skip connection). Pick a layer between blocks.`,
      );
    }
    const out = layer.apply(ins.length === 1 ? (ins[0] as tfl.SymbolicTensor) : (ins as tfl.SymbolicTensor[]));
    const outs = (Array.isArray(out) ? out : [out]) as tfl.SymbolicTensor[];
    node.outputTensors.forEach((t, i) => mapped.set(t.id, outs[i]));
    if (layer.name === LOGITS_LAYER) {
      logits = outs[0];
      break;
    }
  }
  if (!logits)
    throw new UserError(`The layers after ${start.sourceLayer.name} do not reach the head's ${LOGITS_LAYER}; pick a layer of the base.`);
  return tfl.model({ inputs: input, outputs: logits, name: 'gradcam_logits' });
}
