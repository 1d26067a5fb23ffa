import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { FEATURES_FORMAT, MANIFEST, validSplitCache, type Manifest, type SplitMeta } from '../features/cache.js';
import type { ShardSpec } from './assign.js';
import { commandForShard, listShardFolders, readShardRecord, type ShardKind, type ShardRecord } from './record.js';

/** A finished shard of features: its record, manifest and the meta of each split (with its part record). */
export interface FeatureShard {
  spec: ShardSpec;
  folder: string;
  record: ShardRecord;
  manifest: Manifest;
  metas: Record<string, SplitMeta>;
}

/** The count of the shard set under `root`: the one given, or the only one there. */
export function shardCount(root: string, given: number | undefined, what: ShardKind): { count: number; folders: Map<number, string> } {
  const byCount = listShardFolders(root);
  if (given !== undefined) return { count: given, folders: byCount.get(given) ?? new Map() };
  const counts = [...byCount.keys()].sort((a, b) => a - b);
  const make = what === 'features' ? 'tlkit extract ... --shard K/N' : 'tlkit predict ... --shard K/N';
  if (counts.length === 0)
    throw new UserError(
      `${root} holds no shard folders (shard-K-of-N). Make them first with \`${make} --out ${root}\`, one task per shard.`,
    );
  if (counts.length > 1)
    throw new UserError(
      `${root} holds shards of ${counts.length} different counts (${counts.map((c) => `of-${c}`).join(', ')}). Pass --shards N to merge one set, and remove the folders of the others.`,
    );
  return { count: counts[0], folders: byCount.get(counts[0])! };
}

function readManifestOf(folder: string): Manifest | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(folder, MANIFEST), 'utf8')) as Manifest;
    return m.format === FEATURES_FORMAT ? m : undefined;
  } catch {
    return undefined;
  }
}

/** A shard folder as a FeatureShard, or why it cannot be merged. */
function loadShard(folder: string, spec: ShardSpec): FeatureShard | string {
  const record = readShardRecord(folder);
  if (!record) return 'has no shard.json (unfinished or damaged)';
  if (record.kind !== 'features') return `holds ${record.kind}, not features`;
  const manifest = readManifestOf(folder);
  if (!manifest) return 'has no readable manifest.json';
  const metas: Record<string, SplitMeta> = {};
  for (const [split, entry] of Object.entries(manifest.splits)) {
    const meta = validSplitCache(path.join(folder, entry.dir), entry.key);
    if (!meta) return `has incomplete or damaged ${split} features`;
    if (!meta.part) return `holds the ${split} features of a whole extraction, not of a shard`;
    metas[split] = meta;
  }
  return { spec, folder, record, manifest, metas };
}

/** What a shard's features depend on, field by field: every shard of one extraction agrees on all of them. */
function identity(s: FeatureShard): Array<[string, string]> {
  const m = s.manifest;
  const fields: Array<[string, string]> = [
    ['base', `${m.base.family} (${m.base.source}, weights sha256 ${m.base.weightsHash.slice(0, 12)})`],
    ['cut layer', m.base.cutLayer ?? 'none'],
    ['preprocessing', m.preprocessing],
    ['image size', m.imageSize.join('x')],
    ['precision', m.precision ?? 'fp32'],
    ['classes', m.classNames.join(', ')],
    ['splits', Object.keys(m.splits).join(', ')],
  ];
  const metas = Object.entries(s.metas);
  // The rest of the key (EXIF mode, skip-bad-images, the int8 calibration), field by field.
  const header = JSON.parse(metas[0]?.[1].part?.keyHeader ?? '{}') as Record<string, unknown>;
  const shown = new Set(['weightsHash', 'cutLayer', 'preprocessing', 'imageSize', 'classNames']);
  const names: Record<string, string> = {
    exif: 'EXIF mode',
    skipBadImages: 'skip-bad-images',
    precision: 'precision key (int8: its calibration)',
  };
  for (const [field, value] of Object.entries(header))
    if (!shown.has(field)) fields.push([names[field] ?? `feature ${field}`, typeof value === 'string' ? value : JSON.stringify(value)]);
  for (const [split, meta] of metas)
    fields.push([`${split} listing`, `${meta.part!.listed} files, sha256 ${meta.part!.listingDigest.slice(0, 12)}`]);
  return fields;
}

/**
 * The N finished feature shards under `root`, checked: all present, all made from the
 * same listing with the same base, weights, preprocessing, precision, image size and
 * classes. Otherwise a UserError naming the shards and the command that makes them.
 */
export function checkedShards(root: string, given?: number): FeatureShard[] {
  const { count, folders } = shardCount(root, given, 'features');
  const loaded: FeatureShard[] = [];
  const problems: Array<{ index: number; why: string }> = [];
  for (let index = 0; index < count; index++) {
    const folder = folders.get(index);
    if (!folder) {
      problems.push({ index, why: 'is missing' });
      continue;
    }
    const s = loadShard(folder, { index, count });
    if (typeof s === 'string') problems.push({ index, why: s });
    else loaded.push(s);
  }
  /** The commands that make shards `indices`, from a good shard's own command line. */
  const remake = (indices: number[], again: string) => {
    const them = indices.length > 1 ? 'them' : 'it';
    const example = loaded.find((s) => !indices.includes(s.spec.index))?.record.command;
    if (!example) return `Make ${them}${again} with \`tlkit extract ... --out ${root} --shard K/${count}\`.`;
    const lines = indices.slice(0, 8).map((i) => `  ${commandForShard(example, { index: i, count })}`);
    return `Make ${them}${again} with:\n${lines.join('\n')}${indices.length > 8 ? '\n  ...' : ''}\n(or re-run those tasks of the job array), then merge again.`;
  };
  if (problems.length) {
    const detail = problems
      .slice(0, 8)
      .map((p) => `shard ${p.index} (${path.join(root, `shard-${p.index}-of-${count}`)}) ${p.why}`)
      .join('; ');
    throw new UserError(
      `${problems.length} of ${count} shards cannot be merged: ${detail}${problems.length > 8 ? '; ...' : ''}. ${remake(
        problems.map((p) => p.index),
        '',
      )}`,
    );
  }
  // The reference is what most shards agree on; the others are foreign.
  const keyOf = (s: FeatureShard) => JSON.stringify(identity(s));
  const votes = new Map<string, number>();
  for (const s of loaded) votes.set(keyOf(s), (votes.get(keyOf(s)) ?? 0) + 1);
  const best = [...votes.entries()].sort((a, b) => b[1] - a[1])[0][0];
  const reference = loaded.find((s) => keyOf(s) === best)!;
  const foreign = loaded.filter((s) => keyOf(s) !== best);
  if (foreign.length) {
    const ref = new Map(identity(reference));
    const detail = foreign.slice(0, 8).map((s) => {
      const diffs = identity(s)
        .filter(([field, value]) => ref.get(field) !== value)
        .map(([field, value]) => `${field} ${value} (the others: ${ref.get(field) ?? 'none'})`);
      return `shard ${s.spec.index} (${s.folder}) has ${diffs.join('; ')}`;
    });
    throw new UserError(
      `${foreign.length} of ${count} shards were made from other data or settings than the rest: ${detail.join('. ')}. ${foreign.length > 1 ? 'They are' : 'It is'} refused. ${remake(
        foreign.map((s) => s.spec.index),
        ' again',
      )}`,
    );
  }
  return loaded.sort((a, b) => a.spec.index - b.spec.index);
}
