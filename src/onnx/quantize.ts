import { AttributeType, makeNode, makeTensor, TensorDataType, type IModelProto, type INodeProto, type ITensorProto } from './proto.js';

// Static int8 quantization of an fp32 ONNX graph in QDQ form: QuantizeLinear/
// DequantizeLinear pairs around the convolutions and matrix products, which ONNX
// Runtime's graph optimizer (level 'all') fuses into its int8 kernels (QLinearConv,
// QLinearMatMul/QGemm, int8 MaxPool). Pure graph code: the ranges of the
// activations come from a calibration run (ort/int8.ts), which this module
// plans (which tensors to observe) and then consumes.
//
// Conventions (those ONNX Runtime's x86 kernels are fastest with):
//   weights      int8, symmetric (zero point 0, range -127..127), one scale per output channel
//   bias         int32 with scale input_scale * weight_scale[c], zero point 0
//   activations  uint8, asymmetric, one scale per tensor, the range always covering 0
// A Relu/Clip right after a quantized op is left in place: its QuantizeLinear
// starts at 0, so ORT drops it (ClipQuantFusion) and the int8 kernel clamps instead.

const DT = TensorDataType;

export interface QuantizeOptions {
  /** How many of the first Conv nodes (graph order) stay fp32: tlkit's frozen graphs start with the preprocessing conv, then the base's first conv. */
  fp32LeadingConvs?: number;
  /** Keep depthwise/grouped convolutions in fp32. */
  fp32Depthwise?: boolean;
}

/** Which nodes run in int8 and which tensors need a quantization range. */
export interface QuantPlan {
  /** Names of the nodes quantized (Conv, Gemm, MatMul). */
  nodes: string[];
  /** Tensors whose range the calibration must measure, in graph order. */
  observe: string[];
  /** Tensors quantized with another tensor's parameters (a MaxPool output takes its input's). */
  sameAs: Record<string, string>;
}

/** [low, high] of one activation tensor, as calibrated. */
export type Ranges = Record<string, [number, number]>;

interface Graph {
  nodes: INodeProto[];
  inits: Map<string, ITensorProto>;
  consumers: Map<string, INodeProto[]>;
  outputs: Set<string>;
}

function graphOf(model: IModelProto): Graph {
  const g = model.graph;
  if (!g?.node) throw new Error('quantize: the model has no graph');
  const nodes = g.node;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name as string, t]));
  const consumers = new Map<string, INodeProto[]>();
  for (const n of nodes) for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  return { nodes, inits, consumers, outputs: new Set((g.output ?? []).map((o) => o.name as string)) };
}

function attr(n: INodeProto, name: string): number | undefined {
  const a = n.attribute?.find((x) => x.name === name);
  if (!a) return undefined;
  return a.type === AttributeType.FLOAT ? (a.f as number) : Number(a.i);
}

/** The float32 values of an initializer (raw little-endian bytes or float_data). */
export function floatsOf(t: ITensorProto): Float32Array {
  if (t.dataType !== DT.FLOAT) throw new Error(`quantize: initializer ${t.name} is not float32`);
  if (t.rawData?.length) {
    const raw = t.rawData;
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    return new Float32Array(copy.buffer);
  }
  return Float32Array.from(t.floatData ?? []);
}

const dimsOf = (t: ITensorProto): number[] => (t.dims ?? []).map(Number);

/** The axis of the weight that indexes output channels, or undefined when the node is not quantizable. */
function weightAxis(n: INodeProto, g: Graph): number | undefined {
  const w = g.inits.get(n.input?.[1] ?? '');
  if (!w || w.dataType !== DT.FLOAT || (n.input?.[0] ?? '') === '' || g.inits.has(n.input![0])) return undefined;
  const bias = n.input?.[2];
  if (bias && !(g.inits.get(bias)?.dataType === DT.FLOAT && dimsOf(g.inits.get(bias)!).length === 1)) return undefined;
  const rank = dimsOf(w).length;
  if (n.opType === 'Conv' && rank === 4) return 0;
  if (n.opType === 'MatMul' && rank === 2 && !bias) return 1;
  if (n.opType === 'Gemm' && rank === 2 && !attr(n, 'transA') && (attr(n, 'alpha') ?? 1) === 1 && (attr(n, 'beta') ?? 1) === 1) {
    return attr(n, 'transB') ? 0 : 1;
  }
  return undefined;
}

