import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { mountTmpfs } from '../testing/tmpfs.js';
import { makeTinyRun } from '../testing/tinyRun.js';
import { openRunPredictor, runGraphBytes } from './runGraph.js';

const { data, run } = await makeTinyRun(2);
const meta = await readMeta(run);
const images = ['cats', 'dogs'].flatMap((c) =>
  fs
    .readdirSync(path.join(data, 'test', c))
    .slice(0, 2)
    .map((f) => path.join(data, 'test', c, f)),
);
const here = path.dirname(fileURLToPath(import.meta.url));

function cacheDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-rungraph-'));
}

async function scores(dir: string, log?: (l: string) => void): Promise<number[][]> {
  const p = await openRunPredictor(run, meta, { precision: 'fp32', cache: { dir, log } });
  try {
    return await p.scores(images);
  } finally {
    await p.dispose();
  }
}

test("the run's graph is built once; the second open takes it from the cache and scores the same", async () => {
  const dir = cacheDir();
  const first = await runGraphBytes(run, meta, { precision: 'fp32', cache: { dir } });
  const second = await runGraphBytes(run, meta, { precision: 'fp32', cache: { dir } });
  assert.deepEqual([first.hit, second.hit], [false, true]);
  assert.deepEqual(second.bytes, first.bytes);
  const a = await scores(dir);
  assert.equal(a.length, images.length);
  assert.deepEqual(await scores(dir), a);
});

test('a fresh process predicting on the cached graph never loads tfjs, and gets the same scores', async () => {
  const dir = cacheDir();
  const inProcess = await scores(dir); // builds and caches the graph
  const script = path.join(dir, 'child.mts');
  fs.writeFileSync(
    script,
    `import { openRunPredictor } from ${JSON.stringify(path.join(here, 'runGraph.ts'))};
import { readMeta } from ${JSON.stringify(path.join(here, '../run/meta.ts'))};
const run = ${JSON.stringify(run)};
const p = await openRunPredictor(run, await readMeta(run), { precision: 'fp32', fewImages: true, cache: { dir: ${JSON.stringify(dir)} } });
const scores = await p.scores(${JSON.stringify(images)});
await p.dispose();
// tfjs-core registers its engine on the global object when it is imported.
console.log(JSON.stringify({ tfjs: '_tfengine' in globalThis, scores }));
`,
  );
  const out = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8' }).trim().split('\n').pop()!);
  assert.equal(out.tfjs, false, 'tfjs was loaded');
  for (let i = 0; i < images.length; i++)
    for (let k = 0; k < 2; k++) assert.ok(Math.abs(out.scores[i][k] - inProcess[i][k]) < 1e-6, `${out.scores[i]} vs ${inProcess[i]}`);
});

test("changed weight bytes in the run's model/ miss the cache; a corrupt cached graph is rebuilt with a log line", async () => {
  const dir = cacheDir();
  const before = await scores(dir);
  const corrupt = fs.readdirSync(dir).find((f) => f.endsWith('.onnx'))!;
  fs.truncateSync(path.join(dir, corrupt), 100);
  const lines: string[] = [];
  assert.deepEqual(await scores(dir, (l) => lines.push(l)), before);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /truncated\?\); rebuilding it/);
  assert.equal((await runGraphBytes(run, meta, { precision: 'fp32', cache: { dir } })).hit, true, 'the rebuilt entry serves again');

  // Another run folder with one weight changed: another hash, another graph.
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-rungraph-run-'));
  fs.cpSync(run, copy, { recursive: true });
  const model = runPaths(copy).model;
  const bin = fs.readdirSync(model).find((f) => f.endsWith('.bin'))!;
  const bytes = fs.readFileSync(path.join(model, bin));
  const w = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  w[w.length - 1] += 5; // the head's last bias
  fs.writeFileSync(path.join(model, bin), bytes);
  const changed = await runGraphBytes(copy, meta, { precision: 'fp32', cache: { dir } });
  assert.equal(changed.hit, false);
  // In place, same size: the remembered hash of the files' identity must not serve the old graph.
  w[w.length - 1] -= 5;
  fs.writeFileSync(path.join(model, bin), bytes);
  const restored = await runGraphBytes(copy, meta, { precision: 'fp32', cache: { dir } });
  assert.equal(restored.hit, true);
  assert.notDeepEqual(restored.bytes, changed.bytes);
});

async function fewScores(dir: string, log?: (l: string) => void): Promise<number[][]> {
  const p = await openRunPredictor(run, meta, { precision: 'fp32', fewImages: true, cache: { dir, log } });
  try {
    return await p.scores(images);
  } finally {
    await p.dispose(); // waits for the ORT-format file to join the cache
  }
}

function near(a: number[][], b: number[][]): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++)
    for (let k = 0; k < a[i].length; k++) assert.ok(Math.abs(a[i][k] - b[i][k]) < 1e-6, `${a[i]} vs ${b[i]}`);
}

test("a few images: the graph in ONNX Runtime's own format joins the cache, opens without the ONNX graph, and scores the same", async () => {
  const dir = cacheDir();
  const plain = await scores(dir);
  const lines: string[] = [];
  near(await fewScores(dir, (l) => lines.push(l)), plain);
  const ort = fs.readdirSync(dir).filter((f) => f.endsWith('.ort'));
  assert.equal(ort.length, 1, `cache holds ${fs.readdirSync(dir).join(', ')}`);
  assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')).length, 0, 'the temporary file is gone');

  // With the ONNX entry gone, the next open runs on the ORT-format file alone: nothing is rebuilt.
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.onnx'))) {
    fs.rmSync(path.join(dir, f));
    fs.rmSync(path.join(dir, f.replace(/\.onnx$/, '.json')));
  }
  near(await fewScores(dir, (l) => lines.push(l)), plain);
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.endsWith('.onnx')),
    [],
    'the ONNX graph was rebuilt',
  );
  assert.equal(lines.length, 0, lines.join('\n'));

  // A sound entry this ONNX Runtime cannot open: dropped with a log line, the ONNX graph runs instead.
  const file = path.join(dir, ort[0]);
  const junk = Buffer.from('not a graph in ORT format');
  fs.writeFileSync(file, junk);
  const metaFile = file.replace(/\.ort$/, '.json');
  const entry = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
  Object.assign(entry, { bytes: junk.length, sha256: createHash('sha256').update(junk).digest('hex') });
  fs.writeFileSync(metaFile, JSON.stringify(entry));
  near(await fewScores(dir, (l) => lines.push(l)), plain);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^graph cache: .*; rebuilding it\.$/);
  assert.equal(fs.existsSync(file), false, 'the unopenable entry is removed');
});

test('a few images with a graph cache that cannot be written (read-only, full): the right scores all the same', async (t) => {
  const plain = await scores(cacheDir());
  for (const options of ['ro', 'size=4k']) {
    const dir = mountTmpfs(t, options);
    if (!dir) return;
    const lines: string[] = [];
    near(await fewScores(dir, (l) => lines.push(l)), plain);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => /\.(ort|onnx|tmp)$/.test(f)),
      [],
      `${options}: nothing half-written is left`,
    );
    assert.ok(
      lines.every((l) => /^graph cache: could not write/.test(l)),
      lines.join('\n'),
    );
  }
});
