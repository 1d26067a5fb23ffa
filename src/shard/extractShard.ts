import fs from 'node:fs';
import path from 'node:path';
import { extractFeatures, type ExtractOptions, type ExtractResult } from '../features/extract.js';
import { inShard, shardFolderName, type ShardSpec } from './assign.js';
import { publishShard, readShardRecord } from './record.js';

export interface ShardExtraction {
  /** The published shard folder, `<out>/shard-K-of-N`. */
  folder: string;
  /** True when the folder was already finished with the same key: nothing was done. */
  alreadyDone: boolean;
  /** The extraction (absent when already done). */
  result?: ExtractResult;
}

/**
 * Extract one shard's files (those whose path relative to the data folder hashes to it)
 * into `<out>/shard-K-of-N`, published whole. A shard folder already finished for the
 * same data, base and settings is left as it is: a retried task costs a listing.
 */
export async function extractShard(opts: ExtractOptions & { shard: ShardSpec }): Promise<ShardExtraction> {
  const root = path.resolve(opts.out);
  const folder = path.join(root, shardFolderName(opts.shard));
  const subset = inShard(opts.shard);
  const record = readShardRecord(folder);
  if (record?.kind === 'features' && fs.existsSync(path.join(folder, 'manifest.json'))) {
    const check = await extractFeatures({ ...opts, out: folder, subset, checkOnly: true });
    if (check.cacheHit) return { folder, alreadyDone: true };
  }
  fs.mkdirSync(root, { recursive: true });
  let result: ExtractResult | undefined;
  let written = '';
  await publishShard(root, opts.shard, 'features', async (tmp) => {
    written = tmp;
    result = await extractFeatures({ ...opts, out: tmp, subset });
  });
  // The paths as they are now that the folder is published.
  const moved = (p: string) => path.join(folder, path.relative(written, p));
  const done = result as ExtractResult;
  return {
    folder,
    alreadyDone: false,
    result: {
      ...done,
      out: folder,
      manifest: moved(done.manifest),
      splits: done.splits.map((s) => ({
        ...s,
        dir: moved(s.dir),
        features: moved(s.features),
        labels: moved(s.labels),
        meta: moved(s.meta),
      })),
    },
  };
}