/** Input channels of an fp32 Conv/Gemm with an initializer weight (the ones ORT would quantize on its own), else undefined. */
function fp32Channels(n: INodeProto, g: Graph): number | undefined {
  const w = g.inits.get(n.input?.[1] ?? '');
  if (!w) return undefined;
  const dims = dimsOf(w);
  if (n.opType === 'Conv' && dims.length === 4) return dims[1] * (attr(n, 'group') ?? 1);
  if (n.opType === 'Gemm' && dims.length === 2 && !attr(n, 'transA')) return dims[attr(n, 'transB') ? 1 : 0];
  return undefined;
}

const isDepthwise = (n: INodeProto): boolean => n.opType === 'Conv' && (attr(n, 'group') ?? 1) > 1;

/** The tensor whose range quantizes `n`'s output: past a lone Relu/Clip that follows it. */
function outputPoint(n: INodeProto, g: Graph): string {
  const y = n.output![0];
  const next = g.consumers.get(y) ?? [];
  if (next.length === 1 && !g.outputs.has(y) && (next[0].opType === 'Relu' || next[0].opType === 'Clip')) return next[0].output![0];
  return y;
}

/** Decide which nodes run in int8 and which activations to calibrate (only nodes whose ranges are `known`, when given). */
export function planQuantization(model: IModelProto, opts: QuantizeOptions = {}, known?: Set<string>): QuantPlan {
  const g = graphOf(model);
  const leading = opts.fp32LeadingConvs ?? 0;
  let convs = 0;
  const nodes: string[] = [];
  const observe: string[] = [];
  const seen = new Set<string>();
  const need = (t: string) => {
    if (!seen.has(t)) observe.push(t);
    seen.add(t);
  };
  for (const n of g.nodes) {
    if (n.opType === 'Conv') convs++;
    if (weightAxis(n, g) === undefined) continue;
    if (n.opType === 'Conv' && convs <= leading) continue;
    if (opts.fp32Depthwise && isDepthwise(n)) continue;
    const x = n.input![0];
    const y = outputPoint(n, g);
    // Given calibrated ranges (a graph larger than the one calibrated: base + head), quantize what they cover.
    if (known && !(known.has(x) && known.has(y))) continue;
    nodes.push(n.name as string);
    need(x);
    need(y);
  }
  // MaxPool on a quantized tensor runs on uint8 when its output carries its input's parameters.
  const sameAs: Record<string, string> = {};
  for (const n of g.nodes) {
    const x = n.input?.[0] ?? '';
    if (n.opType !== 'MaxPool' || (n.output?.length ?? 0) !== 1 || !(seen.has(x) || x in sameAs)) continue;
    sameAs[n.output![0]] = sameAs[x] ?? x;
  }
  const observed = observe.filter((t) => !(t in sameAs));
  return { nodes, observe: observed, sameAs };
}

/** uint8 scale and zero point for the range [lo, hi] (widened to include 0). */
export function activationParams([lo, hi]: [number, number]): { scale: number; zeroPoint: number } {
  const a = Math.min(lo, 0);
  const b = Math.max(hi, 0);
  if (!(b > a) || !Number.isFinite(a) || !Number.isFinite(b)) return { scale: 1, zeroPoint: 0 };
  const scale = (b - a) / 255;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-a / scale))) };
}

