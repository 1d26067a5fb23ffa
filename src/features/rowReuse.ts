import crypto from 'node:crypto';
import fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeDirAtomic, writeFileAtomic } from '../io/atomicWrite.js';
import { NpyStreamWriter, writeNpy } from '../io/npy.js';
import {
  FEATURES_FILE,
  FEATURES_FORMAT,
  FEATURES_VERSION,
  LABELS_FILE,
  SPLIT_META,
  splitMetaText,
  type KeyEntry,
  type SplitMeta,
} from './cache.js';
import { diskRows, rowSize } from './featureRows.js';

// A split's key holds its labels, so a relabelled table misses the cache. Its features do not
// depend on the labels: rows.json (beside features.npy) records what they do depend on and each
// row's file (size and mtime), so that a split whose images are the same is relabelled, its rows
// copied, without running the base again. A file moved to another folder (relabelled by
// `tlkit review`) is found again by its name, size and mtime, which a rename keeps. A cache
// written before rows.json, or merged from shards, has none: it is extracted again.

/** The file beside a split's features that says which file each row is and what the features were computed with. */
const ROWS_FILE = 'rows.json';

export interface RowsRecord {
  /** sha256 of the key header without the labels (base, weights, preprocessing, size, precision, EXIF, bad-image mode). */
  featuresKey: string;
  /** The file of each row of features.npy, relative to the data folder, and its byte size and mtime (ms). */
  files: string[];
  stats: Array<[size: number, mtimeMs: number]>;
}

/** What a split's features depend on: cacheKeyHeader() of the extraction with no class names (and no labels). */
export function featuresKeyOf(labelFreeHeader: string): string {
  return crypto.createHash('sha256').update(labelFreeHeader).digest('hex');
}

/** rows.json for the rows `files` (relative), their stats read from the split's key entries. */
export function rowsRecord(featuresKey: string, files: string[], entries: KeyEntry[]): RowsRecord {
  const stat = new Map(entries.map(([rel, , size, mtime]) => [rel, [size, mtime] as [number, number]]));
  return { featuresKey, files, stats: files.map((f) => stat.get(f) ?? [-1, -1]) };
}

export async function writeRowsRecord(dir: string, record: RowsRecord): Promise<void> {
  await writeFileAtomic(path.join(dir, ROWS_FILE), `${JSON.stringify(record)}\n`);
}

/**
 * The rows of the split in `dir` that the listing `entries` (in extraction order) can take
 * as they are: for each listed file, its row there when its features were computed the same
 * way from the same file (size and mtime), else -1; undefined when no listed file has one.
 */
export function reusableRows(dir: string, featuresKey: string, entries: KeyEntry[]): Int32Array | undefined {
  let record: RowsRecord;
  let meta: SplitMeta;
  try {
    record = JSON.parse(fs.readFileSync(path.join(dir, ROWS_FILE), 'utf8')) as RowsRecord;
    meta = JSON.parse(fs.readFileSync(path.join(dir, SPLIT_META), 'utf8')) as SplitMeta;
    if (fs.statSync(path.join(dir, FEATURES_FILE)).size !== meta.bytes.features) return undefined;
  } catch {
    return undefined;
  }
  if (record.featuresKey !== featuresKey || meta.version !== FEATURES_VERSION || record.files.length !== meta.count) return undefined;
  const rowOf = new Map(record.files.map((f, i) => [f, i]));
  const movedFrom = rowsByNameAndStat(record);
  const rows = new Int32Array(entries.length);
  let found = 0;
  for (let i = 0; i < entries.length; i++) {
    const [rel, , size, mtime] = entries[i];
    const row = rowOf.get(rel);
    const same = row !== undefined && record.stats[row][0] === size && record.stats[row][1] === mtime;
    // A file moved to another class folder (a relabel by review) keeps its name, size and mtime: its row is still right.
    const moved = same ? -1 : (movedFrom.get(nameAndStat(rel, size, mtime)) ?? -1);
    rows[i] = same ? row : moved;
    if (same || moved >= 0) found++;
  }
  return found > 0 ? rows : undefined;
}

function nameAndStat(rel: string, size: number, mtimeMs: number): string {
  return `${path.posix.basename(rel.split(path.sep).join('/'))}\0${size}\0${mtimeMs}`;
}

/** Rows by file name, size and mtime, for files that moved folder; a combination that several rows share is left out (ambiguous). */
function rowsByNameAndStat(record: RowsRecord): Map<string, number> {
  const byKey = new Map<string, number>();
  record.files.forEach((f, i) => {
    const k = nameAndStat(f, record.stats[i][0], record.stats[i][1]);
    byKey.set(k, byKey.has(k) ? -1 : i);
  });
  return byKey;
}

