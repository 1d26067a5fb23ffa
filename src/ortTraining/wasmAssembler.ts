/**
 * Just enough of the WebAssembly binary format to write small SIMD loops from
 * TypeScript: one imported memory, functions over i32/f32/v128 values, the
 * instructions the optimizer kernels use. No toolchain and no .wasm file: the
 * module's bytes are built when it is first needed (updateKernels.ts).
 *
 * Reference: the WebAssembly core specification, binary format (sections,
 * LEB128 integers) and the fixed-width SIMD proposal (0xFD-prefixed opcodes).
 */

export type Bytes = number[];

export const ValueType = { i32: 0x7f, f32: 0x7d, v128: 0x7b } as const;
export type ValueType = (typeof ValueType)[keyof typeof ValueType];

function unsignedLeb(n: number): Bytes {
  const out: Bytes = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

function signedLeb(n: number): Bytes {
  const out: Bytes = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

const vector = (items: Bytes[]): Bytes => [...unsignedLeb(items.length), ...items.flat()];
const name = (s: string): Bytes => vector([...Buffer.from(s, 'utf8')].map((b) => [b]));
const section = (id: number, body: Bytes): Bytes => [id, ...unsignedLeb(body.length), ...body];
const simd = (opcode: number): Bytes => [0xfd, ...unsignedLeb(opcode)];
/** Alignment (log2 bytes) and offset of a memory access. */
const memarg = (alignLog2: number, offset = 0): Bytes => [alignLog2, ...unsignedLeb(offset)];

/** The instructions the kernels are written with (each returns its encoding). */
export const op = {
  localGet: (i: number): Bytes => [0x20, ...unsignedLeb(i)],
  localSet: (i: number): Bytes => [0x21, ...unsignedLeb(i)],
  localTee: (i: number): Bytes => [0x22, ...unsignedLeb(i)],
  i32Const: (n: number): Bytes => [0x41, ...signedLeb(n)],
  i32Add: [0x6a] as Bytes,
  i32LtU: [0x49] as Bytes,
  i32GeU: [0x4f] as Bytes,
  /** block/loop with no result; `end` closes either. */
  block: [0x02, 0x40] as Bytes,
  loop: [0x03, 0x40] as Bytes,
  end: [0x0b] as Bytes,
  br: (depth: number): Bytes => [0x0c, ...unsignedLeb(depth)],
  brIf: (depth: number): Bytes => [0x0d, ...unsignedLeb(depth)],
  i32Eqz: [0x45] as Bytes,
  i32Sub: [0x6b] as Bytes,
  i32Mul: [0x6c] as Bytes,
  f32Const: (v: number): Bytes => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)],
  f32Ne: [0x5c] as Bytes,
  /** if with no result (closed by `end`). */
  if: [0x04, 0x40] as Bytes,
  call: (functionIndex: number): Bytes => [0x10, ...unsignedLeb(functionIndex)],
  i32Load: [0x28, ...memarg(2)] as Bytes,
  i32LoadAt: (offset: number): Bytes => [0x28, ...memarg(2, offset)],
  i32Store: (offset = 0): Bytes => [0x36, ...memarg(2, offset)],
  f32Load: [0x2a, ...memarg(2)] as Bytes,
  v128Load: [...simd(0x00), ...memarg(4)] as Bytes,
  v128LoadAt: (offset: number): Bytes => [...simd(0x00), ...memarg(4, offset)],
  v128Store: [...simd(0x0b), ...memarg(4)] as Bytes,
  v128StoreAt: (offset: number): Bytes => [...simd(0x0b), ...memarg(4, offset)],
  v128Zero: [...simd(0x0c), ...new Array(16).fill(0)] as Bytes,
  f32x4Splat: simd(0x13),
  f32x4Sqrt: simd(0xe3),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
};

export interface FunctionSpec {
  name: string;
  params: ValueType[];
  /** Locals after the params, by type (their indices follow the params'). */
  locals: ValueType[];
  /** The body's instructions, without the final `end`. */
  body: Bytes;
}

/** A module that imports its memory as `env.memory` and exports `functions` (no results). */
export function assembleModule(functions: FunctionSpec[]): Uint8Array<ArrayBuffer> {
  const types = functions.map((f) => [0x60, ...vector(f.params.map((t) => [t])), ...vector([])]);
  const memoryImport = [...name('env'), ...name('memory'), 0x02, 0x00, ...unsignedLeb(1)];
  const exports = functions.map((f, i) => [...name(f.name), 0x00, ...unsignedLeb(i)]);
  const bodies = functions.map((f) => {
    const locals = vector(f.locals.map((t) => [1, t]));
    const code = [...locals, ...f.body, ...op.end];
    return [...unsignedLeb(code.length), ...code];
  });
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(functions.map((_, i) => unsignedLeb(i)))),
    ...section(7, vector(exports)),
    ...section(10, vector(bodies)),
  ]);
}
