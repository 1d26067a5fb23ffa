import { encodeMessage } from './protobufEncode.js';
import { Compiled, type FieldSpec, type Int64, type Message, type ScalarKind, type Schema, UNKNOWN, WIRE, wireOf } from './protobufWire.js';

// A minimal protocol-buffers codec driven by a schema table: enough for ONNX's messages
// (varint, 32/64-bit fixed and length-delimited fields, packed and unpacked repeated
// scalars, nested messages), so tlkit needs no protobuf library. Encoding writes fields
// in field-number order, as protobuf's C++ library (and so onnx.save) does; decoding
// keeps fields it does not know and writes them back, so a model round-trips intact.

export type { FieldSpec, Int64, ScalarKind, Schema };

class Reader {
  pos: number;
  readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** A varint as a number when it is below 2^53, else as a bigint (the raw 64-bit pattern). */
  varint(): number | bigint {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      const b = this.buf[this.pos++];
      if (i < 7) {
        result += (b & 0x7f) * scale;
        scale *= 128;
        if (b < 0x80) return result;
      } else return this.bigTail(result, b, i);
    }
    throw new Error('protobuf: varint longer than 10 bytes');
  }

  private bigTail(low: number, b: number, i: number): bigint {
    let result = BigInt(low) | (BigInt(b & 0x7f) << BigInt(7 * i));
    let shift = BigInt(7 * (i + 1));
    while (b >= 0x80) {
      if (this.pos >= this.end || shift > 63n) throw new Error('protobuf: bad varint');
      b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    }
    return BigInt.asUintN(64, result);
  }

  length(): number {
    const n = this.varint();
    if (typeof n !== 'number' || this.pos + n > this.end) throw new Error('protobuf: length-delimited field runs past its message');
    return n;
  }

  skip(wire: number): void {
    if (wire === WIRE.varint) this.varint();
    else if (wire === WIRE.fixed64) this.pos += 8;
    else if (wire === WIRE.bytes) {
      const n = this.length();
      this.pos += n;
    } else if (wire === WIRE.fixed32) this.pos += 4;
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
    if (this.pos > this.end) throw new Error('protobuf: field runs past its message');
  }
}

const utf8Decoder = new TextDecoder();

function int64From(v: number | bigint, kind: 'int32' | 'int64' | 'uint64'): Int64 {
  if (typeof v === 'number') return kind === 'int32' ? v | 0 : v;
  if (kind === 'int32') return Number(BigInt.asIntN(32, v));
  const exact = kind === 'int64' ? BigInt.asIntN(64, v) : v;
  return exact >= BigInt(Number.MIN_SAFE_INTEGER) && exact <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(exact) : exact;
}

function readScalar(r: Reader, kind: ScalarKind): unknown {
  switch (kind) {
    case 'float': {
      const v = r.view.getFloat32(r.pos, true);
      r.pos += 4;
      return v;
    }
    case 'double': {
      const v = r.view.getFloat64(r.pos, true);
      r.pos += 8;
      return v;
    }
    case 'string': {
      const n = r.length();
      const s = utf8Decoder.decode(r.buf.subarray(r.pos, r.pos + n));
      r.pos += n;
      return s;
    }
    case 'bytes': {
      // A view into the input, not a copy (weights can be hundreds of MB).
      const n = r.length();
      const b = r.buf.subarray(r.pos, r.pos + n);
      r.pos += n;
      return b;
    }
    default:
      return int64From(r.varint(), kind);
  }
}

function decodeMessage(c: Compiled, type: string, r: Reader): Message {
  const msg = Object.create(c.prototypes.get(type) as object) as Message;
  const fields = c.fields.get(type) as FieldSpec[];
  for (const f of fields) if (f.repeated) msg[f.name] = [];
  const byNumber = c.byNumber.get(type) as Map<number, FieldSpec>;
  while (r.pos < r.end) {
    const tagAt = r.pos;
    const tag = r.varint();
    if (typeof tag !== 'number') throw new Error('protobuf: bad field tag');
    const no = Math.floor(tag / 8);
    const wire = tag % 8;
    const f = byNumber.get(no);
    if (!f || (wire !== wireOf(f.kind) && !(f.repeated && wire === WIRE.bytes && typeof f.kind === 'string'))) {
      r.skip(wire);
      if (!msg[UNKNOWN]) Object.defineProperty(msg, UNKNOWN, { value: [], enumerable: false, writable: true });
      (msg[UNKNOWN] as Uint8Array[]).push(r.buf.subarray(tagAt, r.pos));
      continue;
    }
    let value: unknown;
    if (typeof f.kind !== 'string') {
      const n = r.length();
      value = decodeMessage(c, f.kind.message, new Reader(r.buf, r.pos, r.pos + n));
      r.pos += n;
    } else if (f.repeated && wire === WIRE.bytes && f.kind !== 'string' && f.kind !== 'bytes') {
      // A packed run of numbers.
      const n = r.length();
      const end = r.pos + n;
      const list = msg[f.name] as unknown[];
      const inner = new Reader(r.buf, r.pos, end);
      while (inner.pos < end) list.push(readScalar(inner, f.kind));
      if (inner.pos !== end) throw new Error(`protobuf: ${type}.${f.name}: packed run does not end on a value`);
      r.pos = end;
      continue;
    } else value = readScalar(r, f.kind);
    if (r.pos > r.end) throw new Error(`protobuf: ${type}.${f.name} runs past its message`);
    if (f.repeated) (msg[f.name] as unknown[]).push(value);
    else msg[f.name] = value;
  }
  if (r.pos !== r.end) throw new Error(`protobuf: ${type} runs past its end`);
  return msg;
}

/** Encoder and decoder for the messages of one schema. */
export function protobufCodec(schema: Schema) {
  const c = new Compiled(schema);
  return {
    encode(message: object, type: string): Uint8Array {
      if (!c.fields.has(type)) throw new Error(`protobuf: unknown message ${type}`);
      return encodeMessage(c, message as Message, type);
    },
    /** Fields absent from the bytes read as protobuf's defaults (0, '', empty bytes, null); repeated fields are arrays. */
    decode(bytes: Uint8Array, type: string): object {
      if (!c.fields.has(type)) throw new Error(`protobuf: unknown message ${type}`);
      // Plain Uint8Array views (a Buffer's would be Buffers, whose slice() does not copy).
      const plain = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return decodeMessage(c, type, new Reader(plain, 0, plain.length));
    },
  };
}
