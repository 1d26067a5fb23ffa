import fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { writeDirAtomic, writeFileAtomic } from '../io/atomicWrite.js';
import { acquireLock } from '../io/lock.js';
import { NpyStreamWriter, writeNpy } from '../io/npy.js';
import { CALIBRATION_FILE } from '../features/calibration.js';
import {
  cacheKeyOf,
  FEATURES_FILE,
  FEATURES_FORMAT,
  FEATURES_VERSION,
  LABELS_FILE,
  MANIFEST,
  SPLIT_META,
  splitMetaText,
  type KeyEntry,
  type Manifest,
  type SplitMeta,
} from '../features/cache.js';
import { diskRows, rowSize, type FeatureRows } from '../features/featureRows.js';
import { checkedShards, type FeatureShard } from './shardSet.js';

export interface MergedSplit {
  split: string;
  count: number;
  featureShape: number[];
  skipped: number;
}

export interface MergeResult {
  out: string;
  shards: number;
  splits: MergedSplit[];
  /** Bytes of features.npy written, all splits. */
  featureBytes: number;
  seconds: number;
}

/** Rows copied per read: consecutive rows of one shard come in one positioned read. */
const RUN_ROWS = 64;

/**
 * Merge the N feature shards under `root` into the ordinary feature cache in `root`
 * itself (`<split>/features.npy`, `labels.npy`, `meta.json`, then `manifest.json`), the
 * rows in the order an unsharded extraction gives them and the same key, so that `train`
 * and `extract` take it as their own. Refuses (UserError, naming the shard and the command
 * that makes it) when a shard is missing, unfinished, or made from other data or settings.
 */