/** Symmetric int8 quantization of `w` with one scale per index of `axis`. */
export function quantizeWeights(w: Float32Array, dims: number[], axis: number): { q: Int8Array; scales: Float32Array } {
  const channels = dims[axis];
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = w.length / (channels * inner);
  // w viewed as [outer, channels, inner]: channel c is the rows (o, c, *).
  const amax = new Float32Array(channels);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < channels; c++) {
      const start = (o * channels + c) * inner;
      let m = amax[c];
      for (let i = start; i < start + inner; i++) m = Math.max(m, Math.abs(w[i]));
      amax[c] = m;
    }
  const scales = amax.map((m) => (m > 0 ? m / 127 : 1));
  const q = new Int8Array(w.length);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < channels; c++) {
      const start = (o * channels + c) * inner;
      const inv = 1 / scales[c];
      for (let i = start; i < start + inner; i++) q[i] = Math.max(-127, Math.min(127, Math.round(w[i] * inv)));
    }
  return { q, scales };
}

/**
 * The QDQ model: `plan`'s nodes get int8 weights, an int32 bias and quantized
 * activations on their input and output, with the parameters from `ranges`.
 */
export function quantizeModel(model: IModelProto, plan: QuantPlan, ranges: Ranges): IModelProto {
  const g = graphOf(model);
  const params = new Map<string, { scale: number; zeroPoint: number }>();
  for (const t of plan.observe) {
    const r = ranges[t];
    if (!r) throw new Error(`quantize: no calibrated range for tensor ${t}`);
    params.set(t, activationParams(r));
  }
  for (const [t, src] of Object.entries(plan.sameAs)) params.set(t, params.get(src)!);

  const inits: ITensorProto[] = [];
  const used = new Set<string>([...g.inits.keys()]);
  const fresh = (hint: string) => {
    let name = hint;
    for (let i = 1; used.has(name); i++) name = `${hint}_${i}`;
    used.add(name);
    return name;
  };
  const constant = (hint: string, dims: number[], data: Float32Array | Int8Array | Uint8Array | Int32Array) => {
    const name = fresh(hint);
    inits.push(makeTensor(name, dims, data));
    return name;
  };

  // Activations: T -> QuantizeLinear -> DequantizeLinear -> T/dq, emitted right after T's producer.
  const dqName = new Map<string, string>();
  const qName = new Map<string, string>();
  const qdqAfter = new Map<number, INodeProto[]>();
  const graphInputs = new Set((model.graph!.input ?? []).map((i) => i.name as string));
  const producer = new Map<string, number>();
  g.nodes.forEach((n, i) => (n.output ?? []).forEach((o) => producer.set(o, i)));
  for (const [t, p] of params) {
    if (g.outputs.has(t)) continue; // a graph output stays exactly what the fp32 graph gives
    const scale = constant(`${t}/scale`, [], Float32Array.of(p.scale));
    const zp = constant(`${t}/zero_point`, [], Uint8Array.of(p.zeroPoint));
    const q = fresh(`${t}/q`);
    const dq = fresh(`${t}/dq`);
    dqName.set(t, dq);
    qName.set(t, q);
    const at = producer.get(t) ?? (graphInputs.has(t) ? -1 : undefined);
    if (at === undefined) throw new Error(`quantize: tensor ${t} has no producer`);
    qdqAfter.set(at, [
      ...(qdqAfter.get(at) ?? []),
      makeNode('QuantizeLinear', [t, scale, zp], [q], fresh(`${t}/QuantizeLinear`)),
      makeNode('DequantizeLinear', [q, scale, zp], [dq], fresh(`${t}/DequantizeLinear`)),
    ]);
  }

  // Weights and biases of the quantized nodes.
  const replaced = new Map<string, Map<number, string>>();
  const dropped = new Set<string>();
  const weightDq: INodeProto[] = [];
  const quantized = new Set(plan.nodes);
  for (const n of g.nodes) {
    if (!quantized.has(n.name as string)) continue;
    const axis = weightAxis(n, g);
    if (axis === undefined) throw new Error(`quantize: node ${n.name} cannot be quantized`);
    const wInit = g.inits.get(n.input![1])!;
    const dims = dimsOf(wInit);
    const { q, scales } = quantizeWeights(floatsOf(wInit), dims, axis);
    const wName = n.input![1];
    const wq = constant(`${wName}/int8`, dims, q);
    const ws = constant(`${wName}/scale`, [scales.length], scales);
    const wz = constant(`${wName}/zero_point`, [scales.length], new Int8Array(scales.length));
    const wdq = fresh(`${wName}/dq`);
    weightDq.push(makeNode('DequantizeLinear', [wq, ws, wz], [wdq], fresh(`${wName}/DequantizeLinear`), { axis }));
    const inputs = new Map<number, string>([[1, wdq]]);
    const bias = n.input?.[2];
    if (bias) {
      const b = floatsOf(g.inits.get(bias)!);
      const xScale = params.get(n.input![0])!.scale;
      const bs = scales.map((s) => s * xScale);
      const bq = Int32Array.from(b, (v, c) => Math.max(-2147483647, Math.min(2147483647, Math.round(v / bs[c]))));
      const bName = fresh(`${bias}/dq`);
      weightDq.push(
        makeNode(
          'DequantizeLinear',
          [
            constant(`${bias}/int32`, [b.length], bq),
            constant(`${bias}/scale`, [b.length], bs),
            constant(`${bias}/zero_point`, [b.length], new Int32Array(b.length)),
          ],
          [bName],
          fresh(`${bias}/DequantizeLinear`),
          { axis: 0 },
        ),
      );
      inputs.set(2, bName);
      dropped.add(bias);
    }
    dropped.add(wName);
    replaced.set(n.name as string, inputs);
  }

  // An fp32 Conv/Gemm fed straight by a per-tensor DequantizeLinear is quantized by ORT
  // itself (its WeightBiasQuantization: int8 weights, ONE scale for the whole tensor),
  // which ruins depthwise convs. Such a node reads its own DequantizeLinear whose scale
  // is per channel (all equal): same values, and ORT leaves the node in fp32.
  const fp32Dq = new Map<string, string>();
  const fp32Input = (n: INodeProto, x: string): string | undefined => {
    const p = params.get(x);
    const channels = fp32Channels(n, g);
    if (!p || !dqName.has(x) || channels === undefined) return undefined;
    const key = `${x}|${channels}`;
    if (!fp32Dq.has(key)) {
      const out = fresh(`${x}/dq_fp32`);
      const scale = constant(`${x}/scale_per_channel`, [channels], new Float32Array(channels).fill(p.scale));
      const zp = constant(`${x}/zero_point_per_channel`, [channels], new Uint8Array(channels).fill(p.zeroPoint));
      const at = producer.get(x) ?? -1;
      qdqAfter
        .get(at)!
        .push(makeNode('DequantizeLinear', [qName.get(x)!, scale, zp], [out], fresh(`${x}/DequantizeLinear_fp32`), { axis: 1 }));
      fp32Dq.set(key, out);
    }
    return fp32Dq.get(key);
  };
  const rewire = (n: INodeProto): INodeProto => {
    const own = replaced.get(n.name as string);
    const input = (n.input ?? []).map((x, i) => own?.get(i) ?? (i === 0 && !own ? fp32Input(n, x) : undefined) ?? dqName.get(x) ?? x);
    return { ...n, input };
  };
  const rewired = g.nodes.map(rewire); // first: it may add DequantizeLinear nodes after producers
  const nodes: INodeProto[] = [...weightDq, ...(qdqAfter.get(-1) ?? [])];
  g.nodes.forEach((_, i) => {
    nodes.push(rewired[i]);
    nodes.push(...(qdqAfter.get(i) ?? []));
  });
  // Initializers still read by some node (a weight shared with an fp32 node stays).
  const read = new Set(nodes.flatMap((n) => n.input ?? []));
  const kept = (model.graph!.initializer ?? []).filter((t) => !dropped.has(t.name as string) || read.has(t.name as string));
  return { ...model, graph: { ...model.graph, node: nodes, initializer: [...kept, ...inits] } };
}
