import fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { UserError } from '../errors.js';
import { writeFileAtomic } from './atomicWrite.js';

// NumPy .npy files (format version 1.0), so cached features open with a plain
// `numpy.load` and with any .npy reader, without tlkit.
// Layout: "\x93NUMPY", major 1, minor 0, uint16 LE header length, an ASCII Python
// dict {'descr', 'fortran_order', 'shape'} padded with spaces and ending in '\n'
// so that the data starts at a multiple of 64 bytes, then the raw C-order data.

export type NpyDtype = '<f4' | '<i4' | '<u1' | '<f8';
export type NpyArray = Float32Array | Int32Array | Uint8Array | Float64Array;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Streamed files reserve this many header bytes so the final shape can be written over the placeholder. */
const STREAM_HEADER_BYTES = 128;

export function dtypeOf(data: NpyArray): NpyDtype {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof Uint8Array) return '<u1';
  return '<f8';
}

const BYTES: Record<NpyDtype, number> = { '<f4': 4, '<i4': 4, '<u1': 1, '<f8': 8 };

/** The header bytes for an array; padded to `totalBytes` when given (a multiple of 64). */
export function npyHeader(dtype: NpyDtype, shape: number[], totalBytes?: number): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const minimal = 10 + dict.length + 1;
  const total = totalBytes ?? Math.ceil(minimal / 64) * 64;
  if (total < minimal || total % 64 !== 0) throw new Error(`npy header for shape ${shapeText} does not fit in ${total} bytes`);
  const header = new Uint8Array(total);
  header.set(MAGIC, 0);
  header[6] = 1;
  header[7] = 0;
  new DataView(header.buffer).setUint16(8, total - 10, true);
  const text = dict.padEnd(total - 11, ' ') + '\n';
  for (let i = 0; i < text.length; i++) header[10 + i] = text.charCodeAt(i);
  return header;
}

function bytesOf(data: NpyArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function encodeNpy(data: NpyArray, shape: number[]): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`npy: shape ${JSON.stringify(shape)} holds ${n} values, data has ${data.length}`);
  const header = npyHeader(dtypeOf(data), shape);
  const out = new Uint8Array(header.length + data.byteLength);
  out.set(header, 0);
  out.set(bytesOf(data), header.length);
  return out;
}

/** Write a whole array as .npy, atomically. */
export async function writeNpy(file: string, data: NpyArray, shape: number[]): Promise<void> {
  await writeFileAtomic(file, encodeNpy(data, shape));
}

export interface NpyContents<T extends NpyArray = NpyArray> {
  dtype: NpyDtype;
  shape: number[];
  data: T;
}

/** Parse .npy bytes (little-endian f4/i4/u1/f8, C order). */
export function decodeNpy(bytes: Uint8Array, what = 'npy data'): NpyContents {
  const bad = (why: string) => new UserError(`${what} is not a readable .npy array (${why}). Delete it and extract again.`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw bad('no \\x93NUMPY magic');
  const major = bytes[6];
  const lenBytes = major === 1 ? 2 : 4;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = lenBytes === 2 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes + headerLen;
  const header = new TextDecoder('latin1').decode(bytes.subarray(8 + lenBytes, start));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw bad(`header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') throw bad('Fortran order is not supported');
  if (!(descr in BYTES)) throw bad(`dtype ${descr}; expected one of ${Object.keys(BYTES).join(', ')}`);
  const dtype = descr as NpyDtype;
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const byteLength = n * BYTES[dtype];
  if (bytes.length - start < byteLength)
    throw bad(`${bytes.length - start} data bytes for shape (${shape.join(', ')}) needing ${byteLength}: truncated`);
  // Copy into a fresh, aligned buffer (Buffer#slice would share Node's pool).
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(start, start + byteLength));
  const raw = copy.buffer;
  const data =
    dtype === '<f4'
      ? new Float32Array(raw)
      : dtype === '<i4'
        ? new Int32Array(raw)
        : dtype === '<u1'
          ? new Uint8Array(raw)
          : new Float64Array(raw);
  return { dtype, shape, data };
}

export async function readNpy(file: string): Promise<NpyContents> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (e) {
    throw new UserError(`Cannot read ${file}: ${(e as Error).message}. Run \`tlkit extract\` again to recreate it.`);
  }
  return decodeNpy(bytes, file);
}

/**
 * Appends rows to a .npy file whose first dimension is only known at the end
 * (e.g. when bad images are skipped): a fixed-size header is reserved and
 * rewritten with the final row count by close(). Write it inside a temporary
 * directory and rename the directory, so nobody reads a file mid-stream.
 */
export class NpyStreamWriter {
  private rows = 0;
  private closed = false;

  private constructor(
    private readonly fd: number,
    readonly file: string,
    readonly dtype: NpyDtype,
    readonly rowShape: number[],
  ) {}

  static open(file: string, dtype: NpyDtype, rowShape: number[]): NpyStreamWriter {
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, npyHeader(dtype, [0, ...rowShape], STREAM_HEADER_BYTES));
    return new NpyStreamWriter(fd, file, dtype, rowShape);
  }

  get count(): number {
    return this.rows;
  }

  append(data: NpyArray): void {
    if (this.closed) throw new Error(`npy writer for ${this.file} is closed`);
    if (dtypeOf(data) !== this.dtype) throw new Error(`npy writer for ${this.file}: dtype ${dtypeOf(data)}, expected ${this.dtype}`);
    const rowSize = this.rowShape.reduce((a, b) => a * b, 1);
    if (data.length % rowSize !== 0)
      throw new Error(`npy writer for ${this.file}: ${data.length} values is not a whole number of rows of ${rowSize}`);
    fs.writeSync(this.fd, bytesOf(data));
    this.rows += data.length / rowSize;
  }

  /** Write the final header and flush to disk. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      fs.writeSync(this.fd, npyHeader(this.dtype, [this.rows, ...this.rowShape], STREAM_HEADER_BYTES), 0, STREAM_HEADER_BYTES, 0);
      fs.fsyncSync(this.fd);
    } finally {
      fs.closeSync(this.fd);
    }
  }

  /** Close without finishing (an error path); the caller removes the temporary directory. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}
