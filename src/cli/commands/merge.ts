import type { Command } from 'commander';
import { parseIntOption } from '../parseOptions.js';
import type { MultiLabelRows, PredictFormat } from './predict.js';

export interface MergeFlags {
  shards?: string;
  deleteShards?: boolean;
  json?: boolean;
}

/**
 * Merge the shards under `folder`: feature shards into the ordinary feature cache in
 * `folder` (what `tlkit extract --out folder` writes), prediction shards into one file
 * in the data's order. Shared with `tlkit extract --merge`.
 */
export async function mergeFolder(folder: string, o: MergeFlags): Promise<void> {
  const shards = parseIntOption('--shards', o.shards, { min: 1, max: 1_000_000, example: '4' });
  const { shardKindIn } = await import('../../shard/record.js');
  if (shardKindIn(folder) === 'predictions') {
    const { mergePredictionShards } = await import('../../shard/mergePredictions.js');
    const { PredictionWriter } = await import('./predict.js');
    const r = await mergePredictionShards(folder, {
      shards,
      deleteShards: o.deleteShards,
      writer: (format, classes, topK, write, settings) =>
        new PredictionWriter(format as PredictFormat, classes, topK, write, settings.multiLabel as MultiLabelRows | undefined),
    });
    if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else process.stdout.write(`Merged ${r.shards} prediction shards into ${r.file}: ${r.rows} images in ${r.seconds.toFixed(1)} s.\n`);
    return;
  }
  const { mergeFeatureShards } = await import('../../shard/mergeFeatures.js');
  const r = await mergeFeatureShards(folder, { shards, deleteShards: o.deleteShards });
  if (o.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const lines = [`Merged ${r.shards} shards into the feature cache ${r.out}:`];
  for (const s of r.splits) {
    const skipped = s.skipped ? `, ${s.skipped} unreadable skipped` : '';
    lines.push(`  ${s.split.padEnd(10)} ${String(s.count).padStart(8)} images -> [${[s.count, ...s.featureShape].join(', ')}]${skipped}`);
  }
  const mb = r.featureBytes / 1e6;
  lines.push(`${mb.toFixed(1)} MB of features in ${r.seconds.toFixed(1)} s (${(mb / Math.max(r.seconds, 1e-9)).toFixed(0)} MB/s).`);
  if (!o.deleteShards) lines.push(`The shard folders are kept; remove them, or merge with --delete-shards.`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `tlkit merge FOLDER`: the shards of a sharded extract or predict, into one result. */
export function register(program: Command): void {
  program
    .command('merge')
    .description(
      'Merge the shard folders (shard-K-of-N) that `tlkit extract --shard` or `tlkit predict --shard` wrote under FOLDER: features into the ordinary feature cache in FOLDER (train reads it with --cache-dir FOLDER), predictions into one file in the data order. A missing, unfinished or foreign shard is refused (exit 2), naming it and the command that makes it.',
    )
    .argument('<folder>', 'the --out folder of the shards')
    .option('--shards <N>', 'the shard count to merge (default: the only one present)')
    .option('--delete-shards', 'remove the shard folders once the merged result is written')
    .option('--json', 'print the result as one JSON object on stdout')
    .action(async (folder: string, o: MergeFlags) => mergeFolder(folder, o));
}
