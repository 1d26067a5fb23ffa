import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { byCodePoint, listClassDirs, listImageFiles, resolveDataDir } from '../data/splits.js';
import { UserError } from '../errors.js';
import { decodeBatch } from '../inference/predictor.js';
import { acquireLock } from '../io/lock.js';
import { exportToOnnx } from '../onnx/export.js';
import { OrtModel } from '../ort/ortRunner.js';
import { knnIndexCount, readKnnIndex, writeKnnIndex, type KnnIndex, type StoredImage } from '../run/knnIndex.js';
import { poolFeatureMap } from '../run/knnVotes.js';
import { writeMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { readRun } from '../run/runDir.js';
import { initBackend } from '../tfjs/backend.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';

export interface AddOptions {
  /** Class folders of images (or the book's layout: its train/ is read). */
  data: string;
  /** Images a call of the base. */
  batchSize?: number;
  log?: (line: string) => void;
}

export interface AddResult {
  /** Images stored for the first time, and images stored again because their file changed. */
  added: number;
  replaced: number;
  /** Classes the run did not have. */
  newClasses: string[];
  /** Images the base ran on: exactly added + replaced (nothing stored is read again). */
  imagesThroughBase: number;
  /** What the run stores now. */
  count: number;
  classes: string[];
}

interface Todo {
  image: StoredImage;
  className: string;
  /** The row it replaces (its file changed), or undefined for a new row. */
  row?: number;
}

/**
 * `tlkit add RUN --data DIR`: store more images in a kNN run without rebuilding it. Each
 * class folder of DIR is a class, new or not; an image whose path the run stores with
 * the same size and mtime is skipped, a changed one is read again, and only those and
 * the new ones go through the base. Classes stay in Keras's order (new ones take their
 * sorted place). Nothing is removed.
 */
export async function addToKnnRun(runDir: string, opts: AddOptions): Promise<AddResult> {
  const log = opts.log ?? (() => {});
  const run = await readRun(runDir);
  const meta = run.meta;
  if (!meta.knn) {
    throw new UserError(
      `${runDir} is a ${meta.mode} run: its classes are learned by a trained head, which new images cannot join without training. \`tlkit add\` extends runs built with \`tlkit train --mode knn\`; train again with the new images instead.`,
    );
  }
  if (!existsSync(opts.data)) throw new UserError(`--data ${opts.data} does not exist. Give a folder of class folders of images.`);
  const data = resolveDataDir(opts.data);
  if (data.layout === 'splits') log(`Reading ${data.splits.train} (train/); validation/ and test/ are for evaluate.`);
  const lock = acquireLock(runPaths(runDir).lock, `the run folder ${runDir}`, log);
  try {
    const index = await readKnnIndex(runDir);
    const todo = await imagesToRead(index, data.splits.train);
    const classes = [...new Set([...index.classes, ...todo.map((t) => t.className)])].sort(byCodePoint);
    const newClasses = classes.filter((c) => !index.classes.includes(c));
    const { vectors, seen } =
      todo.length > 0 ? await pooledImages(runDir, meta.imageSize, todo, opts.batchSize ?? 16) : { vectors: new Float32Array(0), seen: 0 };
    const next = mergedIndex(index, classes, todo, vectors);
    if (todo.length > 0) await writeKnnIndex(runDir, next);
    // meta.json follows the index (also when an earlier add stopped between the two).
    const changed = todo.length > 0 || meta.classes.join('\n') !== classes.join('\n');
    if (changed) {
      meta.classes = classes;
      meta.knn = { k: meta.knn.k, count: knnIndexCount(next), dim: next.dim };
      meta.timings.addImages = (meta.timings.addImages ?? 0) + seen;
      await writeMeta(runDir, meta);
      // The last evaluation describes the index before: it goes rather than mislead the report.
      await fsp.rm(runPaths(runDir).evaluation, { force: true });
    }
    const replaced = todo.filter((t) => t.row !== undefined).length;
    return { added: todo.length - replaced, replaced, newClasses, imagesThroughBase: seen, count: knnIndexCount(next), classes };
  } finally {
    lock.release();
  }
}

/** The images of `folder`'s class folders that the index does not hold as they are now. */
async function imagesToRead(index: KnnIndex, folder: string): Promise<Todo[]> {
  const rowOf = new Map(index.images.map((im, i) => [im.file, i]));
  const todo: Todo[] = [];
  for (const className of listClassDirs(folder)) {
    for (const f of listImageFiles(path.join(folder, className))) {
      const file = path.resolve(f);
      const st = await fsp.stat(file);
      const row = rowOf.get(file);
      const stored = row === undefined ? undefined : index.images[row];
      const same = stored && stored.size === st.size && stored.mtimeMs === st.mtimeMs && index.classes[index.labels[row!]] === className;
      if (!same) todo.push({ image: { file, size: st.size, mtimeMs: st.mtimeMs }, className, row });
    }
  }
  return todo;
}

/** The run's base (model/) on ONNX Runtime over `todo`'s images, each feature map pooled to a unit vector. */
async function pooledImages(
  runDir: string,
  imageSize: [number, number],
  todo: Todo[],
  batchSize: number,
): Promise<{ vectors: Float32Array; seen: number }> {
  await initBackend();
  const model = await tfl.loadLayersModel(fileSystemIO(runPaths(runDir).model));
  let ort: OrtModel;
  try {
    ort = await OrtModel.create(exportToOnnx(model));
  } finally {
    model.dispose();
  }
  try {
    let vectors = new Float32Array(0);
    let seen = 0;
    const [h, w] = imageSize;
    for (let start = 0; start < todo.length; start += batchSize) {
      const batch = todo.slice(start, start + batchSize);
      const out = await ort.run(
        await decodeBatch(
          batch.map((t) => t.image.file),
          imageSize,
        ),
        [batch.length, h, w, 3],
      );
      seen += batch.length;
      const dim = out.shape[out.shape.length - 1];
      if (vectors.length === 0) vectors = new Float32Array(todo.length * dim);
      const per = out.data.length / batch.length;
      for (let i = 0; i < batch.length; i++)
        poolFeatureMap(out.data.subarray(i * per, (i + 1) * per), dim, vectors.subarray((start + i) * dim, (start + i + 1) * dim));
    }
    return { vectors, seen };
  } finally {
    await ort.dispose();
  }
}

/** The index with `todo`'s vectors in place of the rows they replace and after the rest, its labels over `classes`. */
function mergedIndex(index: KnnIndex, classes: string[], todo: Todo[], vectors: Float32Array): KnnIndex {
  const { dim } = index;
  const appended = todo.filter((t) => t.row === undefined).length;
  const count = knnIndexCount(index);
  const out = new Float32Array((count + appended) * dim);
  out.set(index.vectors);
  const labels = new Int32Array(count + appended);
  index.labels.forEach((l, i) => (labels[i] = classes.indexOf(index.classes[l])));
  const images = [...index.images];
  let next = count;
  todo.forEach((t, j) => {
    const row = t.row ?? next++;
    out.set(vectors.subarray(j * dim, (j + 1) * dim), row * dim);
    labels[row] = classes.indexOf(t.className);
    images[row] = t.image;
  });
  return { dim, vectors: out, labels, classes, classCount: classes.length, images };
}
