import { makeNode, makeTensor, type AttributeValue, type INodeProto, type ITensorProto, type TensorData } from './proto.js';

/**
 * A value flowing through the exported graph. `shape` is always the Keras
 * (channels-last) shape with `null` for the batch; `nchw` says the ONNX tensor is
 * actually stored channels-first (rank 4 only), the layout ONNX convolutions want.
 * Keeping the two apart lets the exporter transpose only at the graph's edges
 * (and before layout-sensitive layers such as Flatten), not around every conv.
 */
export interface Value {
  name: string;
  shape: Array<number | null>;
  nchw: boolean;
}

/** Accumulates nodes and initializers with unique names; converters call it. */
export class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: ITensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly toNchwCache = new Map<string, Value>();
  private readonly toNhwcCache = new Map<string, Value>();

  /** A fresh name derived from `hint` (layer names are already unique; suffixes keep helpers apart). */
  uniqueName(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./:-]/g, '_') || 'v';
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  reserve(name: string): void {
    if (this.used.has(name)) throw new Error(`ONNX name ${name} used twice`);
    this.used.add(name);
  }

  /** Add one node with a single output; returns the output's name. */
  op(opType: string, inputs: string[], hint: string, attrs: Record<string, AttributeValue | undefined> = {}): string {
    const out = this.uniqueName(hint);
    this.nodes.push(makeNode(opType, inputs, [out], this.uniqueName(`${hint}/${opType}`), attrs));
    return out;
  }

  constant(hint: string, dims: number[], data: TensorData): string {
    const name = this.uniqueName(hint);
    this.initializers.push(makeTensor(name, dims, data));
    return name;
  }

  int64(hint: string, values: number[]): string {
    return this.constant(hint, [values.length], BigInt64Array.from(values.map((v) => BigInt(v))));
  }

  scalar(hint: string, value: number): string {
    return this.constant(hint, [], Float32Array.of(value));
  }

  /** The value stored channels-first (transposing once per value, however often asked). */
  asNchw(v: Value): Value {
    if (v.nchw || v.shape.length !== 4) return v;
    const cached = this.toNchwCache.get(v.name);
    if (cached) return cached;
    const out: Value = { name: this.op('Transpose', [v.name], `${v.name}/to_nchw`, { perm: [0, 3, 1, 2] }), shape: v.shape, nchw: true };
    this.toNchwCache.set(v.name, out);
    return out;
  }

  /** The value in Keras' own channels-last layout. */
  asKeras(v: Value): Value {
    if (!v.nchw) return v;
    const cached = this.toNhwcCache.get(v.name);
    if (cached) return cached;
    const out: Value = { name: this.op('Transpose', [v.name], `${v.name}/to_nhwc`, { perm: [0, 2, 3, 1] }), shape: v.shape, nchw: false };
    this.toNhwcCache.set(v.name, out);
    return out;
  }

  /** Map a Keras (channels-last) axis of `v` to the axis of its stored tensor. */
  storedAxis(v: Value, kerasAxis: number): number {
    const rank = v.shape.length;
    const a = kerasAxis < 0 ? kerasAxis + rank : kerasAxis;
    if (!v.nchw) return a;
    return [0, 2, 3, 1][a];
  }
}
