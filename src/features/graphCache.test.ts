import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachedGraph, graphCacheDir, graphKeyHash, readCachedGraph, type GraphKey } from './graphCache.js';

const KEY: GraphKey = { kind: 'frozen', weightsHash: 'a'.repeat(64), cut: '', imageSize: [180, 180], precision: 'fp32' };

function graphBytes(seed: number, n = 4096): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
}

function freshDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-graphcache-'));
}

test('a graph is built once: the second lookup returns the same bytes without building', async () => {
  const dir = freshDir();
  let builds = 0;
  const build = () => {
    builds += 1;
    return graphBytes(1);
  };
  const first = await cachedGraph(KEY, build, { dir });
  const second = await cachedGraph(KEY, build, { dir });
  assert.equal(builds, 1);
  assert.deepEqual([first.hit, second.hit], [false, true]);
  assert.deepEqual(second.bytes, first.bytes);
  // Nothing but the entry's two files: the writes went through temporaries that were renamed.
  assert.deepEqual(fs.readdirSync(dir).sort(), [`${graphKeyHash(KEY)}.json`, `${graphKeyHash(KEY)}.onnx`]);
});

test('every key part takes part: another weights hash, cut, image size, precision or extra misses', async () => {
  const dir = freshDir();
  await cachedGraph(KEY, () => graphBytes(1), { dir });
  const others: GraphKey[] = [
    { ...KEY, weightsHash: 'b'.repeat(64) },
    { ...KEY, cut: 'block4_pool' },
    { ...KEY, imageSize: [160, 180] },
    { ...KEY, precision: 'int8' },
    { ...KEY, kind: 'run' },
    { ...KEY, extra: { calibration: 'x' } },
  ];
  for (const key of others) {
    assert.notEqual(graphKeyHash(key), graphKeyHash(KEY));
    assert.equal(readCachedGraph(key, { dir }), undefined, JSON.stringify(key));
  }
  assert.ok(readCachedGraph({ ...KEY }, { dir }), 'an equal key still hits');
});

test('a corrupt or truncated entry is detected, logged and rebuilt, never returned', async () => {
  for (const damage of ['flip', 'truncate', 'meta', 'missing']) {
    const dir = freshDir();
    await cachedGraph(KEY, () => graphBytes(2), { dir });
    const graph = path.join(dir, `${graphKeyHash(KEY)}.onnx`);
    const meta = path.join(dir, `${graphKeyHash(KEY)}.json`);
    if (damage === 'flip') {
      const b = fs.readFileSync(graph);
      b[100] ^= 0xff;
      fs.writeFileSync(graph, b);
    } else if (damage === 'truncate') fs.truncateSync(graph, 1000);
    else if (damage === 'meta') fs.writeFileSync(meta, '{"format": "tlkit-gr');
    else fs.rmSync(graph);
    const lines: string[] = [];
    let builds = 0;
    const again = await cachedGraph(
      KEY,
      () => {
        builds += 1;
        return graphBytes(2);
      },
      { dir, log: (l) => lines.push(l) },
    );
    assert.equal(again.hit, false, damage);
    assert.equal(builds, 1, damage);
    assert.deepEqual(again.bytes, graphBytes(2));
    assert.equal(lines.length, 1, damage);
    assert.match(lines[0], /graph cache: .* rebuilding it/);
    // ... and the rebuilt entry serves the next lookup.
    assert.deepEqual(readCachedGraph(KEY, { dir }), graphBytes(2));
  }
});

test('where the cache lives: TLKIT_GRAPH_CACHE, else <tlkit cache>/graphs; "off" turns it off', async () => {
  assert.equal(graphCacheDir({ TLKIT_CACHE: '/x/cache' }), path.resolve('/x/cache/graphs'));
  assert.equal(graphCacheDir({ XDG_CACHE_HOME: '/x/xdg' }), path.join('/x/xdg', 'tlkit', 'graphs'));
  assert.equal(graphCacheDir({ TLKIT_GRAPH_CACHE: '/x/graphs', TLKIT_CACHE: '/x/cache' }), path.resolve('/x/graphs'));
  assert.equal(graphCacheDir({ TLKIT_GRAPH_CACHE: 'off' }), undefined);
  let builds = 0;
  const env = { TLKIT_GRAPH_CACHE: 'off' };
  for (let i = 0; i < 2; i++)
    await cachedGraph(
      KEY,
      () => {
        builds += 1;
        return graphBytes(3);
      },
      { env },
    );
  assert.equal(builds, 2);
});

test('the cache stays under its size bound: the least recently used entries go first', async () => {
  const dir = freshDir();
  const env = { TLKIT_GRAPH_CACHE_MB: String(3 / 1024) }; // 3 KiB: room for one 2 KiB graph
  const keys = [1, 2].map((i) => ({ ...KEY, weightsHash: String(i).repeat(64) }));
  await cachedGraph(keys[0], () => graphBytes(1, 2048), { dir, env });
  await cachedGraph(keys[1], () => graphBytes(2, 2048), { dir, env });
  assert.equal(readCachedGraph(keys[0], { dir, env }), undefined);
  assert.ok(readCachedGraph(keys[1], { dir, env }));
});

test('remembered weights hashes nobody used for a month go when the cache is written; recent ones stay', async () => {
  const dir = freshDir();
  const old = path.join(dir, `weights-${'a'.repeat(64)}.txt`);
  const recent = path.join(dir, `weights-${'b'.repeat(64)}.txt`);
  const notMine = path.join(dir, 'notes.txt');
  for (const f of [old, recent, notMine]) fs.writeFileSync(f, 'c'.repeat(64));
  const longAgo = new Date(Date.now() - 40 * 86_400_000);
  fs.utimesSync(old, longAgo, longAgo);
  fs.utimesSync(notMine, longAgo, longAgo);
  await cachedGraph(KEY, () => graphBytes(1, 64), { dir });
  assert.deepEqual(
    [old, recent, notMine].map((f) => fs.existsSync(f)),
    [false, true, true],
  );
});

test("what a killed writer left half-written goes when the cache is next written; a live writer's stays", async () => {
  const dir = freshDir();
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const left = path.join(dir, `.${'d'.repeat(64)}.ort.${dead}.1700000000000.tmp`);
  const writing = path.join(dir, `.${'e'.repeat(64)}.onnx.${process.pid}.1700000000000.tmp`);
  for (const f of [left, writing]) fs.writeFileSync(f, 'half a graph');
  await cachedGraph(KEY, () => graphBytes(1, 64), { dir });
  assert.deepEqual(
    [left, writing].map((f) => fs.existsSync(f)),
    [false, true],
  );
});
