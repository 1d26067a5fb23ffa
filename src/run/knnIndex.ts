import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { writeDirAtomic } from '../io/atomicWrite.js';
import { decodeNpy, encodeNpy } from '../io/npy.js';
import type { KnnVectors } from './knnVotes.js';
import { runPaths } from './paths.js';

// What a kNN run stores instead of a trained head (the run's knn/ folder):
//   vectors.npy  float32 [count, dim]: each image's feature map averaged over space, unit length
//   index.json   the classes, and for each row its class id and image (path, size, mtime)
// The folder is replaced whole (written beside, then renamed), so a crash in `tlkit add`
// leaves the old index or the new one.

const KNN_FORMAT = 'tlkit-knn';
const KNN_VERSION = 1;
const VECTORS = 'vectors.npy';
const INDEX = 'index.json';

/** An image whose features are stored: where it was read (absolute), and its size and mtime then (a changed file is read again). */
export interface StoredImage {
  file: string;
  size: number;
  mtimeMs: number;
}

export interface KnnIndex extends KnnVectors {
  /** Class names, in Keras's order (sorted by code point); labels index them. */
  classes: string[];
  labels: Int32Array;
  /** Row i's image. */
  images: StoredImage[];
}

interface IndexJson {
  format: typeof KNN_FORMAT;
  version: number;
  dim: number;
  count: number;
  classes: string[];
  /** [file, class id, size, mtimeMs] a row. */
  rows: Array<[string, number, number, number]>;
}

export function knnIndexCount(index: Pick<KnnIndex, 'vectors' | 'dim'>): number {
  return index.dim === 0 ? 0 : index.vectors.length / index.dim;
}

/** Write the index into the run folder's knn/, replacing the one there in one rename. */
export async function writeKnnIndex(runDir: string, index: KnnIndex): Promise<void> {
  const count = knnIndexCount(index);
  if (index.labels.length !== count || index.images.length !== count)
    throw new Error(`writeKnnIndex: ${count} vectors, ${index.labels.length} labels, ${index.images.length} images`);
  const json: IndexJson = {
    format: KNN_FORMAT,
    version: KNN_VERSION,
    dim: index.dim,
    count,
    classes: index.classes,
    rows: index.images.map((im, i) => [im.file, index.labels[i], im.size, im.mtimeMs]),
  };
  await writeDirAtomic(runPaths(runDir).knn, async (dir) => {
    await fsp.writeFile(path.join(dir, VECTORS), encodeNpy(index.vectors, [count, index.dim]));
    await fsp.writeFile(path.join(dir, INDEX), `${JSON.stringify(json)}\n`);
  });
}

/**
 * The stored index of a kNN run (a UserError naming the folder when it is missing or
 * damaged); with `classes` (meta.json's), also that the two agree.
 */
export async function readKnnIndex(runDir: string, classes?: string[]): Promise<KnnIndex> {
  const dir = runPaths(runDir).knn;
  const damaged = (why: string) =>
    new UserError(`${dir} is not a readable kNN index (${why}). Build the run again with \`tlkit train --mode knn --out ${runDir} ...\`.`);
  if (!existsSync(path.join(dir, INDEX)) || !existsSync(path.join(dir, VECTORS))) throw damaged(`no ${INDEX} and ${VECTORS}`);
  let json: IndexJson;
  try {
    json = JSON.parse(await fsp.readFile(path.join(dir, INDEX), 'utf8')) as IndexJson;
  } catch (e) {
    throw damaged((e as Error).message);
  }
  if (json.format !== KNN_FORMAT || typeof json.version !== 'number') throw damaged(`format is not ${KNN_FORMAT}`);
  if (json.version > KNN_VERSION) throw damaged(`written by a newer tlkit (version ${json.version}); update tlkit`);
  const npy = decodeNpy(new Uint8Array(await fsp.readFile(path.join(dir, VECTORS))), path.join(dir, VECTORS));
  if (!(npy.data instanceof Float32Array) || npy.shape.length !== 2 || npy.shape[0] !== json.count || npy.shape[1] !== json.dim)
    throw damaged(`${VECTORS} has shape [${npy.shape}] ${npy.dtype}, index.json says [${json.count}, ${json.dim}] float32`);
  if (json.rows.length !== json.count) throw damaged(`${json.rows.length} rows for ${json.count} vectors`);
  if (classes && classes.join('\n') !== json.classes.join('\n'))
    throw new UserError(
      `${dir} stores classes [${json.classes.join(', ')}] but ${runPaths(runDir).meta} says [${classes.join(', ')}]: \`tlkit add\` stopped between the two. Run the same \`tlkit add ${runDir} --data DIR\` again: it finds nothing new to read and writes meta.json from the index.`,
    );
  return {
    dim: json.dim,
    vectors: npy.data,
    classes: json.classes,
    classCount: json.classes.length,
    labels: Int32Array.from(json.rows, (r) => r[1]),
    images: json.rows.map(([file, , size, mtimeMs]) => ({ file, size, mtimeMs })),
  };
}

/** sha256 over the stored index (index.json and vectors.npy): what a cached graph of a kNN run is also a function of. */
export async function knnIndexHash(runDir: string): Promise<string> {
  const dir = runPaths(runDir).knn;
  const h = createHash('sha256');
  for (const name of [INDEX, VECTORS]) h.update(await fsp.readFile(path.join(dir, name)).catch(() => new Uint8Array(0)));
  return h.digest('hex');
}
