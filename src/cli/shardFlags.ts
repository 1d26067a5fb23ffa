import { Option } from 'commander';
import { UserError } from '../errors.js';
import type { ExtractOptions, ExtractResult } from '../features/extract.js';
import type { ResolvedShard } from '../shard/environment.js';

// The flags of the commands that run as one task of a job array (extract, predict), declared
// here so that each command adds them alike and reads them the same way.

export interface ShardFlags {
  shard?: string;
  shards?: string;
}

/** --shard K/N|auto; `what` is the command's verb ("extract", "predict"). */
export function shardOption(what: string): Option {
  return new Option(
    '--shard <K/N|auto>',
    `${what} only shard K of N (K from 0; files assigned by a hash of their path), published whole as <out>/shard-K-of-N; auto: K and N from the job array's environment (Slurm, Kubernetes Indexed Job, AWS Batch, Google Cloud Batch, Cloud Run)`,
  );
}

export function shardsOption(): Option {
  return new Option('--shards <N>', '--shard auto: the number of shards where the engine does not export it (Kubernetes, AWS Batch)');
}

/** The shard the flags ask for, or undefined without --shard. */
export async function shardFromFlags(o: ShardFlags): Promise<ResolvedShard | undefined> {
  if (o.shard === undefined) {
    if (o.shards !== undefined) throw new UserError('--shards N goes with --shard auto. Add --shard auto, or drop --shards.');
    return undefined;
  }
  const { resolveShard } = await import('../shard/environment.js');
  return resolveShard(o.shard, o.shards);
}

/**
 * One extract task of a job array: its shard extracted and published, or, when a finished
 * folder of the same shard and key is there (a retried task), nothing (undefined) and a note.
 */
export async function extractShardTask(options: ExtractOptions, shard: ResolvedShard): Promise<ExtractResult | undefined> {
  const { extractShard } = await import('../shard/extractShard.js');
  process.stderr.write(`tlkit: shard ${shard.index} of ${shard.count} (${shard.source})\n`);
  const r = await extractShard({ ...options, shard });
  if (r.alreadyDone) {
    process.stderr.write(`tlkit: ${r.folder} is already finished for these files and settings; nothing to do.\n`);
    return undefined;
  }
  return r.result;
}

/**
 * One predict task of a job array (--shard with --out): this shard's files and where its
 * rows go, or undefined without --shard. A shard already finished for the same model,
 * files and settings is reported (alreadyDone) and left as it is.
 */
export async function predictShardTask(
  o: ShardFlags & { out?: string; model: string },
  inputs: string[],
  files: string[],
  settings: { format: string; topK?: number } & Record<string, unknown>,
  classes: string[],
): Promise<import('../shard/predictShard.js').OpenedPredictShard | undefined> {
  const shard = await shardFromFlags(o);
  if (!shard) {
    if (o.out !== undefined)
      throw new UserError('--out goes with --shard (the folder of the shard folders). Add --shard K/N, or drop --out to print.');
    return undefined;
  }
  if (o.out === undefined)
    throw new UserError(
      `--shard needs --out FOLDER: each shard writes its rows to FOLDER/shard-K-of-N, and \`tlkit merge FOLDER\` joins them.`,
    );
  const { openPredictShard } = await import('../shard/predictShard.js');
  process.stderr.write(`tlkit: shard ${shard.index} of ${shard.count} (${shard.source})\n`);
  const part = await openPredictShard({ spec: shard, out: o.out, inputs, files, model: o.model, settings, classes });
  if (part.alreadyDone) process.stderr.write(`tlkit: ${part.folder} is already finished for these files and settings; nothing to do.\n`);
  return part;
}
