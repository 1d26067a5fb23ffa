import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../tfjs/backend.js';
import { loadBase } from '../applications/loadBase.js';
import { extractFeatures } from '../features/extract.js';
import { featureCacheFolder } from '../workflows/featureCache.js';
import { linkedPhotoData, SHARED_MOBILENET } from '../testing/linkedPhotos.js';
import { extractShard } from './extractShard.js';
import { mergeFeatureShards } from './mergeFeatures.js';

/** The cache's files as a comparable map: .npy files as bytes, meta.json and manifest.json without their timestamp. */
function cacheContents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [
    'manifest.json',
    ...['train', 'validation', 'test'].flatMap((s) => ['features.npy', 'labels.npy', 'meta.json'].map((f) => `${s}/${f}`)),
  ]) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) continue;
    if (name.endsWith('.json')) {
      const j = JSON.parse(fs.readFileSync(file, 'utf8'));
      delete j.createdAt;
      out[name] = JSON.stringify(j);
    } else out[name] = fs.readFileSync(file).toString('base64');
  }
  return out;
}

const userError = (pattern: RegExp) => (e: Error) => e.name === 'UserError' && pattern.test(e.message);

test('four feature shards merge into the cache an unsharded extraction writes (bytes, keys, order, skipped files); a retried shard does nothing; missing and foreign shards are refused', async () => {
  await initBackend();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-merge-'));
  const data = linkedPhotoData(path.join(root, 'data'), 5);
  // An unreadable file, skipped the same way sharded or not.
  fs.writeFileSync(path.join(data, 'train', 'dogs', 'dog.zz-broken.jpg'), 'not a jpeg');
  const base = await loadBase({ base: SHARED_MOBILENET, imageSize: [64, 64] });
  const common = { base, data, batchSize: 3, skipBadImages: true };
  const whole = path.join(root, 'whole');
  await extractFeatures({ ...common, out: whole });

  const out = path.join(root, 'shards');
  for (let k = 0; k < 4; k++) assert.equal((await extractShard({ ...common, out, shard: { index: k, count: 4 } })).alreadyDone, false);
  const merged = await mergeFeatureShards(out);
  assert.deepEqual(
    merged.splits.map((s) => [s.split, s.count, s.skipped]),
    [
      ['train', 10, 1],
      ['validation', 10, 0],
      ['test', 10, 0],
    ],
  );
  const expected = cacheContents(whole);
  assert.equal(Object.keys(expected).length, 10);
  assert.deepEqual(cacheContents(out), expected);
  // The merged folder is a feature cache train reads as it is (train --cache-dir OUT).
  assert.equal(featureCacheFolder({ cacheDir: out, dataRoot: data, base, precision: 'fp32' }), out);
  assert.notEqual(featureCacheFolder({ cacheDir: whole, dataRoot: data, base, precision: 'int8' }), whole);
  const again = await extractFeatures({ ...common, out });
  assert.equal(again.cacheHit, true);

  // A retried task finds its finished folder: nothing is rewritten.
  const shard1 = path.join(out, 'shard-1-of-4', 'manifest.json');
  const before = fs.statSync(shard1).mtimeMs;
  assert.equal((await extractShard({ ...common, out, shard: { index: 1, count: 4 } })).alreadyDone, true);
  assert.equal(fs.statSync(shard1).mtimeMs, before);

  // A task killed half-way leaves only its dot-named temporary: the merge says the shard is missing and how to make it.
  fs.renameSync(path.join(out, 'shard-2-of-4'), path.join(out, `.shard-2-of-4.${os.hostname()}.999999.tmp`));
  fs.rmSync(path.join(out, `.shard-2-of-4.${os.hostname()}.999999.tmp`, 'shard.json'));
  await assert.rejects(mergeFeatureShards(out), userError(/1 of 4 shards cannot be merged: shard 2 \(.*shard-2-of-4\) is missing/));
  await extractShard({ ...common, out, shard: { index: 2, count: 4 } });
  assert.deepEqual(
    fs.readdirSync(out).filter((e) => e.includes('shard-2')),
    ['shard-2-of-4'],
    'the killed attempt is cleaned up',
  );
  await mergeFeatureShards(out);
  assert.deepEqual(cacheContents(out), expected);

  // A shard of another image size (or base) is foreign: refused, named, with the command that remakes it.
  const other = path.join(root, 'other');
  const base96 = await loadBase({ base: SHARED_MOBILENET, imageSize: [96, 96] });
  await extractShard({ ...common, base: base96, out: other, shard: { index: 3, count: 4 } });
  fs.rmSync(path.join(out, 'shard-3-of-4'), { recursive: true });
  fs.cpSync(path.join(other, 'shard-3-of-4'), path.join(out, 'shard-3-of-4'), { recursive: true });
  await assert.rejects(
    mergeFeatureShards(out),
    userError(/shard 3 \(.*shard-3-of-4\) has image size 96x96 \(the others: 64x64\)\. It is refused/),
  );
  // Shard sets of two counts side by side: which one to merge must be said.
  await extractShard({ ...common, out, shard: { index: 0, count: 2 } });
  await assert.rejects(mergeFeatureShards(out), userError(/2 different counts \(of-2, of-4\).*--shards N/));
  await assert.rejects(mergeFeatureShards(out, { shards: 2 }), userError(/shard 1 .*shard-1-of-2\) is missing/));
});

test('more shards than images: empty shards merge too, and --delete-shards removes the shard folders', async () => {
  await initBackend();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-merge-empty-'));
  const data = linkedPhotoData(path.join(root, 'data'), 3, ['train', 'validation']);
  const base = await loadBase({ base: SHARED_MOBILENET, imageSize: [32, 32] });
  const common = { base, data, batchSize: 4, splits: ['validation'] };
  const whole = path.join(root, 'whole');
  await extractFeatures({ ...common, out: whole });
  const out = path.join(root, 'shards');
  const counts: number[] = [];
  for (let k = 0; k < 9; k++) counts.push((await extractShard({ ...common, out, shard: { index: k, count: 9 } })).result!.splits[0].count);
  assert.equal(
    counts.reduce((a, b) => a + b),
    6,
  );
  assert.ok(counts.includes(0), `some shard is empty: ${counts}`);
  await mergeFeatureShards(out, { deleteShards: true });
  assert.deepEqual(cacheContents(out), cacheContents(whole));
  assert.deepEqual(fs.readdirSync(out).sort(), ['manifest.json', 'validation']);
});
