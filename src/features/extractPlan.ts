import path from 'node:path';
import { imageDatasetFromFiles, type ImageDataset, type ImageDatasetOptions } from '../data/imageDataset.js';
import { cacheKeyOf, keyEntries, listingDigest, type PartRecord } from './cache.js';

/** What one split extracts: its dataset, its cache key, and for a shard where its files sit in the full listing. */
export interface SplitFiles {
  dataset: ImageDataset;
  key: string;
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
  if (!subset) return { dataset: listed, key: cacheKeyOf(header, await keyEntries(listed.files, listed.labels, dataRoot)) };
  const rels = listed.files.map((f) => path.relative(dataRoot, f));
  const positions: number[] = [];
  rels.forEach((rel, i) => {
    if (subset(rel)) positions.push(i);
  });
  const files = positions.map((i) => listed.files[i]);
  const labels = Int32Array.from(positions, (i) => listed.labels[i]);
  const entries = await keyEntries(files, labels, dataRoot);
  const part: PartRecord = {
    listed: listed.files.length,
    listingDigest: listingDigest(rels, listed.labels),
    keyHeader: header,
    positions,
    entries,
  };
  const dataset = files.length
    ? await imageDatasetFromFiles({ classNames: args.classNames, files, labels }, args.options, dataRoot)
    : emptyDataset(listed);
  // The listing is in a shard's key: when other shards' files change, the positions it records change too.
  return { dataset, key: cacheKeyOf(`${header}\n${part.listed}\t${part.listingDigest}`, entries), part };
}

/** A shard may get no file of a small split: a dataset with nothing to give. */
function emptyDataset(like: ImageDataset): ImageDataset {
  const none = { [Symbol.asyncIterator]: async function* () {} };
  return {
    classNames: like.classNames,
    files: [],
    labels: new Int32Array(0),
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
