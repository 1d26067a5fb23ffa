import crypto from 'node:crypto';
import fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { ConvBase } from '../applications/loadBase.js';
import { BadImageError, decodeImageInto, getExifDefault } from '../data/decode.js';
import { imageDatasetOfSplit } from '../data/tableData.js';
import type { DataDir } from '../data/splits.js';
import { exportToOnnx } from '../onnx/export.js';
import {
  Calibrator,
  DEFAULT_CALIBRATION,
  int8Graph,
  WARN_COSINE,
  type CalibrationRecord,
  type CalibrationSettings,
  type InputBatch,
  type Precision,
} from '../ort/int8.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { frozenModel } from './frozenBase.js';
import { CalibrationInterrupted } from './interrupted.js';
import { knownRowsOf, type KnownRows } from './knownRows.js';

// The frozen graph a feature cache is computed with, at either precision. int8
// graphs are calibrated on a sample of the training images; the calibration
// (activation ranges and the measured error) is cached beside the features as
// calibration-int8.json, under a key built like the features' own.

export const CALIBRATION_FILE = 'calibration-int8.json';
const CALIBRATION_FORMAT = 'tlkit-int8-calibration';
// 1: first version (QDQ, percentile 99.999, first conv fp32, depthwise 'auto' under cosine 0.99).
// 2: depthwise 'auto' keeps them fp32 under cosine 0.997 (MobileNet lost 0.7 points of test accuracy at 0.994).
// 3: percentiles exact (computed in the graph), not rounded up to a histogram bin's edge.
const CALIBRATION_VERSION = 3;
// 32: as accurate as 128 (measured in docs/int8.md), and the pass costs a quarter.
export const DEFAULT_CALIBRATION_IMAGES = 32;

export interface FrozenGraphOptions {
  base: ConvBase;
  imageSize: [number, number];
  upTo?: string;
  precision: Precision;
  /** The data folder; int8 calibrates on its training images. */
  dataDir: DataDir;
  skipBadImages?: boolean;
  /** Calibration images (default DEFAULT_CALIBRATION_IMAGES, fewer when the training split is smaller). */
  calibrationImages?: number;
  calibration?: CalibrationSettings;
  threads?: number;
  /** Where calibration-int8.json is cached (the features folder). */
  cacheDir: string;
  /** Progress and the calibration's error report. */
  log?: (line: string) => void;
  /** Aborting it stops int8 calibration after the current batch (CalibrationInterrupted); nothing is cached. */
  signal?: AbortSignal;
}

export interface StoredCalibration {
  format: typeof CALIBRATION_FORMAT;
  version: number;
  key: string;
  /** Calibration images, relative to the data folder. */
  files: string[];
  record: CalibrationRecord;
  createdAt: string;
}

/** Evenly spaced files of the sorted training list (so every class is sampled). */
function sample(files: string[], n: number): string[] {
  if (files.length <= n) return files.slice();
  return Array.from({ length: n }, (_, i) => files[Math.floor((i * files.length) / n)]);
}

interface CalibrationPlan {
  key: string;
  files: string[];
  settings: CalibrationSettings;
}

async function calibrationPlan(opts: FrozenGraphOptions): Promise<CalibrationPlan> {
  const train = opts.dataDir.splits.train;
  if (!train)
    throw new UserError(
      `int8 precision (precision: 'int8', --precision int8) calibrates on the training images, and ${opts.dataDir.root} has no train/ folder (or class folders). Add training images or use fp32 precision.`,
    );
  const listed = await imageDatasetOfSplit(opts.dataDir, 'train', {
    labelMode: 'int',
    imageSize: opts.imageSize,
    shuffle: false,
    batchSize: 1,
  });
  const n = opts.calibrationImages ?? DEFAULT_CALIBRATION_IMAGES;
  const files = sample(listed.files, n);
  const settings = opts.calibration ?? DEFAULT_CALIBRATION;
  const hash = crypto.createHash('sha256');
  hash.update(
    JSON.stringify({
      format: CALIBRATION_FORMAT,
      version: CALIBRATION_VERSION,
      weightsHash: opts.base.weightsHash,
      cutLayer: opts.upTo ?? '',
      preprocessing: opts.base.preprocessing,
      imageSize: opts.imageSize,
      exif: getExifDefault(),
      skipBadImages: opts.skipBadImages ?? false,
      settings,
    }),
  );
  const stats = await Promise.all(files.map((f) => fsp.stat(f)));
  files.forEach((f, i) => hash.update(`\n${path.relative(opts.dataDir.root, f)}\t${stats[i].size}\t${stats[i].mtimeMs}`));
  return { key: hash.digest('hex'), files, settings };
}

/**
 * What the feature cache key records about the graph: 'fp32', or 'int8:' + the
 * calibration's key (features at one precision never pass for the other, nor int8
 * features for those of another calibration).
 */
export async function precisionKey(opts: FrozenGraphOptions): Promise<string> {
  return opts.precision === 'fp32' ? 'fp32' : `int8:${(await calibrationPlan(opts)).key}`;
}

function readStored(file: string, key: string): StoredCalibration | undefined {
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8')) as StoredCalibration;
    return s.format === CALIBRATION_FORMAT && s.version === CALIBRATION_VERSION && s.key === key ? s : undefined;
  } catch {
    return undefined;
  }
}