/** The files of a listing whose rows must be computed (`rows[i]` -1), relative to the data folder. */
export function rowsToExtract(rows: Int32Array, entries: KeyEntry[]): Set<string> {
  return new Set(entries.filter((_, i) => rows[i] < 0).map((e) => e[0]));
}

/** How many rows a relabelling copies at once. */
const COPY_ROWS = 256;

/**
 * Rewrite the split in `dir` for a new listing: features.npy rows copied in the listing's
 * order (`rows[i]` is listed file i's row in the old one), the others (-1) from the split
 * `fresh` extracted for them (a file it skipped as unreadable is left out); labels.npy
 * (the listing's labels, `labels`, rows of the files kept), rows.json and meta.json (with
 * `key`) written anew. Only the fresh split's images were decoded and run through the base.
 */
export async function relabelSplit(args: {
  dir: string;
  rows: Int32Array;
  /** The split extracted for the files whose rows were not reusable, when there were any. */
  fresh?: string;
  key: string;
  split: string;
  classNames: string[];
  /** The key entries of the listed files, in order. */
  entries: KeyEntry[];
  labels: { data: Int32Array | Float32Array; shape: number[] };
  featuresKey: string;
}): Promise<SplitMeta> {
  const { dir, rows, entries } = args;
  const old = JSON.parse(await fsp.readFile(path.join(dir, SPLIT_META), 'utf8')) as SplitMeta;
  const source = await diskRows(path.join(dir, FEATURES_FILE), path.join(dir, LABELS_FILE));
  const freshMeta = args.fresh ? (JSON.parse(await fsp.readFile(path.join(args.fresh, SPLIT_META), 'utf8')) as SplitMeta) : undefined;
  const fresh = args.fresh ? await diskRows(path.join(args.fresh, FEATURES_FILE), path.join(args.fresh, LABELS_FILE)) : undefined;
  const freshRow = new Map(freshMeta?.files.map((f, i) => [f, i]) ?? []);
  // Each kept listed file: where its row comes from.
  const kept: Array<{ i: number; from: 'old' | 'fresh'; row: number }> = [];
  entries.forEach(([rel], i) => {
    if (rows[i] >= 0) kept.push({ i, from: 'old', row: rows[i] });
    else if (freshRow.has(rel)) kept.push({ i, from: 'fresh', row: freshRow.get(rel)! });
  });
  const per = rowSize(old.featureShape);
  const width = args.labels.shape[1] ?? 1;
  const labels = args.labels.data instanceof Float32Array ? new Float32Array(kept.length * width) : new Int32Array(kept.length);
  kept.forEach((k, j) => labels.set(args.labels.data.subarray(k.i * width, (k.i + 1) * width), j * width));
  const files = kept.map((k) => entries[k.i][0]);
  let meta: SplitMeta | undefined;
  await writeDirAtomic(dir, async (tmp) => {
    const writer = NpyStreamWriter.open(path.join(tmp, FEATURES_FILE), '<f4', old.featureShape);
    try {
      for (let i = 0; i < kept.length; ) {
        // A run of rows from one source, read at once.
        let j = i + 1;
        while (j < kept.length && j - i < COPY_ROWS && kept[j].from === kept[i].from) j++;
        const part = kept.slice(i, j);
        const buf = new Float32Array(part.length * per);
        await (part[0].from === 'old' ? source : fresh!).read(
          Int32Array.from(part, (k) => k.row),
          buf,
        );
        writer.append(buf);
        i = j;
      }
      writer.close();
    } catch (e) {
      writer.abort();
      throw e;
    }
    await writeNpy(path.join(tmp, LABELS_FILE), labels, width > 1 || args.labels.shape.length > 1 ? [kept.length, width] : [kept.length]);
    const [f, l] = await Promise.all([fsp.stat(path.join(tmp, FEATURES_FILE)), fsp.stat(path.join(tmp, LABELS_FILE))]);
    meta = {
      format: FEATURES_FORMAT,
      version: FEATURES_VERSION,
      key: args.key,
      split: args.split,
      count: kept.length,
      featureShape: old.featureShape,
      classNames: args.classNames,
      files,
      skipped: freshMeta?.skipped ?? [],
      bytes: { features: f.size, labels: l.size },
      createdAt: new Date().toISOString(),
    };
    await writeRowsRecord(tmp, rowsRecord(args.featuresKey, files, entries));
    await writeFileAtomic(path.join(tmp, SPLIT_META), splitMetaText(meta));
  });
  return meta as SplitMeta;
}
