import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import {
  cachedGraph,
  graphCacheDir,
  discardCachedGraph,
  graphKeyHash,
  readCachedGraph,
  writeCachedGraph,
  type GraphCacheOptions,
  type GraphKey,
} from '../features/graphCache.js';
import { tmpName, writeFileAtomic } from '../io/atomicWrite.js';
import type { CalibrationRecord, Precision } from '../ort/int8.js';
import { OrtModel, ortFormatTarget } from '../ort/ortRunner.js';
import type { RunMeta } from '../run/meta.js';
import { knnIndexHash } from '../run/knnIndex.js';
import { runPaths } from '../run/paths.js';
import { RunPredictor } from './predictor.js';

// A run's whole model (preprocessing + base + head) as one ONNX graph, through the
// on-disk graph cache: keyed by the hash of the run's saved model files (and its ONNX
// base's sha256, and its int8 calibration), so a second predict or evaluate of the run
// neither loads tfjs nor exports anything. Only a miss loads the tfjs model.

export interface RunGraphOptions {
  precision: Precision;
  /** A run trained on an ONNX base: where that file is now (--base). */
  base?: string;
  cache?: GraphCacheOptions;
  /** Few images to score (predict of one photo): skip ONNX Runtime's weight repacking, which costs more than it saves then. */
  fewImages?: boolean;
}

/** sha256 over the run's model/ folder: every file's name, size and bytes, in name order. */
export async function runWeightsHash(runDir: string): Promise<string> {
  const dir = runPaths(runDir).model;
  const names = (await fsp.readdir(dir)).filter((f) => !f.startsWith('.')).sort();
  const h = createHash('sha256');
  for (const name of names) {
    const bytes = await fsp.readFile(path.join(dir, name));
    h.update(`${name}\t${bytes.length}\n`);
    h.update(bytes);
  }
  return h.digest('hex');
}

/**
 * runWeightsHash, remembered in the graph cache under the files' identity (path, inode,
 * size, modification time in ns): reading and hashing 60 MB of weights is a third of a
 * cold predict. Writes are atomic (a new inode), so a changed file never matches.
 */
export async function rememberedWeightsHash(runDir: string, cache: GraphCacheOptions = {}): Promise<string> {
  const memoDir = cache.dir ?? graphCacheDir(cache.env);
  if (!memoDir) return runWeightsHash(runDir);
  const dir = path.resolve(runPaths(runDir).model);
  const names = (await fsp.readdir(dir)).filter((f) => !f.startsWith('.')).sort();
  const stats = await Promise.all(names.map((n) => fsp.stat(path.join(dir, n), { bigint: true })));
  const identity = names.map((n, i) => `${n}\t${stats[i].ino}\t${stats[i].size}\t${stats[i].mtimeNs}\t${stats[i].ctimeNs}`).join('\n');
  const memo = path.join(memoDir, `weights-${createHash('sha256').update(`${dir}\n${identity}`).digest('hex')}.txt`);
  const known = await fsp.readFile(memo, 'utf8').catch(() => '');
  if (/^[0-9a-f]{64}$/.test(known)) {
    // Touched on use: the cache's pruning drops the memos nobody read for a month.
    const now = new Date();
    await fsp.utimes(memo, now, now).catch(() => {});
    return known;
  }
  const hash = await runWeightsHash(runDir);
  await writeFileAtomic(memo, hash).catch(() => {}); // a read-only cache just hashes each time
  return hash;
}

/** The calibration a run trained at int8 saved (int8-calibration.json), with its text's hash. */
export async function readRunCalibration(runDir: string): Promise<{ record: CalibrationRecord; hash: string }> {
  const file = runPaths(runDir).int8Calibration;
  if (!existsSync(file)) {
    throw new UserError(
      `--precision int8 needs the run's int8 calibration, and ${file} does not exist: ${runDir} was trained at fp32. Train with --precision int8 (it calibrates on the training images), or use --precision fp32.`,
    );
  }
  const text = await fsp.readFile(file, 'utf8');
  try {
    return { record: JSON.parse(text) as CalibrationRecord, hash: createHash('sha256').update(text).digest('hex') };
  } catch (e) {
    throw new UserError(`${file} is not a readable int8 calibration (${(e as Error).message}). Train the run again with --precision int8.`);
  }
}

/** What the run's graph is a function of: its model files, its ONNX base, its size and precision (and calibration). */
export function runGraphKey(
  meta: RunMeta,
  weightsHash: string,
  precision: Precision,
  calibrationHash?: string,
  knnHash?: string,
): GraphKey {
  return {
    kind: 'run',
    weightsHash,
    cut: '',
    imageSize: meta.imageSize,
    precision,
    extra: {
      onnxBase: meta.onnxBase?.sha256 ?? null,
      ...(calibrationHash ? { calibration: calibrationHash } : {}),
      // A kNN run's graph holds its stored features and k too (`tlkit add` changes them, not model/).
      ...(meta.knn ? { knn: knnHash ?? null, k: meta.knn.k } : {}),
    },
  };
}