async function* decodedBatches(files: string[], size: [number, number], skipBad: boolean, batchSize = 8): AsyncGenerator<InputBatch> {
  const per = size[0] * size[1] * 3;
  for (let i = 0; i < files.length; i += batchSize) {
    const chunk = files.slice(i, i + batchSize);
    const buf = new Float32Array(chunk.length * per);
    const ok = await Promise.all(
      chunk.map((f, k) =>
        decodeImageInto(f, size, buf, k * per).then(
          () => true,
          (e: unknown) => {
            if (skipBad && e instanceof BadImageError) return false;
            throw e;
          },
        ),
      ),
    );
    const kept = ok.map((good, k) => (good ? k : -1)).filter((k) => k >= 0);
    if (!kept.length) continue;
    const images = kept.length === chunk.length ? buf : new Float32Array(kept.length * per);
    if (images !== buf) kept.forEach((k, j) => images.set(buf.subarray(k * per, (k + 1) * per), j * per));
    yield { images, shape: [kept.length, size[0], size[1], 3], files: kept.map((k) => chunk[k]) };
  }
}

/** One line on the int8 features' error (and the calibration's cost, when given), and a warning line when the error is large. */
export function describeError(r: CalibrationRecord, cost?: CalibrationCost): string[] {
  const e = r.error;
  const took = cost ? `, ${cost.seconds.toFixed(1)} s` : '';
  const lines = [
    `int8 calibration (${r.settings.method}${r.settings.method === 'percentile' ? ` ${r.settings.percentile}` : ''}, ${r.images} images${took}, depthwise convs ${r.fp32Depthwise ? 'fp32' : 'int8'}): int8 vs fp32 features relative L2 ${e.relativeL2.toFixed(4)}, cosine ${e.cosine.toFixed(4)} (worst image ${e.minCosine.toFixed(4)})`,
  ];
  if (e.cosine < WARN_COSINE) {
    lines.push(
      `warning: the int8 features are far from fp32 (cosine ${e.cosine.toFixed(4)} < ${WARN_COSINE}); accuracy may drop. Use fp32 precision (precision: 'fp32', --precision fp32) for this base.`,
    );
  }
  return lines;
}

/** The cached calibration for `opts`, if there is one with the right key. */
export async function storedCalibration(opts: FrozenGraphOptions): Promise<StoredCalibration | undefined> {
  return readStored(path.join(opts.cacheDir, CALIBRATION_FILE), (await calibrationPlan(opts)).key);
}

/** What a calibration cost (computed in this process: not when it came from the cache). */
export interface CalibrationCost {
  /** Wall time of the calibration: the fp32 pass with its statistics, the int8 graph and its check. */
  seconds: number;
  images: number;
}

/** A calibration, and when it was computed here: its int8 graph and that graph's features of the calibration images. */
export interface CalibrationOutcome {
  record: CalibrationRecord;
  cached: boolean;
  /** The int8 graph (computed here; from the cache, int8Graph() builds it from the record). */
  graph?: Uint8Array;
  /** The int8 graph's features of the calibration images, by file: an extraction with this graph takes them as they are. */
  known?: KnownRows;
  cost?: CalibrationCost;
}

/** The int8 calibration for `opts`: from the cache when its key matches, else computed (and cached). */
export async function calibration(opts: FrozenGraphOptions, fp32: Uint8Array): Promise<CalibrationOutcome> {
  const plan = await calibrationPlan(opts);
  const file = path.join(opts.cacheDir, CALIBRATION_FILE);
  const stored = readStored(file, plan.key);
  if (stored) return { record: stored.record, cached: true };
  const log = opts.log ?? (() => {});
  const { signal } = opts;
  const t0 = performance.now();
  log(`int8: calibrating on ${plan.files.length} training images ...`);
  let images = 0;
  let outcome: Awaited<ReturnType<Calibrator['record']>>;
  let calibrator: Calibrator;
  try {
    signal?.throwIfAborted();
    calibrator = await Calibrator.run(fp32, decodedBatches(plan.files, opts.imageSize, opts.skipBadImages ?? false), {
      threads: opts.threads,
      signal,
      images: plan.files.length,
      lowestPercentile: plan.settings.percentile,
      // Counted once run: the calibrator finishes the batch it is running before it stops.
      onBatch: (n) => {
        images += n;
      },
    });
    outcome = await calibrator.record(plan.settings, opts.threads, signal);
  } catch (e) {
    // Stopped between two batches: nothing below is written, so no half calibration is ever cached.
    if (signal?.aborted) throw new CalibrationInterrupted(images, plan.files.length);
    throw e;
  }
  const cost = { seconds: (performance.now() - t0) / 1000, images: outcome.record.images };
  const { record } = outcome;
  for (const line of describeError(record, cost)) log(line);
  const out: StoredCalibration = {
    format: CALIBRATION_FORMAT,
    version: CALIBRATION_VERSION,
    key: plan.key,
    files: plan.files.map((f) => path.relative(opts.dataDir.root, f)),
    record,
    createdAt: new Date().toISOString(),
  };
  await fsp.mkdir(opts.cacheDir, { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(out)}\n`);
  const known = knownRowsOf(calibrator.batches, outcome.outputs, outcome.rowShape);
  return { record, cached: false, graph: outcome.graph, known, cost };
}

/**
 * The ONNX graph of the frozen base (cut at `upTo`) at the asked precision, with its calibration when int8.
 * A calibration computed here also gives its cost, and the int8 features of its images (`known`), which are
 * exactly what `bytes` gives those images.
 */
export async function frozenGraph(
  opts: FrozenGraphOptions,
): Promise<{ bytes: Uint8Array; calibration?: CalibrationRecord; known?: KnownRows; cost?: CalibrationCost }> {
  const fp32 = exportToOnnx(frozenModel(opts.base, opts.imageSize), { upTo: opts.upTo });
  if (opts.precision === 'fp32') return { bytes: fp32 };
  const c = await calibration(opts, fp32);
  return { bytes: c.graph ?? (await int8Graph(fp32, c.record)), calibration: c.record, known: c.known, cost: c.cost };
}
