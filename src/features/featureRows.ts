import fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { UserError } from '../errors.js';
import { readNpy } from '../io/npy.js';
import { Rng } from '../io/rng.js';
import { splitLabels, type FeatureSplit } from './splits.js';

/**
 * The rows of one split's features, read on demand: row i (one `featureShape` sample)
 * has label `labels[i]`. Training reads a batch of rows at a time, so the features of
 * a split never need to fit in memory; only the labels (4 bytes a row) are held.
 */
export interface FeatureRows {
  n: number;
  /** One sample's shape, e.g. [7, 7, 1024]. */
  featureShape: number[];
  labels: Int32Array;
  /** Multi-label: row i's multi-hot targets, targets[i k .. (i + 1) k) (k classes). */
  targets?: Float32Array;
  /** Copy rows `rows[0]`, `rows[1]`, ... into `into` one after the other (`into` holds rows.length rows). */
  read(rows: ArrayLike<number>, into: Float32Array): Promise<void>;
}

/** Values in one row. */
export function rowSize(featureShape: readonly number[]): number {
  return featureShape.reduce((a, b) => a * b, 1);
}

/** Rows of features already in memory. */
export function memoryRows(split: FeatureSplit): FeatureRows {
  const per = rowSize(split.featureShape);
  return {
    n: split.n,
    featureShape: split.featureShape,
    labels: split.labels,
    ...(split.targets ? { targets: split.targets } : {}),
    async read(rows, into) {
      for (let i = 0; i < rows.length; i++) into.set(split.features.subarray(rows[i] * per, (rows[i] + 1) * per), i * per);
    },
  };
}

/** The rows `index[0]`, `index[1]`, ... of `rows`, as rows of their own (a held-out subset). */
export function subsetRows(rows: FeatureRows, index: Int32Array): FeatureRows {
  const k = rows.targets ? rows.targets.length / Math.max(rows.n, 1) : 0;
  const targets = rows.targets && new Float32Array(index.length * k);
  if (targets && rows.targets) index.forEach((i, j) => targets.set(rows.targets!.subarray(i * k, (i + 1) * k), j * k));
  return {
    n: index.length,
    featureShape: rows.featureShape,
    labels: Int32Array.from(index, (i) => rows.labels[i]),
    ...(targets ? { targets } : {}),
    read: (wanted, into) =>
      rows.read(
        Int32Array.from({ length: wanted.length }, (_, i) => index[wanted[i]]),
        into,
      ),
  };
}

interface NpyLayout {
  shape: number[];
  /** Byte offset of the first value. */
  dataOffset: number;
}

/** The shape and data offset of a float32 C-order .npy file, from its header alone. */
function npyLayout(file: string): NpyLayout {
  const bad = (why: string) => new UserError(`${file} is not a float32 .npy array of features (${why}). Run \`tlkit extract\` again.`);
  let head: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      head = Buffer.alloc(4096);
      head = head.subarray(0, fs.readSync(fd, head, 0, head.length, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw new UserError(`Cannot read ${file}: ${(e as Error).message}. Run \`tlkit extract\` again to recreate it.`);
  }
  if (head.length < 10 || head.toString('latin1', 1, 6) !== 'NUMPY') throw bad('no \\x93NUMPY magic');
  const major = head[6];
  const headerLen = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const dataOffset = (major === 1 ? 10 : 12) + headerLen;
  if (dataOffset > head.length) throw bad('header too long');
  const header = head.toString('latin1', major === 1 ? 10 : 12, dataOffset);
  if (!/'descr':\s*'<f4'/.test(header)) throw bad(`header ${JSON.stringify(header.trim())}`);
  if (/'fortran_order':\s*True/.test(header)) throw bad('Fortran order');
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) throw bad('no shape');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const expected = dataOffset + rowSize(shape) * 4;
  const size = fs.statSync(file).size;
  if (size < expected) throw bad(`${size} bytes where shape (${shape.join(', ')}) needs ${expected}: truncated`);
  return { shape, dataOffset };
}

/**
 * The rows of features.npy, read from disk a batch at a time (positioned reads, one per
 * run of consecutive rows), with its labels.npy held in memory. The file is opened for
 * each read, so nothing stays open between batches or after training.
 */
export async function diskRows(featuresFile: string, labelsFile: string): Promise<FeatureRows> {
  const { shape, dataOffset } = npyLayout(featuresFile);
  const labels = await readNpy(labelsFile);
  const read = splitLabels(labels);
  if (!read || shape.length < 1 || shape[0] !== labels.shape[0]) {
    throw new UserError(
      `${featuresFile} and ${labelsFile} do not belong together: features of shape (${shape.join(', ')}), labels ${labels.dtype} (${labels.shape.join(', ')}); labels.npy must be int32 (or float32 [n, classes], multi-label) with a row a feature row. Run \`tlkit extract\` again.`,
    );
  }
  const featureShape = shape.slice(1);
  const rowBytes = rowSize(featureShape) * 4;
  return {
    n: shape[0],
    featureShape,
    ...read,
    async read(rows, into) {
      const fh = await fsp.open(featuresFile, 'r');
      try {
        const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
        for (let i = 0; i < rows.length; ) {
          let j = i + 1;
          while (j < rows.length && rows[j] === rows[j - 1] + 1) j++;
          await readFully(fh, bytes, i * rowBytes, (j - i) * rowBytes, dataOffset + rows[i] * rowBytes, featuresFile);
          i = j;
        }
      } finally {
        await fh.close();
      }
    },
  };
}

async function readFully(fh: fsp.FileHandle, into: Uint8Array, offset: number, length: number, position: number, file: string) {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(into, offset + done, length - done, position + done);
    if (bytesRead === 0)
      throw new UserError(`${file} ended early (at byte ${position + done}): it was truncated. Run \`tlkit extract\` again.`);
    done += bytesRead;
  }
}

/**
 * Hold out the last `fraction` of a seeded permutation as validation, as Keras's
 * validation_split does after shuffling: two views of `all`, nothing copied.
 */
export function holdOutRows(all: FeatureRows, fraction: number, seed: number): { train: FeatureRows; validation: FeatureRows } {
  const order = new Rng(seed).shuffle(Int32Array.from({ length: all.n }, (_, i) => i));
  const nVal = Math.max(1, Math.round(all.n * fraction));
  return { train: subsetRows(all, order.subarray(0, all.n - nVal)), validation: subsetRows(all, order.subarray(all.n - nVal)) };
}
