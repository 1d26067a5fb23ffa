import crypto from 'node:crypto';
import path from 'node:path';
import { imageDatasetFromFiles, type ImageDataset, type ImageDatasetOptions } from '../data/imageDataset.js';
import { cacheKeyOf, keyEntries, listingDigest, type KeyEntry, type PartRecord } from './cache.js';

/** What one split extracts: its dataset, its cache key, and for a shard where its files sit in the full listing. */
export interface SplitFiles {
  dataset: ImageDataset;
  key: string;
  /** The key entry of each of the dataset's files, in order. */
  entries: KeyEntry[];
  part?: PartRecord;
}

/**
 * The files of one split to extract and their cache key: the whole listing, or (a shard)
 * the files whose path relative to the data folder `subset` keeps, with a part record
 * from which a merge restores the unsharded row order and key.
 */
export async function splitFiles(args: {
  /** The split's full listing, in extraction order. */
  listed: ImageDataset;
  /** cacheKeyHeader() of this extraction. */
  header: string;
  dataRoot: string;
  classNames: string[];
  subset?: (relativePath: string) => boolean;
  /** The options `listed` was made with, for the shard's own dataset. */
  options: Omit<ImageDatasetOptions, 'labels' | 'classNames' | 'subset'>;
}): Promise<SplitFiles> {
  const { listed, header, dataRoot, subset } = args;
  if (!subset) {
    const entries = await keyEntries(listed.files, listed.labels, dataRoot);
    return { dataset: listed, key: cacheKeyOf(header, entries), entries };
  }
  const rels = listed.files.map((f) => path.relative(dataRoot, f));
  const positions: number[] = [];
  rels.forEach((rel, i) => {
    if (subset(rel)) positions.push(i);
  });
  const files = positions.map((i) => listed.files[i]);
  const labels = Int32Array.from(positions, (i) => listed.labels[i]);
  const k = args.classNames.length;
  const targets = listed.targets;
  const multiHot = targets && new Uint8Array(positions.length * k);
  if (multiHot && targets) positions.forEach((p, j) => multiHot.set(targets.subarray(p * k, (p + 1) * k), j * k));
  const entries = await keyEntries(files, labels, dataRoot);
  const part: PartRecord = {
    listed: listed.files.length,
    listingDigest: listingDigest(rels, listed.labels),
    keyHeader: header,
    positions,
    entries,
  };
  const dataset = files.length
    ? await imageDatasetFromFiles({ classNames: args.classNames, files, labels, multiHot }, args.options, dataRoot)
    : emptyDataset(listed);
  // The listing is in a shard's key: when other shards' files change, the positions it records change too.
  return { dataset, key: cacheKeyOf(`${header}\n${part.listed}\t${part.listingDigest}`, entries), entries, part };
}

/** A shard may get no file of a small split: a dataset with nothing to give. */
function emptyDataset(like: ImageDataset): ImageDataset {
  const none = { [Symbol.asyncIterator]: async function* () {} };
  return {
    classNames: like.classNames,
    files: [],
    labels: new Int32Array(0),
    ...(like.targets ? { targets: new Uint8Array(0) } : {}),
    size: 0,
    batchSize: like.batchSize,
    unbatched: like.unbatched,
    imageSize: like.imageSize,
    labelMode: like.labelMode,
    numBatches: 0,
    batches: () => none,
    elements: () => none,
    skipped: [],
  };
}

/**
 * The key header of one split: a multi-label split's also hashes every file's labels (its
 * multi-hot row, over the full listing, so that every shard agrees), as a single-label
 * key holds each file's class id.
 */
export function splitKeyHeader(header: string, listed: ImageDataset, dataRoot: string): string {
  const { targets } = listed;
  if (listed.labelMode !== 'multi_hot') return header;
  // Class folders trained multi-label: each file's one class id (in its key entry) is its row.
  if (!targets) return `${header}\nmulti-hot\tclass ids`;
  const k = targets.length / Math.max(listed.files.length, 1);
  const hash = crypto.createHash('sha256');
  listed.files.forEach((f, i) => hash.update(`${path.relative(dataRoot, f)}\t${targets.subarray(i * k, (i + 1) * k).join('')}\n`));
  return `${header}\nmulti-hot\t${hash.digest('hex')}`;
}

/** labels.npy of a split: int32 [n] class ids, or (multi-label, `k` values a row) float32 [n, k] multi-hot rows. */
export function labelsArray(values: number[], k: number | undefined): { data: Int32Array | Float32Array; shape: number[] } {
  if (k === undefined) return { data: Int32Array.from(values), shape: [values.length] };
  return { data: Float32Array.from(values), shape: [values.length / k, k] };
}

/** Every label of a dataset as labels.npy holds them, without decoding an image: class ids, or multi-hot rows (labelMode 'multi_hot'). */
export function datasetLabels(dataset: ImageDataset, k: number): { data: Int32Array | Float32Array; shape: number[] } {
  if (dataset.labelMode !== 'multi_hot') return labelsArray([...dataset.labels], undefined);
  const rows = new Float32Array(dataset.size * k);
  dataset.labels.forEach((c, i) => {
    if (dataset.targets) rows.set(dataset.targets.subarray(i * k, (i + 1) * k), i * k);
    else rows[i * k + c] = 1;
  });
  return { data: rows, shape: [dataset.size, k] };
}
