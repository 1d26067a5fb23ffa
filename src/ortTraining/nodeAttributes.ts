import type { INodeProto, ITensorProto } from '../onnx/proto.js';

/** Reading ONNX nodes' attributes and constants' data, for shape inference and the gradient rules. */

type AttrValue = number | number[] | string | undefined;

export function attribute(node: INodeProto, name: string): AttrValue {
  const a = node.attribute?.find((x) => x.name === name);
  if (!a) return undefined;
  // AttributeProto types: 1 FLOAT, 2 INT, 3 STRING, 7 INTS.
  switch (a.type) {
    case 1:
      return Number(a.f ?? 0);
    case 2:
      return Number(a.i ?? 0);
    case 3:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    case 7:
      return (a.ints ?? []).map(Number);
    default:
      return undefined;
  }
}

export function ints(node: INodeProto, name: string, fallback: number[]): number[] {
  const v = attribute(node, name);
  return Array.isArray(v) ? v : fallback;
}

export function int(node: INodeProto, name: string, fallback: number): number {
  const v = attribute(node, name);
  return typeof v === 'number' ? v : fallback;
}

/** Float or int64 data of a constant (an initializer). */
export function constantData(t: ITensorProto): Float32Array | BigInt64Array {
  const raw = t.rawData as Uint8Array;
  const copy = raw.slice();
  return t.dataType === 7 ? new BigInt64Array(copy.buffer) : new Float32Array(copy.buffer);
}
