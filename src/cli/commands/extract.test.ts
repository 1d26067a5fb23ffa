import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy } from '../../io/npy.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const shared = path.resolve(repoRoot, '../shared');
const mobilenet = path.join(shared, 'models/mobilenet_v1_1.0_224_imagenet_truncated');

function tlkit(args: string[]) {
  return spawnSync(process.execPath, [path.join(repoRoot, 'bin/tlkit.js'), ...args], { encoding: 'utf8', cwd: repoRoot });
}

/** Two real JPEGs per class and split, linked from the shared dataset. */
function smallData(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-cli-extract-'));
  for (const split of ['train', 'validation', 'test']) {
    for (const cls of ['cats', 'dogs']) {
      const src = path.join(shared, 'data/cats_vs_dogs_small', split, cls);
      const dst = path.join(root, 'data', split, cls);
      fs.mkdirSync(dst, { recursive: true });
      for (const f of fs.readdirSync(src).sort().slice(0, 2)) fs.symlinkSync(path.join(src, f), path.join(dst, f));
    }
  }
  return root;
}

test('tlkit extract with the shared MobileNet: features per split, then a cache hit', () => {
  const root = smallData();
  const out = path.join(root, 'features');
  const first = tlkit(['extract', '--base', mobilenet, '--data', path.join(root, 'data'), '--out', out, '--batch-size', '4', '--json']);
  assert.equal(first.status, 0, first.stderr);
  const r1 = JSON.parse(first.stdout);
  assert.equal(r1.cacheHit, false);
  assert.deepEqual(
    r1.splits.map((s: { split: string; count: number }) => [s.split, s.count]),
    [
      ['train', 4],
      ['validation', 4],
      ['test', 4],
    ],
  );
  const second = tlkit(['extract', '--base', mobilenet, '--data', path.join(root, 'data'), '--out', out]);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /train\s+4 images -> \[4, 7, 7, 1024\] \(cached\)/);
  assert.match(second.stdout, /All splits from the cache/);
  return readNpy(path.join(out, 'validation', 'labels.npy')).then((l) => assert.deepEqual([...l.data], [0, 0, 1, 1]));
});

test('tlkit extract: bad arguments exit 2 with a one-paragraph message', () => {
  const root = smallData();
  const r = tlkit(['extract', '--base', mobilenet, '--data', path.join(root, 'nope'), '--out', path.join(root, 'f')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^tlkit: .*nope/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const b = tlkit([
    'extract',
    '--base',
    mobilenet,
    '--data',
    path.join(root, 'data'),
    '--out',
    path.join(root, 'f'),
    '--image-size',
    'big',
  ]);
  assert.equal(b.status, 2);
  assert.match(b.stderr, /--image-size must be a whole number from 32 to 2048, got 'big'/);
});

test('tlkit extract: Ctrl-C says what is kept; the next run reuses the finished split', async () => {
  // A small train/ (done at once) and a large validation/ (still running when interrupted).
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-cli-extract-int-'));
  for (const [split, from, n] of [
    ['train', 'train', 4],
    ['validation', 'train', 1000],
  ] as const) {
    for (const cls of ['cats', 'dogs']) {
      const src = path.join(shared, 'data/cats_vs_dogs_small', from, cls);
      const dst = path.join(root, 'data', split, cls);
      fs.mkdirSync(dst, { recursive: true });
      for (const f of fs.readdirSync(src).sort().slice(0, n)) fs.symlinkSync(path.join(src, f), path.join(dst, f));
    }
  }
  const out = path.join(root, 'features');
  const args = ['extract', '--base', mobilenet, '--data', path.join(root, 'data'), '--out', out, '--image-size', '32'];
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/tlkit.js'), ...args], { cwd: repoRoot });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  const trainDone = path.join(out, 'train', 'meta.json');
  while (!fs.existsSync(trainDone) && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  assert.equal(await closed, 130, stderr);
  assert.match(
    stderr,
    new RegExp(`tlkit: interrupted\\. The splits finished so far are kept in ${out.replace(/[.]/g, '\\.')}; run the same command again`),
  );
  assert.equal(fs.existsSync(path.join(out, 'validation', 'meta.json')), false, 'validation was still running');
  const again = tlkit([...args, '--json']);
  assert.equal(again.status, 0, again.stderr);
  const r = JSON.parse(again.stdout);
  assert.deepEqual(
    r.splits.map((s: { split: string; cacheHit: boolean }) => [s.split, s.cacheHit]),
    [
      ['train', true],
      ['validation', false],
    ],
  );
  assert.deepEqual(
    fs.readdirSync(out).filter((f) => f.endsWith('.tmp')),
    [],
    'the interrupted temporary is cleaned up',
  );
});
