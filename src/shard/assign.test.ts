import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inShard, parseShardFolderName, parseShardText, shardFolderName, shardOf } from './assign.js';

const paths = (n: number, prefix = 'train/cats/cat') => Array.from({ length: n }, (_, i) => `${prefix}.${i}.jpg`);

test('shard assignment is pinned: the same path goes to the same shard in every version (shard sets made before an upgrade still merge)', () => {
  // Recorded once. A change of the hash would mix shards of two assignments in one merge,
  // so changing these values needs a new shard format (SHARD_VERSION), not a new expectation.
  assert.deepEqual(
    ['train/cats/cat.0.jpg', 'train/dogs/dog.0.jpg', 'validation/cats/cat.1000.jpg', 'a/b/c d é.png'].map((p) => shardOf(p, 7)),
    [0, 4, 6, 5],
  );
  assert.deepEqual(
    ['train/cats/cat.0.jpg', 'x'].map((p) => shardOf(p, 1000003)),
    [158130, 134648],
  );
});

test('every file is in exactly one shard, shards are even, and adding files moves none of the others', () => {
  const all = paths(20000);
  const counts = new Array(4).fill(0);
  for (const p of all) counts[shardOf(p, 4)]++;
  for (const c of counts) assert.ok(Math.abs(c - 5000) < 300, `uneven shards: ${counts}`);
  const keeps = [0, 1, 2, 3].map((k) => inShard({ index: k, count: 4 }));
  for (const p of all.slice(0, 500)) assert.equal(keeps.filter((keep) => keep(p)).length, 1);
  // Adding files: the old ones stay where they were (no listing of others needed, nothing reshuffled).
  const before = all.map((p) => shardOf(p, 4));
  const grown = [...paths(300, 'train/new/x'), ...all];
  assert.deepEqual(
    grown.slice(300).map((p) => shardOf(p, 4)),
    before,
  );
});

test('--shard K/N is checked, and shard folder names round-trip', () => {
  assert.deepEqual(parseShardText('2/4'), { index: 2, count: 4 });
  assert.deepEqual(parseShardText(' 0 / 1 '), { index: 0, count: 1 });
  for (const [bad, why] of [
    ['4/4', /below N/],
    ['1', /K\/N/],
    ['-1/4', /K\/N/],
    ['1/0', /from 1/],
    ['a/b', /K\/N/],
  ] as const)
    assert.throws(
      () => parseShardText(bad),
      (e: Error) => e.name === 'UserError' && why.test(e.message) && e.message.includes(bad),
    );
  assert.equal(shardFolderName({ index: 3, count: 12 }), 'shard-3-of-12');
  assert.deepEqual(parseShardFolderName('shard-3-of-12'), { index: 3, count: 12 });
  assert.equal(parseShardFolderName('shard-12-of-12'), undefined);
  assert.equal(parseShardFolderName('.shard-3-of-12.host.77.tmp'), undefined);
});
