import crypto from 'node:crypto';
import fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { getExifDefault } from '../data/decode.js';
import { readFeatureSplit, type FeatureSplit } from './splits.js';

// On-disk layout of extracted features (documented in docs/runs.md; readable without tlkit):
//
//   <out>/manifest.json            written last: format, base, preprocessing, image size, classes, splits
//   <out>/<split>/features.npy     float32 [n, ...featureShape] (NHWC feature maps), row i = files[i]
//   <out>/<split>/labels.npy       int32 [n], class ids indexing classNames
//   <out>/<split>/meta.json        the cache key, files (relative to the data folder), shapes, classes
//
// Each <split>/ directory is written into a temporary sibling and renamed into
// place whole, so a split directory that exists is complete; its meta.json key
// says what it was computed from. An interrupted run leaves at most a stray
// `.<split>.*.tmp` directory, which is never read and is cleaned up next time.

export const FEATURES_FORMAT = 'tlkit-features';
// 2: the key includes the EXIF mode; CMYK JPEGs and EXIF orientation decode differently from version 1.
// 3: the key includes the precision (fp32, or int8 with its calibration's key).
export const FEATURES_VERSION = 3;
export const MANIFEST = 'manifest.json';
export const SPLIT_META = 'meta.json';
export const FEATURES_FILE = 'features.npy';
export const LABELS_FILE = 'labels.npy';

/** What a split's features depend on: change any of it and the cache misses. */
export interface CacheKeyInput {
  weightsHash: string;
  /** Layer the base was cut after ('' for the whole base). */
  cutLayer: string;
  preprocessing: string;
  imageSize: [number, number];
  classNames: string[];
  skipBadImages: boolean;
  /** The files in extraction order, with their labels; sizes and mtimes are read here. */
  files: string[];
  labels: ArrayLike<number>;
  /** Paths are keyed relative to this folder, so moving the whole data folder keeps the cache. */
  dataRoot: string;
  /** 'fp32', or 'int8:<calibration key>' (features/calibration.ts, precisionKey). */
  precision: string;
}

export interface SplitMeta {
  format: typeof FEATURES_FORMAT;
  version: number;
  key: string;
  split: string;
  count: number;
  featureShape: number[];
  classNames: string[];
  /** Files whose features are the rows of features.npy, relative to the data folder. */
  files: string[];
  /** Files skipped as unreadable (skipBadImages). */
  skipped: string[];
  /** Byte sizes of features.npy and labels.npy, checked before trusting the cache. */
  bytes: { features: number; labels: number };
  createdAt: string;
  /** Only in a shard's split: where its files sit in the split's full listing. */
  part?: PartRecord;
}

/**
 * A shard's split: where its files sit in the split's full listing, and their key
 * entries, so that a merge restores the unsharded row order and the unsharded key
 * without reading the data folder.
 */
export interface PartRecord {
  /** Files in the split's full listing (every shard lists them all). */
  listed: number;
  /** sha256 over the full listing (relative paths and labels): the shards of one extraction agree on it. */
  listingDigest: string;
  /** cacheKeyHeader() of the extraction: base, weights, preprocessing, image size, classes, precision. */
  keyHeader: string;
  /** The files this shard was given (its rows and the skipped ones) as ascending positions in the full listing. */
  positions: number[];
  /** Their key entries, in the same order. */
  entries: KeyEntry[];
}