export async function mergeFeatureShards(root: string, opts: { shards?: number; deleteShards?: boolean } = {}): Promise<MergeResult> {
  const out = path.resolve(root);
  const t0 = performance.now();
  const shards = checkedShards(out, opts.shards);
  const lock = acquireLock(path.join(out, '.lock'), `the feature cache ${out}`, (l) => process.stderr.write(`${l}\n`));
  try {
    const reference = shards[0].manifest;
    // As extract does: no manifest while the splits are replaced, the new one last.
    await fsp.rm(path.join(out, MANIFEST), { force: true });
    const splits: MergedSplit[] = [];
    const entries: Manifest['splits'] = {};
    let featureBytes = 0;
    for (const split of Object.keys(reference.splits)) {
      const meta = await mergeSplit(out, split, shards);
      entries[split] = { dir: split, count: meta.count, featureShape: meta.featureShape, key: meta.key };
      splits.push({ split, count: meta.count, featureShape: meta.featureShape, skipped: meta.skipped.length });
      featureBytes += meta.bytes.features;
    }
    const calibration = path.join(shards[0].folder, CALIBRATION_FILE);
    if (fs.existsSync(calibration)) await writeFileAtomic(path.join(out, CALIBRATION_FILE), await fsp.readFile(calibration));
    const manifest: Manifest = { ...reference, splits: entries, createdAt: new Date().toISOString() };
    await writeFileAtomic(path.join(out, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    if (opts.deleteShards) for (const s of shards) await fsp.rm(s.folder, { recursive: true, force: true });
    return { out, shards: shards.length, splits, featureBytes, seconds: (performance.now() - t0) / 1000 };
  } finally {
    lock.release();
  }
}

/** Where each listing position is: the shard holding it and its index in that shard's part record. */
function locate(split: string, shards: FeatureShard[]): { owner: Int32Array; at: Int32Array } {
  const listed = shards[0].metas[split].part!.listed;
  const owner = new Int32Array(listed).fill(-1);
  const at = new Int32Array(listed);
  shards.forEach((s, k) => {
    s.metas[split].part!.positions.forEach((pos, j) => {
      if (pos >= listed || owner[pos] !== -1)
        throw new UserError(
          `${s.folder} and ${shards[owner[pos]]?.folder ?? 'its listing'} both hold file ${pos} of ${split}: the shards were not cut from one listing. Extract the shards again.`,
        );
      owner[pos] = k;
      at[pos] = j;
    });
  });
  const hole = owner.indexOf(-1);
  if (hole >= 0)
    throw new UserError(
      `File ${hole} of the ${split} listing is in none of the ${shards.length} shards under ${path.dirname(shards[0].folder)}. Extract the shards again with one shard count.`,
    );
  return { owner, at };
}

/** For each file of a shard's part record, its row in the shard's features, or -1 (skipped as unreadable). */
function rowsOfEntries(meta: SplitMeta, folder: string): Int32Array {
  const entries = meta.part!.entries;
  const rowOf = new Int32Array(entries.length).fill(-1);
  let j = 0;
  meta.files.forEach((rel, row) => {
    while (j < entries.length && entries[j][0] !== rel) j++;
    if (j === entries.length)
      throw new UserError(
        `${path.join(folder, meta.split, SPLIT_META)} lists ${rel}, which its part record lacks: the shard is damaged. Extract it again.`,
      );
    rowOf[j++] = row;
  });
  return rowOf;
}

async function mergeSplit(out: string, split: string, shards: FeatureShard[]): Promise<SplitMeta> {
  const { owner, at } = locate(split, shards);
  const metas = shards.map((s) => s.metas[split]);
  const rowOf = shards.map((s, k) => rowsOfEntries(metas[k], s.folder));
  const sources: FeatureRows[] = await Promise.all(
    shards.map((s) => diskRows(path.join(s.folder, split, FEATURES_FILE), path.join(s.folder, split, LABELS_FILE))),
  );
  const shaped = metas.filter((m) => m.count > 0);
  const featureShape = shaped[0]?.featureShape ?? [];
  const odd = shaped.find((m) => JSON.stringify(m.featureShape) !== JSON.stringify(featureShape));
  if (odd)
    throw new UserError(
      `The shards' ${split} features differ in shape ([${featureShape}] and [${odd.featureShape}]). Extract the shards again.`,
    );
  if (shaped.length === 0)
    throw new UserError(
      `No shard holds a readable image of ${split} (${owner.length} listed, all skipped). Add images or check the files.`,
    );
  const per = rowSize(featureShape);
  const total = metas.reduce((n, m) => n + m.count, 0);
  const labels = new Int32Array(total);
  // Multi-label shards hold multi-hot rows (labels.npy float32 [n, k]); they merge as rows.
  const width = metas[0].classNames.length;
  const multiHot = sources.some((s) => s.targets) ? new Float32Array(total * width) : undefined;
  const files: string[] = [];
  const skipped: string[] = [];
  let meta: SplitMeta | undefined;
  await writeDirAtomic(path.join(out, split), async (tmp) => {
    const writer = NpyStreamWriter.open(path.join(tmp, FEATURES_FILE), '<f4', featureShape);
    try {
      let run: { shard: number; start: number; length: number } | undefined;
      const flush = async () => {
        if (!run) return;
        const { shard, start, length } = run;
        const buf = new Float32Array(length * per);
        await sources[shard].read(
          Int32Array.from({ length }, (_, i) => start + i),
          buf,
        );
        writer.append(buf);
        run = undefined;
      };
      for (let pos = 0; pos < owner.length; pos++) {
        const k = owner[pos];
        const j = at[pos];
        const rel = metas[k].part!.entries[j][0];
        const row = rowOf[k][j];
        if (row < 0) {
          skipped.push(rel);
          continue;
        }
        labels[files.length] = sources[k].labels[row];
        if (multiHot) multiHot.set(sources[k].targets!.subarray(row * width, (row + 1) * width), files.length * width);
        files.push(rel);
        if (run && run.shard === k && run.start + run.length === row && run.length < RUN_ROWS) run.length++;
        else {
          await flush();
          run = { shard: k, start: row, length: 1 };
        }
      }
      await flush();
      writer.close();
    } catch (e) {
      writer.abort();
      throw e;
    }
    if (multiHot) await writeNpy(path.join(tmp, LABELS_FILE), multiHot, [labels.length, width]);
    else await writeNpy(path.join(tmp, LABELS_FILE), labels, [labels.length]);
    const [f, l] = await Promise.all([fsp.stat(path.join(tmp, FEATURES_FILE)), fsp.stat(path.join(tmp, LABELS_FILE))]);
    // The unsharded key: the shared header, then every listed file in listing order.
    function* ordered(): Generator<KeyEntry> {
      for (let pos = 0; pos < owner.length; pos++) yield metas[owner[pos]].part!.entries[at[pos]];
    }
    meta = {
      format: FEATURES_FORMAT,
      version: FEATURES_VERSION,
      key: cacheKeyOf(metas[0].part!.keyHeader, ordered()),
      split,
      count: files.length,
      featureShape,
      classNames: metas[0].classNames,
      files,
      skipped,
      bytes: { features: f.size, labels: l.size },
      createdAt: new Date().toISOString(),
    };
    await writeFileAtomic(path.join(tmp, SPLIT_META), splitMetaText(meta));
  });
  return meta as SplitMeta;
}
