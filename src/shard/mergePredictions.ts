import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { UserError } from '../errors.js';
import { commandForShard, readShardRecord, type ShardRecord } from './record.js';
import { PREDICTIONS_FILE, readPredictPart, type PredictPart } from './predictShard.js';
import { shardCount } from './shardSet.js';

/** One image's row as `tlkit predict --json` writes it (a multi-label run's: file, labels and a probability per class). */
export type PredictionRow =
  | { file: string; label: string; probability: number; probabilities: Array<{ label: string; probability: number }> }
  | { file: string; labels: string[]; probabilities: Record<string, number> };

/** What writes rows in one output format (the CLI's PredictionWriter). */
export interface RowWriter {
  header(): void;
  row(p: PredictionRow): void;
  end(): void;
}

export interface PredictionMerge {
  file: string;
  shards: number;
  rows: number;
  seconds: number;
}

const EXTENSIONS: Record<string, string> = { csv: 'csv', ndjson: 'ndjson', json: 'json', text: 'tsv' };

/**
 * Concatenate the prediction shards under `root` into `root/predictions.<format>`: the
 * format the shards were asked for, every row in the order of the whole input listing
 * (what one unsharded `tlkit predict` prints). Missing or foreign shards are refused.
 */
export async function mergePredictionShards(
  root: string,
  opts: {
    shards?: number;
    deleteShards?: boolean;
    writer: (
      format: string,
      classes: string[],
      topK: number | undefined,
      write: (s: string) => void,
      settings: PredictPart['settings'],
    ) => RowWriter;
  },
): Promise<PredictionMerge> {
  const t0 = performance.now();
  const out = path.resolve(root);
  const { count, folders } = shardCount(out, opts.shards, 'predictions');
  const parts: Array<{ folder: string; part: PredictPart; record: ShardRecord }> = [];
  const missing: number[] = [];
  for (let i = 0; i < count; i++) {
    const folder = folders.get(i);
    const record = folder && readShardRecord(folder);
    const part = folder && readPredictPart(folder);
    if (!folder || !record || record.kind !== 'predictions' || !part) missing.push(i);
    else parts.push({ folder, part, record });
  }
  const remake = (indices: number[]) => {
    const example = parts.find((p) => !indices.includes(p.record.shard.index))?.record.command;
    const lines = indices
      .slice(0, 8)
      .map((i) => `  ${example ? commandForShard(example, { index: i, count }) : `tlkit predict ... --out ${out} --shard ${i}/${count}`}`);
    return `Make ${indices.length > 1 ? 'them' : 'it'} with:\n${lines.join('\n')}\nthen merge again.`;
  };
  if (missing.length)
    throw new UserError(
      `${missing.length} of ${count} prediction shards are missing or unfinished under ${out}: ${missing
        .slice(0, 8)
        .map((i) => `shard ${i} (${path.join(out, `shard-${i}-of-${count}`)})`)
        .join(', ')}. ${remake(missing)}`,
    );
  const same = (p: PredictPart) => JSON.stringify([p.listed, p.listingDigest, p.settings, p.classes]);
  const ref = same(parts[0].part);
  const foreign = parts.filter((p) => same(p.part) !== ref);
  if (foreign.length)
    throw new UserError(
      `${foreign.map((p) => p.folder).join(', ')} ${foreign.length > 1 ? 'were' : 'was'} made from other inputs or settings (format, top-k, threshold, classes) than ${parts[0].folder}. ${remake(foreign.map((p) => p.record.shard.index))}`,
    );
  const { listed, settings, classes } = parts[0].part;
  const owner = new Int32Array(listed).fill(-1);
  parts.forEach((p, k) => {
    for (const pos of p.part.positions) owner[pos] = k;
  });
  const format = settings.format;
  const target = path.join(out, `predictions.${EXTENSIONS[format] ?? 'txt'}`);
  const tmp = `${target}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  let rows = 0;
  try {
    let buffered = '';
    const write = (s: string) => {
      buffered += s;
      if (buffered.length > 1 << 20) {
        fs.writeSync(fd, buffered);
        buffered = '';
      }
    };
    const writer = opts.writer(format, classes, settings.topK, write, settings);
    writer.header();
    // Each shard's rows come in its listing order: walk the listing, taking the next row of the shard that owns each file.
    const readers = parts.map((p) =>
      readline.createInterface({ input: fs.createReadStream(path.join(p.folder, PREDICTIONS_FILE)) })[Symbol.asyncIterator](),
    );
    const pendingRow: Array<PredictionRow | undefined> = parts.map(() => undefined);
    const nextOf = async (k: number): Promise<PredictionRow | undefined> => {
      if (pendingRow[k]) return pendingRow[k];
      const r = await readers[k].next();
      pendingRow[k] = r.done ? undefined : (JSON.parse(r.value) as PredictionRow);
      return pendingRow[k];
    };
    const cursor = parts.map(() => 0);
    for (let pos = 0; pos < listed; pos++) {
      const k = owner[pos];
      if (k < 0)
        throw new UserError(
          `Input ${pos} is in none of the ${count} prediction shards under ${out}. Run the shards again with one shard count.`,
        );
      const file = parts[k].part.files[cursor[k]++];
      const row = await nextOf(k);
      // No row for a file: it was skipped as unreadable (--skip-bad-images).
      if (row?.file !== file) continue;
      pendingRow[k] = undefined;
      writer.row(row);
      rows++;
    }
    writer.end();
    fs.writeSync(fd, buffered);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, target);
  if (opts.deleteShards) for (const p of parts) fs.rmSync(p.folder, { recursive: true, force: true });
  return { file: target, shards: count, rows, seconds: (performance.now() - t0) / 1000 };
}
