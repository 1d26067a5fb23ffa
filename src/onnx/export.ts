import type * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { converters } from './converters/index.js';
import { unsupported, type Converter, type Layer } from './converters/types.js';
import { GraphBuilder, type Value } from './graphBuilder.js';
import { encodeModel, makeGraph, makeModel, makeNode, makeValueInfo } from './proto.js';

export interface ExportOptions {
  /** Name of the last layer to include (a frozen prefix); it may sit inside a nested model. Default: the whole model. */
  upTo?: string;
  /** Graph input/output names (default 'input' / 'output'). */
  inputName?: string;
  outputName?: string;
}

export const DEFAULT_INPUT = 'input';
export const DEFAULT_OUTPUT = 'output';

type SymbolicTensor = tfl.SymbolicTensor;
type Model = tfl.LayersModel;

interface NodeLike {
  inputTensors: SymbolicTensor[];
  outputTensors: SymbolicTensor[];
}

function inboundNode(layer: Layer, index: number): NodeLike {
  return (layer as unknown as { inboundNodes: NodeLike[] }).inboundNodes[index];
}

function isModel(layer: Layer): layer is Model {
  const l = layer as unknown as Partial<Model>;
  return Array.isArray(l.layers) && Array.isArray(l.inputs) && Array.isArray(l.outputs);
}

/** Does `model` (or a model nested in it) contain a layer called `name`? */
function contains(model: Model, name: string): boolean {
  return model.layers.some((l) => l.name === name || (isModel(l) && contains(l, name)));
}

/** The symbolic tensors produced by `target`'s call inside `model`'s graph (found walking back from the outputs). */
function callOf(model: Model, target: Layer): NodeLike {
  const seen = new Set<number>();
  const stack = [...model.outputs];
  while (stack.length) {
    const t = stack.pop() as SymbolicTensor;
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    const node = inboundNode(t.sourceLayer, t.nodeIndex);
    if (t.sourceLayer === target) return node;
    stack.push(...node.inputTensors);
  }
  throw new UserError(
    `Layer '${target.name}' does not lead to the outputs of model '${model.name}', so the model cannot be cut there. Pick a layer on the path from the input to the output.`,
  );
}

/** Emits one model's graph (recursively for nested models) into the builder. */
class ModelEmitter {
  private readonly memo = new Map<number, Value>();

  constructor(
    private readonly b: GraphBuilder,
    private readonly model: Model,
    inputs: Value[],
    private readonly table: Record<string, Converter> = converters,
  ) {
    if (inputs.length !== model.inputs.length) {
      throw new UserError(
        `Model '${model.name}' takes ${model.inputs.length} inputs, got ${inputs.length}; only single-input chains of models can be exported.`,
      );
    }
    model.inputs.forEach((t, i) => this.memo.set(t.id, inputs[i]));
  }

  /** The values of the model's outputs, or of layer `upTo` (searched in nested models too). */
  emit(upTo?: string): Value[] {
    if (upTo === undefined) return this.model.outputs.map((t) => this.tensor(t));
    const direct = this.model.layers.find((l) => l.name === upTo);
    if (direct) return callOf(this.model, direct).outputTensors.map((t) => this.tensor(t));
    const nested = this.model.layers.find((l) => isModel(l) && contains(l, upTo));
    if (!nested || !isModel(nested)) {
      throw new UserError(
        `No layer named '${upTo}' in model '${this.model.name}' (its layers: ${this.model.layers.map((l) => l.name).join(', ')}). Pass one of those names as the cut point.`,
      );
    }
    const call = callOf(this.model, nested);
    const inputs = call.inputTensors.map((t) => this.tensor(t));
    return new ModelEmitter(this.b, nested, inputs, this.table).emit(upTo);
  }

