import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { shardFolderName, shardOf, type ShardSpec } from './assign.js';
import { publishShard, readShardRecord } from './record.js';

// A predict shard's folder: predictions.ndjson (one row an image, `tlkit predict --json`'s
// rows) and part.json (where its files sit in the whole input listing, the model and the
// output settings), published whole like a feature shard.

export const PREDICTIONS_FILE = 'predictions.ndjson';
export const PREDICT_PART = 'part.json';

export interface PredictPart {
  /** Files in the whole input listing (every shard lists them all). */
  listed: number;
  /** sha256 over the whole listing's hashed paths: the shards of one run agree on it. */
  listingDigest: string;
  /** The files this shard was given (as the rows name them), and their positions in the listing. */
  files: string[];
  positions: number[];
  /** sha256 over the model's files, this shard's files (sizes, mtimes) and the settings. */
  key: string;
  /** The output settings (format, top-k, threshold, ...): the merge writes the format asked for. */
  settings: { format: string; topK?: number } & Record<string, unknown>;
  classes: string[];
}

/**
 * The path a file is hashed by: relative to the input folder it was found in (so the
 * assignment does not depend on where the data is mounted), or its name for a file given
 * as it is.
 */
function hashedPath(file: string, folders: string[]): string {
  for (const dir of folders) {
    const rel = path.relative(dir, file);
    if (rel && !rel.startsWith('..') && !path.isAbsolute(rel)) return rel;
  }
  return path.basename(file);
}

/** sha256 of the run's model files (model.json, meta.json and the weights they name). */
async function modelDigest(modelDir: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  const walk = async (dir: string): Promise<void> => {
    const entries = (await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && e.name === 'model') await walk(p);
      else if (e.isFile() && (dir !== modelDir || e.name === 'meta.json')) hash.update(`${e.name}\n`).update(await fsp.readFile(p));
    }
  };
  await walk(modelDir);
  return hash.digest('hex');
}

export type OpenedPredictShard =
  | { alreadyDone: true; folder: string }
  | {
      alreadyDone: false;
      folder: string;
      /** This shard's files, in listing order. */
      files: string[];
      /** Append rows (ndjson text) to the shard's predictions. */
      write(text: string): void;
      /** Publish the folder (after the last row). */
      publish(): Promise<string>;
      /** Give up: nothing is published. */
      abandon(): void;
    };

/**
 * One predict shard: the files of `files` (the whole listing, in order) that hash to
 * `spec`, and where their rows go. A shard already finished with the same key (model,
 * files, settings) is reported done and left as it is.
 */
export async function openPredictShard(args: {
  spec: ShardSpec;
  out: string;
  inputs: string[];
  files: string[];
  model: string;
  settings: PredictPart['settings'];
  classes: string[];
}): Promise<OpenedPredictShard> {
  const root = path.resolve(args.out);
  const folder = path.join(root, shardFolderName(args.spec));
  const folders = args.inputs.filter((i) => fs.statSync(i, { throwIfNoEntry: false })?.isDirectory());
  const keys = args.files.map((f) => hashedPath(f, folders));
  const positions: number[] = [];
  keys.forEach((k, i) => {
    if (shardOf(k, args.spec.count) === args.spec.index) positions.push(i);
  });
  const files = positions.map((i) => args.files[i]);
  const hash = crypto
    .createHash('sha256')
    .update(await modelDigest(args.model))
    .update(JSON.stringify(args.settings));
  const stats = await Promise.all(files.map((f) => fsp.stat(f)));
  positions.forEach((pos, i) => hash.update(`\n${keys[pos]}\t${stats[i].size}\t${stats[i].mtimeMs}`));
  const part: PredictPart = {
    listed: args.files.length,
    listingDigest: crypto.createHash('sha256').update(keys.join('\n')).digest('hex'),
    files,
    positions,
    key: '',
    settings: args.settings,
    classes: args.classes,
  };
  hash.update(`\n${part.listingDigest}`);
  part.key = hash.digest('hex');
  const done = readShardRecord(folder);
  if (done?.kind === 'predictions' && readPredictPart(folder)?.key === part.key) return { alreadyDone: true, folder };

  // Rows are written to a file beside the shard folder, then moved in when publishing.
  fs.mkdirSync(root, { recursive: true });
  const rowsFile = path.join(root, `.${shardFolderName(args.spec)}.rows.${process.pid}.tmp`);
  const fd = fs.openSync(rowsFile, 'w');
  let open = true;
  const close = () => {
    if (open) fs.closeSync(fd);
    open = false;
  };
  return {
    alreadyDone: false,
    folder,
    files,
    write: (text) => {
      fs.writeSync(fd, text);
    },
    publish: async () => {
      fs.fsyncSync(fd);
      close();
      return publishShard(root, args.spec, 'predictions', async (tmp) => {
        await fsp.rename(rowsFile, path.join(tmp, PREDICTIONS_FILE));
        await writeFileAtomic(path.join(tmp, PREDICT_PART), `${JSON.stringify(part)}\n`);
      });
    },
    abandon: () => {
      close();
      fs.rmSync(rowsFile, { force: true });
    },
  };
}

export function readPredictPart(folder: string): PredictPart | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(folder, PREDICT_PART), 'utf8')) as PredictPart;
  } catch {
    return undefined;
  }
}
