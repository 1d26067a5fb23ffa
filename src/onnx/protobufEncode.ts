import { type Compiled, type FieldSpec, type Message, type ScalarKind, UNKNOWN, WIRE, wireOf } from './protobufWire.js';

// Encoding a message of a compiled schema, in field-number order (the order protobuf C++ writes).

const utf8 = new TextEncoder();

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The 64-bit two's-complement pattern of an integer value, as an unsigned bigint. */
function uint64Of(v: unknown, field: string, signed: boolean): bigint {
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt.asUintN(64, BigInt(v));
  throw new Error(`protobuf: ${field} must be an integer${signed ? '' : ' >= 0'}, got ${String(v)}`);
}

function varintSize(v: number | bigint): number {
  if (typeof v === 'number') {
    if (v < 0x80) return 1;
    if (v < 0x4000) return 2;
    if (v < 0x200000) return 3;
    if (v < 0x10000000) return 4;
  }
  let n = 1;
  let x = BigInt(v);
  while (x >= 0x80n) {
    x >>= 7n;
    n++;
  }
  return n;
}

/** A scalar as the varint to write: a small non-negative number stays a number. */
function varintValue(kind: ScalarKind, v: unknown, field: string): number | bigint {
  if (typeof v === 'number' && v >= 0 && v < 0x80000000 && Number.isInteger(v)) return v;
  if (kind === 'int32') {
    if (typeof v !== 'number') throw new Error(`protobuf: ${field} must be a number, got ${String(v)}`);
    // int32 keeps its low 32 bits; a negative one is sign-extended to 10 bytes, as protobuf specifies.
    return BigInt.asUintN(64, BigInt(v | 0));
  }
  return uint64Of(v, field, kind === 'int64');
}

/** A field the message itself holds: decoded messages inherit their defaults, which are not written. */
const ownField = (msg: Message, name: string): unknown => (Object.hasOwn(msg, name) ? msg[name] : undefined);

class Sizer {
  readonly sizes = new Map<object, number>();
  constructor(private readonly c: Compiled) {}

  message(msg: Message, type: string): number {
    let total = 0;
    for (const f of this.c.fields.get(type) as FieldSpec[]) {
      const v = ownField(msg, f.name);
      if (v === undefined || v === null) continue;
      const tag = varintSize(f.no << 3);
      const name = `${type}.${f.name}`;
      if (f.repeated) {
        const list = v as ArrayLike<unknown>;
        if (list.length === 0) continue;
        if (f.packed) {
          const body = this.packedSize(f.kind as ScalarKind, list, name);
          total += tag + varintSize(body) + body;
        } else for (let i = 0; i < list.length; i++) total += tag + this.valueSize(f.kind, list[i], name);
      } else total += tag + this.valueSize(f.kind, v, name);
    }
    for (const raw of msg[UNKNOWN] ?? []) total += raw.length;
    this.sizes.set(msg, total);
    return total;
  }

  private packedSize(kind: ScalarKind, list: ArrayLike<unknown>, name: string): number {
    if (kind === 'float') return 4 * list.length;
    if (kind === 'double') return 8 * list.length;
    let n = 0;
    for (let i = 0; i < list.length; i++) n += varintSize(varintValue(kind, list[i], name));
    return n;
  }

  private valueSize(kind: FieldSpec['kind'], v: unknown, name: string): number {
    if (typeof kind !== 'string') {
      const n = this.message(v as Message, kind.message);
      return varintSize(n) + n;
    }
    switch (kind) {
      case 'float':
        return 4;
      case 'double':
        return 8;
      case 'string': {
        const n = utf8Length(v as string);
        return varintSize(n) + n;
      }
      case 'bytes': {
        const n = (v as Uint8Array).length;
        return varintSize(n) + n;
      }
      default:
        return varintSize(varintValue(kind, v, name));
    }
  }
}

class Writer {
  pos = 0;
  readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    private readonly sizes: Map<object, number>,
    private readonly c: Compiled,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  varint(v: number | bigint): void {
    if (typeof v === 'number' && v < 0x80000000) {
      while (v >= 0x80) {
        this.buf[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.buf[this.pos++] = v;
      return;
    }
    let x = BigInt(v);
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
  }

  message(msg: Message, type: string): void {
    for (const f of this.c.fields.get(type) as FieldSpec[]) {
      const v = ownField(msg, f.name);
      if (v === undefined || v === null) continue;
      const name = `${type}.${f.name}`;
      if (f.repeated) {
        const list = v as ArrayLike<unknown>;
        if (list.length === 0) continue;
        if (f.packed) {
          const kind = f.kind as ScalarKind;
          this.varint((f.no << 3) | WIRE.bytes);
          const width = kind === 'float' ? 4 : kind === 'double' ? 8 : 0;
          if (width) this.varint(width * list.length);
          else {
            let n = 0;
            for (let i = 0; i < list.length; i++) n += varintSize(varintValue(kind, list[i], name));
            this.varint(n);
          }
          for (let i = 0; i < list.length; i++) this.scalar(kind, list[i], name);
        } else
          for (let i = 0; i < list.length; i++) {
            this.varint((f.no << 3) | wireOf(f.kind));
            this.value(f.kind, list[i], name);
          }
      } else {
        this.varint((f.no << 3) | wireOf(f.kind));
        this.value(f.kind, v, name);
      }
    }
    for (const raw of msg[UNKNOWN] ?? []) {
      this.buf.set(raw, this.pos);
      this.pos += raw.length;
    }
  }

  private value(kind: FieldSpec['kind'], v: unknown, name: string): void {
    if (typeof kind !== 'string') {
      this.varint(this.sizes.get(v as object) as number);
      this.message(v as Message, kind.message);
    } else if (kind === 'string') {
      const s = v as string;
      const n = utf8Length(s);
      this.varint(n);
      utf8.encodeInto(s, this.buf.subarray(this.pos, this.pos + n));
      this.pos += n;
    } else if (kind === 'bytes') {
      const b = v as Uint8Array;
      this.varint(b.length);
      this.buf.set(b, this.pos);
      this.pos += b.length;
    } else this.scalar(kind, v, name);
  }

  private scalar(kind: ScalarKind, v: unknown, name: string): void {
    if (kind === 'float') {
      this.view.setFloat32(this.pos, v as number, true);
      this.pos += 4;
    } else if (kind === 'double') {
      this.view.setFloat64(this.pos, v as number, true);
      this.pos += 8;
    } else this.varint(varintValue(kind, v, name));
  }
}

/** `message` as bytes: sizes first (cached per message object), then one buffer written in place. */
export function encodeMessage(c: Compiled, message: Message, type: string): Uint8Array {
  const sizer = new Sizer(c);
  const size = sizer.message(message, type);
  // Every byte gets written (checked below), so the buffer need not be zeroed first (Node's
  // allocUnsafeSlow skips that); a plain Uint8Array owning its whole ArrayBuffer, as before.
  const buf = typeof Buffer === 'function' ? new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size) : new Uint8Array(size);
  const w = new Writer(buf, sizer.sizes, c);
  w.message(message, type);
  if (w.pos !== size) throw new Error(`protobuf: wrote ${w.pos} bytes of ${size} (a message changed while encoding?)`);
  return w.buf;
}
