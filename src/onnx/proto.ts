import {
  AttributeType,
  type IAttributeProto,
  type IGraphProto,
  type IModelProto,
  type INodeProto,
  type ITensorProto,
  type IValueInfoProto,
  type ModelProto,
  ONNX_SCHEMA,
  TensorDataType,
} from './onnxSchema.js';
import { protobufCodec } from './protobuf.js';

// Pure builders for ONNX protobuf messages, after onnx's helper.py: each returns a
// plain message object; `encodeModel` turns the model into bytes. Attributes are
// sorted by name and tensor sizes are checked against their dims, so a mistake
// fails here with a clear message instead of deep inside ONNX Runtime.

export type { IModelProto, IGraphProto, INodeProto, ITensorProto, IValueInfoProto, ModelProto };
export { AttributeType, TensorDataType };

const codec = protobufCodec(ONNX_SCHEMA);

/** The opset every exported graph targets (Pad/Clip take tensors as inputs, Softmax is single-axis). */
export const OPSET_VERSION = 13;
/** IR version 7 is the one that goes with opset 13. */
export const IR_VERSION = 7;

export type AttributeValue = number | string | number[] | { float: number } | { floats: number[] };

/**
 * One attribute. Integers become INT/INTS; wrap in `{ float }`/`{ floats }` to force
 * FLOAT/FLOATS (a JS number alone cannot tell 1 from 1.0).
 */
export function makeAttribute(name: string, value: AttributeValue): IAttributeProto {
  const T = AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return { name, type: T.FLOAT, f: value };
    return { name, type: T.INT, i: value };
  }
  if (Array.isArray(value)) {
    if (!value.every(Number.isInteger)) throw new Error(`attribute ${name}: INTS must be integers, got ${JSON.stringify(value)}`);
    return { name, type: T.INTS, ints: value };
  }
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  return { name, type: T.FLOATS, floats: value.floats };
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attributes: Record<string, AttributeValue | undefined> = {},
): INodeProto {
  const attribute = Object.keys(attributes)
    .filter((k) => attributes[k] !== undefined)
    .sort()
    .map((k) => makeAttribute(k, attributes[k] as AttributeValue));
  return { opType, input: inputs, output: outputs, name, attribute };
}

export type TensorData = Float32Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

function dataTypeOf(data: TensorData): number {
  const D = TensorDataType;
  if (data instanceof Float32Array) return D.FLOAT;
  if (data instanceof BigInt64Array) return D.INT64;
  if (data instanceof Int8Array) return D.INT8;
  if (data instanceof Uint8Array) return D.UINT8;
  return D.INT32;
}

/** A constant tensor (an initializer), stored as little-endian raw bytes. */
export function makeTensor(name: string, dims: number[], data: TensorData): ITensorProto {
  const size = dims.reduce((a, b) => a * b, 1);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`tensor ${name}: bad dims ${JSON.stringify(dims)}`);
  if (size !== data.length) throw new Error(`tensor ${name}: dims ${JSON.stringify(dims)} hold ${size} values, data has ${data.length}`);
  // A view, not a copy: converters hand over fresh arrays they never touch again,
  // and VGG16's 58 MB of weights should not be held twice while encoding.
  const rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { name, dims, dataType: dataTypeOf(data), rawData };
}

/** A float32 graph input/output; `null` dims become symbolic ('batch' for the first, `d<i>` after). */
export function makeValueInfo(name: string, shape: Array<number | null>): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: TensorDataType.FLOAT,
        shape: { dim: shape.map((d, i) => (d === null ? { dimParam: i === 0 ? 'batch' : `d${i}` } : { dimValue: d })) },
      },
    },
  };
}

export function makeGraph(
  nodes: INodeProto[],
  name: string,
  inputs: IValueInfoProto[],
  outputs: IValueInfoProto[],
  initializers: ITensorProto[] = [],
): IGraphProto {
  const names = new Set<string>();
  for (const t of initializers) {
    if (names.has(t.name as string)) throw new Error(`duplicate initializer ${t.name}`);
    names.add(t.name as string);
  }
  return { node: nodes, name, input: inputs, output: outputs, initializer: initializers };
}

export function makeModel(graph: IGraphProto, opts: { producer?: string; opset?: number } = {}): IModelProto {
  return {
    // Opsets 15-17 need IR version 8 (training graphs use opset 17).
    irVersion: (opts.opset ?? OPSET_VERSION) > 14 ? 8 : IR_VERSION,
    producerName: opts.producer ?? 'tlkit',
    opsetImport: [{ domain: '', version: opts.opset ?? OPSET_VERSION }],
    graph,
  };
}

export function encodeModel(model: IModelProto): Uint8Array {
  return codec.encode(model, 'ModelProto');
}

/** The model in `bytes`; its byte fields (weights) are views into `bytes`, not copies. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  return codec.decode(bytes, 'ModelProto') as ModelProto;
}