/** A split's meta.json text, fields in one fixed order (a merged cache is byte-equal to an extracted one). */
export function splitMetaText(m: SplitMeta): string {
  const ordered: SplitMeta = {
    format: m.format,
    version: m.version,
    key: m.key,
    split: m.split,
    count: m.count,
    featureShape: m.featureShape,
    classNames: m.classNames,
    files: m.files,
    skipped: m.skipped,
    bytes: { features: m.bytes.features, labels: m.bytes.labels },
    createdAt: m.createdAt,
    ...(m.part ? { part: m.part } : {}),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** sha256 over a full listing's relative paths and labels, in order. */
export function listingDigest(relativePaths: readonly string[], labels: ArrayLike<number>): string {
  const hash = crypto.createHash('sha256');
  relativePaths.forEach((rel, i) => hash.update(`${rel}\t${labels[i]}\n`));
  return hash.digest('hex');
}

export interface Manifest {
  format: typeof FEATURES_FORMAT;
  version: number;
  base: { family: string; source: string; weightsHash: string; cutLayer: string | null };
  /** The precision of the graph that computed the features (absent before version 3: fp32). */
  precision?: 'fp32' | 'int8';
  preprocessing: string;
  imageSize: [number, number];
  classNames: string[];
  dataRoot: string;
  splits: Record<string, { dir: string; count: number; featureShape: number[]; key: string }>;
  createdAt: string;
}

/** One file as a split's cache key hashes it: path relative to the data folder, label, byte size, mtime (ms). */
export type KeyEntry = [relativePath: string, label: number, size: number, mtimeMs: number];

/** The part of a split's key that does not depend on its files: the same for every shard of one extraction. */
export function cacheKeyHeader(input: Omit<CacheKeyInput, 'files' | 'labels' | 'dataRoot'>): string {
  return JSON.stringify({
    format: FEATURES_FORMAT,
    version: FEATURES_VERSION,
    weightsHash: input.weightsHash,
    cutLayer: input.cutLayer,
    preprocessing: input.preprocessing,
    imageSize: input.imageSize,
    classNames: input.classNames,
    skipBadImages: input.skipBadImages,
    // Photos decode differently with EXIF orientation applied or ignored (--exif).
    exif: getExifDefault(),
    precision: input.precision,
  });
}

/** Each file's key entry, in order; stat runs in parallel chunks (4,000 files take a few tens of milliseconds). */
export async function keyEntries(files: string[], labels: ArrayLike<number>, dataRoot: string): Promise<KeyEntry[]> {
  const entries: KeyEntry[] = [];
  const chunk = 256;
  for (let i = 0; i < files.length; i += chunk) {
    const part = files.slice(i, i + chunk);
    const stats = await Promise.all(part.map((f) => fsp.stat(f)));
    part.forEach((f, j) => entries.push([path.relative(dataRoot, f), labels[i + j], stats[j].size, stats[j].mtimeMs]));
  }
  return entries;
}

/** sha256 of the header, then one line per file: what a split's features depend on. */
export function cacheKeyOf(header: string, entries: Iterable<KeyEntry>): string {
  const hash = crypto.createHash('sha256');
  hash.update(header);
  for (const [rel, label, size, mtimeMs] of entries) hash.update(`\n${rel}\t${label}\t${size}\t${mtimeMs}`);
  return hash.digest('hex');
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** The split's meta when `dir` holds complete features computed for `key`, else undefined. */
export function validSplitCache(dir: string, key: string): SplitMeta | undefined {
  const meta = readJson<SplitMeta>(path.join(dir, SPLIT_META));
  if (!meta || meta.format !== FEATURES_FORMAT || meta.version !== FEATURES_VERSION || meta.key !== key) return undefined;
  try {
    if (fs.statSync(path.join(dir, FEATURES_FILE)).size !== meta.bytes.features) return undefined;
    if (fs.statSync(path.join(dir, LABELS_FILE)).size !== meta.bytes.labels) return undefined;
  } catch {
    return undefined;
  }
  return meta;
}

export function readManifest(out: string): Manifest {
  const file = path.join(out, MANIFEST);
  const m = readJson<Manifest>(file);
  if (!m || m.format !== FEATURES_FORMAT) {
    throw new UserError(
      `${file} is missing or is not a tlkit features manifest. Run \`tlkit extract --base ... --data ... --out ${out}\` first.`,
    );
  }
  return m;
}

/** Load one split's features and labels from a features folder (for training a head on them). */
export async function loadSplitFeatures(out: string, split: string): Promise<FeatureSplit & { classNames: string[]; files: string[] }> {
  const manifest = readManifest(out);
  const entry = manifest.splits[split];
  if (!entry) {
    throw new UserError(
      `${path.join(out, MANIFEST)} has no '${split}' split (it has ${Object.keys(manifest.splits).join(', ')}). Extract from a data folder with a ${split}/ folder.`,
    );
  }
  const dir = path.join(out, entry.dir);
  const meta = validSplitCache(dir, entry.key);
  if (!meta)
    throw new UserError(`The features in ${dir} are incomplete or do not match ${path.join(out, MANIFEST)}. Run \`tlkit extract\` again.`);
  const data = await readFeatureSplit(path.join(dir, FEATURES_FILE), path.join(dir, LABELS_FILE));
  return { ...data, classNames: meta.classNames, files: meta.files };
}
