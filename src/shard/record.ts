import fs from 'node:fs';
import os from 'node:os';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { parseShardFolderName, shardFolderName, type ShardSpec } from './assign.js';

// A shard's folder under --out: `shard-<K>-of-<N>/`, written as `.shard-<K>-of-<N>.<host>.<pid>.tmp`
// and renamed into place whole, so a shard folder that exists is finished. `shard.json`
// says what it holds and the command that made it (a merge prints it for a missing shard).

export const SHARD_RECORD = 'shard.json';
export const SHARD_FORMAT = 'tlkit-shard';
export const SHARD_VERSION = 1;

export type ShardKind = 'features' | 'predictions';

export interface ShardRecord {
  format: typeof SHARD_FORMAT;
  version: number;
  kind: ShardKind;
  shard: ShardSpec;
  /** The tlkit command line that made it (arguments after `tlkit`). */
  command: string[];
  host: string;
  createdAt: string;
}

/** A finished shard's record, or undefined when `folder` holds none (or another format). */
export function readShardRecord(folder: string): ShardRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(path.join(folder, SHARD_RECORD), 'utf8')) as ShardRecord;
    return r.format === SHARD_FORMAT && r.version === SHARD_VERSION ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The arguments after `tlkit` of this process, as a record keeps them. */
export function thisCommand(): string[] {
  return process.argv.slice(2);
}

/** A shell word: quoted when it holds anything but safe characters. */
function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** The command that makes shard `spec`: a recorded command with its --shard/--shards replaced by `--shard K/N`. */
export function commandForShard(command: readonly string[], spec: ShardSpec): string {
  const out: string[] = [];
  for (let i = 0; i < command.length; i++) {
    const a = command[i];
    if (a === '--shard' || a === '--shards') i++;
    else if (!a.startsWith('--shard=') && !a.startsWith('--shards=')) out.push(a);
  }
  return ['tlkit', ...out, '--shard', `${spec.index}/${spec.count}`].map(shellWord).join(' ');
}

/** The temporary folder this process writes shard `spec` into. */
function temporaryFolder(root: string, spec: ShardSpec): string {
  return path.join(root, `.${shardFolderName(spec)}.${os.hostname()}.${process.pid}.tmp`);
}

/**
 * Write a shard folder and publish it whole: `fill` writes into a temporary sibling, the
 * record goes in last, then one rename makes `<root>/shard-K-of-N` appear. A process
 * killed before the rename leaves only the dot-named temporary, which no merge reads and
 * which the next successful attempt of the same shard removes.
 */
export async function publishShard(root: string, spec: ShardSpec, kind: ShardKind, fill: (dir: string) => Promise<void>): Promise<string> {
  const final = path.join(root, shardFolderName(spec));
  const tmp = temporaryFolder(root, spec);
  await fsp.rm(tmp, { recursive: true, force: true });
  await fsp.mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
    const record: ShardRecord = {
      format: SHARD_FORMAT,
      version: SHARD_VERSION,
      kind,
      shard: spec,
      command: thisCommand(),
      host: os.hostname(),
      createdAt: new Date().toISOString(),
    };
    await writeFileAtomic(path.join(tmp, SHARD_RECORD), `${JSON.stringify(record, null, 2)}\n`);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  // An older folder of this shard (another key, or a half-removed one) is set aside, then removed.
  const old = `${tmp}.old`;
  const hadOld = await fsp.rename(final, old).then(
    () => true,
    () => false,
  );
  await fsp.rename(tmp, final);
  if (hadOld) await fsp.rm(old, { recursive: true, force: true });
  await removeStaleAttempts(root, spec);
  return final;
}

/** Remove the temporaries earlier attempts of this shard left (killed tasks): this attempt has published. */
async function removeStaleAttempts(root: string, spec: ShardSpec): Promise<void> {
  const prefix = `.${shardFolderName(spec)}.`;
  const entries = await fsp.readdir(root).catch(() => [] as string[]);
  await Promise.all(entries.filter((e) => e.startsWith(prefix)).map((e) => fsp.rm(path.join(root, e), { recursive: true, force: true })));
}

/** The finished shard folders under `root`, by shard count. */
export function listShardFolders(root: string): Map<number, Map<number, string>> {
  const byCount = new Map<number, Map<number, string>>();
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(root);
  } catch {
    /* no folder: no shards */
  }
  for (const name of entries) {
    const spec = parseShardFolderName(name);
    if (!spec) continue;
    const of = byCount.get(spec.count) ?? new Map<number, string>();
    of.set(spec.index, path.join(root, name));
    byCount.set(spec.count, of);
  }
  return byCount;
}

/** What the shards under `root` hold (the first finished one's kind), or undefined when none is there. */
export function shardKindIn(root: string): ShardKind | undefined {
  for (const folders of listShardFolders(root).values())
    for (const folder of folders.values()) {
      const r = readShardRecord(folder);
      if (r) return r.kind;
    }
  return undefined;
}