async function buildRunGraph(runDir: string, meta: RunMeta, opts: RunGraphOptions, int8?: CalibrationRecord): Promise<Uint8Array> {
  const { initBackend } = await import('../tfjs/backend.js');
  await initBackend();
  if (!int8) {
    const { runOnnxModel } = await import('../run/runOnnx.js');
    const { encodeModel } = await import('../onnx/proto.js');
    return encodeModel(await runOnnxModel(runDir, meta, { base: opts.base }));
  }
  const tfl = await import('@tensorflow/tfjs-layers');
  const { fileSystemIO } = await import('../weights/tfjsFiles.js');
  const { modelGraph } = await import('./predictor.js');
  const model = await tfl.loadLayersModel(fileSystemIO(runPaths(runDir).model));
  try {
    return await modelGraph(model, int8);
  } finally {
    model.dispose();
  }
}

/** The graph cache's key for the run at `opts.precision` (and its int8 calibration, to build it on a miss). */
async function runGraphEntry(runDir: string, meta: RunMeta, opts: RunGraphOptions): Promise<{ key: GraphKey; int8?: CalibrationRecord }> {
  if (opts.precision === 'int8' && meta.onnxBase)
    throw new UserError(
      `--precision int8 quantizes tlkit's own bases; ${runDir} was trained on the ONNX file ${meta.onnxBase.file}, which runs at fp32. Use --precision fp32.`,
    );
  if (opts.base !== undefined) {
    // A file the user names is checked even on a cache hit: the same UserError as an uncached run
    // gets ("--base applies only to runs trained on an ONNX base", or the file's sha256 differs).
    const { locateRunOnnxBase } = await import('../run/runOnnx.js');
    locateRunOnnxBase(runDir, meta, opts.base);
  }
  const int8 = opts.precision === 'int8' ? await readRunCalibration(runDir) : undefined;
  const knnHash = meta.knn ? await knnIndexHash(runDir) : undefined;
  return {
    key: runGraphKey(meta, await rememberedWeightsHash(runDir, opts.cache), opts.precision, int8?.hash, knnHash),
    int8: int8?.record,
  };
}

/** The run's graph bytes at `precision`: from the graph cache, else built from model/ (and cached). */
export async function runGraphBytes(runDir: string, meta: RunMeta, opts: RunGraphOptions): Promise<{ bytes: Uint8Array; hit: boolean }> {
  return cachedRunGraph(runDir, meta, opts, await runGraphEntry(runDir, meta, opts));
}

function cachedRunGraph(
  runDir: string,
  meta: RunMeta,
  opts: RunGraphOptions,
  { key, int8 }: { key: GraphKey; int8?: CalibrationRecord },
): Promise<{ bytes: Uint8Array; hit: boolean }> {
  return cachedGraph(key, () => buildRunGraph(runDir, meta, opts, int8), opts.cache);
}

/** A RunPredictor on the run's cached graph, its session created while the caller decodes the first images. */
export async function openRunPredictor(runDir: string, meta: RunMeta, opts: RunGraphOptions): Promise<RunPredictor> {
  const entry = await runGraphEntry(runDir, meta, opts);
  const onnxBytes = async () => (await cachedRunGraph(runDir, meta, opts, entry)).bytes;
  if (opts.fewImages) {
    const dir = opts.cache?.dir ?? graphCacheDir(opts.cache?.env);
    if (dir) return openOrtFormat(entry.key, meta, { ...opts.cache, dir }, onnxBytes);
  }
  return RunPredictor.whenReady(await onnxBytes(), meta);
}

/**
 * A few images: the session opens on the graph in ONNX Runtime's own format, optimized once for
 * this machine and kept in the graph cache, which skips ORT's rewrites and the copy of the weights
 * (for VGG16 at 180, the session opens in about 0.1 s instead of 1.4 s). On a miss the session
 * is created from the ONNX graph and writes that file as it opens; it joins the cache afterwards.
 */
async function openOrtFormat(
  key: GraphKey,
  meta: RunMeta,
  cache: GraphCacheOptions & { dir: string },
  onnxBytes: () => Promise<Uint8Array>,
): Promise<RunPredictor> {
  const ortKey: GraphKey = { ...key, extra: { ...key.extra, format: 'ort', target: ortFormatTarget() } };
  const ready = readCachedGraph(ortKey, cache);
  if (ready) {
    const session = OrtModel.create(ready, { ortFormat: true, prepack: false }).catch(async (e: Error) => {
      // A file this ONNX Runtime cannot open after all: drop it and run the ONNX graph.
      discardCachedGraph(ortKey, e.message.split('\n')[0], cache);
      return OrtModel.create(await onnxBytes(), { prepack: false });
    });
    return RunPredictor.onSession(session, meta);
  }
  const bytes = await onnxBytes();
  // The cache is an optimisation: a folder that cannot be written, or a file that cannot be
  // (a full disk fails the session that writes it), leaves a plain session from the ONNX graph.
  const writable = await fsp.mkdir(cache.dir, { recursive: true }).then(
    () => true,
    () => false,
  );
  if (!writable) return RunPredictor.whenReady(bytes, meta, { prepack: false });
  const saved = tmpName(path.join(cache.dir, `${graphKeyHash(ortKey)}.ort`));
  const session = OrtModel.create(bytes, { prepack: false, saveOrtFormatTo: saved }).catch(() =>
    OrtModel.create(bytes, { prepack: false }),
  );
  const settle = session
    .then(async () => writeCachedGraph(ortKey, await fsp.readFile(saved), cache))
    .catch(() => {}) // the cache is an optimisation: the next predict tries again
    .finally(() => fsp.rm(saved, { force: true }));
  return RunPredictor.onSession(session, meta, settle);
}
