import { UserError } from '../errors.js';
import type { OnnxBaseInfo } from './onnxBase.js';
import { decodeModel, makeNode, makeTensor, makeValueInfo, type IModelProto, type INodeProto, type ITensorProto } from '../onnx/proto.js';

// One ONNX graph from an ONNX base and a head tlkit exported: RGB 0..255 NHWC images in,
// the preprocessing as graph nodes, the base's own nodes untouched, the head's nodes
// renamed so that no name meets one of the base's. What `tlkit predict` runs for a run
// trained on an ONNX base, and what `tlkit export --format onnx` writes for it.

/**
 * The ops tlkit's head export emits. Each means the same from opset 7 up for the 2-D
 * tensors the head has (Softmax over the last axis of [N, k]), so the head runs under the
 * base's own opset, whatever it is.
 */
const HEAD_OPS = new Set([
  'Flatten',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'Gemm',
  'MatMul',
  'Add',
  'Relu',
  'Sigmoid',
  'Softmax',
  'Identity',
  'Transpose',
  'Reshape',
]);
const MIN_OPSET = 7;

export interface StitchOptions {
  /** The graph's input and output names (default 'input' and 'output', as tlkit's exports; made unique against the base's names). */
  inputName?: string;
  outputName?: string;
}

function namesOf(model: IModelProto): Set<string> {
  const g = model.graph ?? {};
  const names = new Set<string>();
  for (const n of g.node ?? []) {
    for (const v of [...(n.input ?? []), ...(n.output ?? [])]) if (v) names.add(v);
    if (n.name) names.add(n.name);
  }
  for (const t of g.initializer ?? []) if (t.name) names.add(t.name);
  for (const v of [...(g.input ?? []), ...(g.output ?? [])]) if (v.name) names.add(v.name);
  return names;
}

/**
 * `base` (the bytes inspectOnnxBase returned: cut where asked) followed by `head` (the
 * head's ONNX model: features in, probabilities out, as buildOnnxModel writes it).
 * A rank-4 output of an NCHW base is transposed to channels-last first, as training did.
 */
export function stitchOnnxBase(base: Uint8Array, info: OnnxBaseInfo, head: IModelProto, opts: StitchOptions = {}): IModelProto {
  const model = decodeModel(base) as IModelProto;
  const graph = model.graph!;
  const headGraph = head.graph!;
  const opset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version;
  const opsetNumber = typeof opset === 'number' ? opset : Number(opset ?? 0);
  if (opsetNumber < MIN_OPSET) {
    throw new UserError(
      `${info.file}: its opset (${opsetNumber}) is older than ${MIN_OPSET}, so tlkit's head cannot join its graph. Export the model again with a newer opset (e.g. torch.onnx.export(..., opset_version=17)).`,
    );
  }
  const foreign = (headGraph.node ?? []).find((n) => !HEAD_OPS.has(n.opType ?? ''));
  if (foreign)
    throw new Error(
      `stitchOnnxBase: the head has a ${foreign.opType} node, which is not known to mean the same under opset ${opsetNumber}`,
    );

  const used = namesOf(model);
  const fresh = (hint: string): string => {
    let name = hint;
    for (let i = 1; used.has(name); i++) name = `${hint}_${i}`;
    used.add(name);
    return name;
  };
  const inputName = fresh(opts.inputName ?? 'input');
  const outputName = fresh(opts.outputName ?? 'output');

  // Preprocessing: [BGR order,] x * (scale / std) - mean / std per channel, [to NCHW,] into the base's input.
  const nodes: INodeProto[] = [];
  const constants: ITensorProto[] = [];
  const constant = (hint: string, dims: number[], data: Float32Array | BigInt64Array): string => {
    const name = fresh(hint);
    constants.push(makeTensor(name, dims, data));
    return name;
  };
  const op = (type: string, inputs: string[], output: string, attrs: Record<string, number | number[]> = {}): string => {
    nodes.push(makeNode(type, inputs, [output], fresh(`tlkit_preprocess/${type}`), attrs));
    return output;
  };
  const { scale, mean, std, channelOrder } = info.preprocess;
  let x = inputName;
  if (channelOrder === 'bgr')
    x = op('Gather', [x, constant('tlkit_preprocess/bgr', [3], BigInt64Array.of(2n, 1n, 0n))], fresh('tlkit_preprocess/bgr'), { axis: 3 });
  const mul = constant(
    'tlkit_preprocess/scale',
    [3],
    Float32Array.from(std, (s) => scale / s),
  );
  const add = constant(
    'tlkit_preprocess/offset',
    [3],
    Float32Array.from(mean, (m, c) => -m / std[c]),
  );
  x = op('Mul', [x, mul], fresh('tlkit_preprocess/scaled'));
  if (info.layout === 'NCHW') {
    x = op('Add', [x, add], fresh('tlkit_preprocess/normalized'));
    op('Transpose', [x], info.inputName, { perm: [0, 3, 1, 2] });
  } else {
    op('Add', [x, add], info.inputName);
  }

  // The head: every name prefixed, its input fed by the base's output.
  const headInput = headGraph.input![0].name!;
  const headOutput = headGraph.output![0].name!;
  const renamed = new Map<string, string>();
  const rename = (name: string): string => {
    if (!name) return name;
    let r = renamed.get(name);
    if (!r) {
      r = fresh(`head/${name}`);
      renamed.set(name, r);
    }
    return r;
  };
  const featureRank = headGraph.input![0].type?.tensorType?.shape?.dim?.length ?? 0;
  if (info.layout === 'NCHW' && featureRank === 4) {
    nodes.push(makeNode('Transpose', [info.outputName], [rename(headInput)], fresh('tlkit_features/to_nhwc'), { perm: [0, 2, 3, 1] }));
  } else {
    renamed.set(headInput, info.outputName);
  }
  const headNodes: INodeProto[] = (headGraph.node ?? []).map((n) => ({
    ...n,
    input: (n.input ?? []).map(rename),
    output: (n.output ?? []).map(rename),
    name: fresh(`head/${n.name ?? n.opType}`),
  }));
  const headInitializers = (headGraph.initializer ?? []).map((t) => ({ ...t, name: rename(t.name!) }));
  headNodes.push(makeNode('Identity', [rename(headOutput)], [outputName], fresh('output/Identity')));

  const [h, w] = info.imageSize;
  const outDims = headGraph.output![0].type?.tensorType?.shape?.dim ?? [];
  graph.node = [...nodes, ...(graph.node ?? []), ...headNodes];
  graph.initializer = [...constants, ...(graph.initializer ?? []), ...headInitializers];
  graph.input = [makeValueInfo(inputName, [info.batch, h, w, 3])];
  graph.output = [makeValueInfo(outputName, [info.batch, ...outDims.slice(1).map((d) => (d.dimValue ? Number(d.dimValue) : null))])];
  // IR 4 let initializers stand without being graph inputs; the graph has one input now.
  model.irVersion = Math.max(Number(model.irVersion ?? 0), 4);
  return model;
}