  private tensor(t: SymbolicTensor): Value {
    const known = this.memo.get(t.id);
    if (known) return known;
    // Iterative post-order walk: deep models (MobileNetV2 has ~150 layers) stay off the call stack limit.
    const stack: SymbolicTensor[] = [t];
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (this.memo.has(top.id)) {
        stack.pop();
        continue;
      }
      const layer = top.sourceLayer;
      if (layer.getClassName() === 'InputLayer') {
        throw new UserError(
          `Model '${this.model.name}' uses input '${layer.name}' that is not its own input; only single-input models can be exported.`,
        );
      }
      const node = inboundNode(layer, top.nodeIndex);
      const missing = node.inputTensors.filter((x) => !this.memo.has(x.id));
      if (missing.length) {
        stack.push(...missing);
        continue;
      }
      stack.pop();
      const outputs = this.layer(
        layer,
        node.inputTensors.map((x) => this.memo.get(x.id) as Value),
        node.outputTensors,
      );
      node.outputTensors.forEach((o, i) => this.memo.set(o.id, outputs[i]));
    }
    return this.memo.get(t.id) as Value;
  }

  private layer(layer: Layer, inputs: Value[], outputs: SymbolicTensor[]): Value[] {
    if (isModel(layer)) return new ModelEmitter(this.b, layer, inputs, this.table).emit();
    const convert = this.table[layer.getClassName()];
    if (!convert) throw unsupported(layer, 'this layer class');
    const values = convert(
      this.b,
      layer,
      inputs,
      outputs.map((o) => o.shape),
    );
    if (values.length !== outputs.length)
      throw new Error(`converter for ${layer.getClassName()} returned ${values.length} outputs, expected ${outputs.length}`);
    return values;
  }
}

/**
 * Emit the whole of a single-input model into `b`, reading `input`; returns its output value.
 * `overrides` replace the converters of some layer classes (training graphs turn dropout
 * into a mask input).
 */
export function emitModel(b: GraphBuilder, model: tfl.LayersModel, input: Value, overrides: Record<string, Converter> = {}): Value {
  const outs = new ModelEmitter(b, model, [input], { ...converters, ...overrides }).emit();
  if (outs.length !== 1) throw new UserError(`Model '${model.name}' has ${outs.length} outputs; only one is supported.`);
  return outs[0];
}

/**
 * Export a tfjs-layers model (or its prefix up to layer `upTo`) to ONNX bytes.
 * The graph takes and returns channels-last (NHWC) float32 tensors with a
 * symbolic batch dimension, like the tfjs model; internally it runs channels-first
 * and transposes once at each edge.
 */
export function exportToOnnx(model: tfl.LayersModel, opts: ExportOptions = {}): Uint8Array {
  return encodeModel(buildOnnxModel(model, opts).model);
}

/** The ONNX model as a message plus the Keras shapes of its input and output (for tests and callers that inspect it). */
export function buildOnnxModel(model: tfl.LayersModel, opts: ExportOptions = {}) {
  if (model.inputs.length !== 1) {
    throw new UserError(`Model '${model.name}' has ${model.inputs.length} inputs; the ONNX exporter handles single-input models only.`);
  }
  const inputName = opts.inputName ?? DEFAULT_INPUT;
  const outputName = opts.outputName ?? DEFAULT_OUTPUT;
  const b = new GraphBuilder();
  b.reserve(inputName);
  b.reserve(outputName);
  const inputShape = model.inputs[0].shape;
  const outs = new ModelEmitter(b, model, [{ name: inputName, shape: inputShape, nchw: false }]).emit(opts.upTo);
  if (outs.length !== 1)
    throw new UserError(`The exported part of model '${model.name}' has ${outs.length} outputs; only one is supported.`);
  const out = b.asKeras(outs[0]);
  b.nodes.push(makeNode('Identity', [out.name], [outputName], b.uniqueName('output/Identity')));
  const graph = makeGraph(
    b.nodes,
    model.name || 'tlkit',
    [makeValueInfo(inputName, inputShape)],
    [makeValueInfo(outputName, out.shape)],
    b.initializers,
  );
  return { model: makeModel(graph), inputShape, outputShape: out.shape };
}
