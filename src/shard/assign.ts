import crypto from 'node:crypto';
import path from 'node:path';
import { UserError } from '../errors.js';

/** One part of a sharded job: shard `index` (from 0) of `count`. */
export interface ShardSpec {
  index: number;
  count: number;
}

/**
 * The shard a file belongs to: a hash of its path relative to the data folder (with `/`
 * separators), so every shard knows its own files without listing the others' work, the
 * assignment is the same on every machine and in every run, and adding files moves only
 * those files. The first 48 bits of SHA-256 are uniform enough for any count up to 2^32.
 */
export function shardOf(relativePath: string, count: number): number {
  const key = relativePath.split(path.sep).join('/');
  const digest = crypto.createHash('sha256').update(key).digest();
  return digest.readUIntBE(0, 6) % count;
}

/** A predicate keeping the files of shard `spec` (by their path relative to the data folder). */
export function inShard(spec: ShardSpec): (relativePath: string) => boolean {
  return (rel) => shardOf(rel, spec.count) === spec.index;
}

/** The folder a shard publishes under --out: `shard-<K>-of-<N>`. */
export function shardFolderName(spec: ShardSpec): string {
  return `shard-${spec.index}-of-${spec.count}`;
}

/** `shard-<K>-of-<N>` back to its spec, or undefined for any other name. */
export function parseShardFolderName(name: string): ShardSpec | undefined {
  const m = /^shard-(\d+)-of-(\d+)$/.exec(name);
  if (!m) return undefined;
  const spec = { index: Number(m[1]), count: Number(m[2]) };
  return spec.index < spec.count ? spec : undefined;
}

/** Largest shard count accepted: more tasks than this is a typo, not a plan. */
export const MAX_SHARDS = 1_000_000;

/** A shard count given on the command line (--shards N) or read from the environment. */
export function checkShardCount(value: string, what: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 1 || n > MAX_SHARDS)
    throw new UserError(`${what} must be a whole number of shards from 1 to ${MAX_SHARDS}, got '${value}'. Pass e.g. --shards 4.`);
  return n;
}

/** `--shard K/N` (K from 0): the spec, or a UserError naming the value. */
export function parseShardText(text: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m)
    throw new UserError(
      `--shard must be K/N (shard K of N, K from 0) or 'auto' (read from the job array's environment), got '${text}'. Pass e.g. --shard 0/4.`,
    );
  const count = checkShardCount(m[2], `--shard ${text}: N`);
  const index = Number(m[1]);
  if (index >= count)
    throw new UserError(`--shard ${text}: K counts from 0, so it must be below N (${count}). Pass e.g. --shard ${count - 1}/${count}.`);
  return { index, count };
}
