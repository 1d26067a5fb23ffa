import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn as spawnChild } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../tfjs/backend.js';
import { makeTinyDataset, makeTinyRun, makeTinyBase } from '../testing/tinyRun.js';
import { mountTmpfs } from '../testing/tmpfs.js';

// Bad input found by sweeping every command: each case must exit 2 with one
// paragraph on stderr naming the value or file, never a stack trace or exit 1/7.

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(repo, 'bin/tlkit.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function tlkit(args: string[], cwd = repo): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd, env: { ...process.env, TLKIT_BACKEND: 'cpu' }, timeout: 120_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
      },
    );
  });
}

function assertBadInput(r: Result, what: string, message: RegExp): void {
  assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.stderr}`);
  const paragraph = r.stderr.split('\n').filter((l) => l.startsWith('tlkit: '));
  assert.equal(paragraph.length, 1, `${what}: one message expected in\n${r.stderr}`);
  assert.match(paragraph[0], message, what);
  assert.doesNotMatch(r.stderr, /^\s+at |internal error|node_modules/m, `${what}: no stack trace or internal error\n${r.stderr}`);
}

test('bad input across commands: exit 2, one paragraph naming the file or value', async () => {
  await initBackend('cpu');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-badinput-'));
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 4, validation: 2 });
  // An empty file in the second batch: it is decoded ahead while the first batch runs.
  const empty = path.join(data, 'train', 'dogs', 'dogs.1.png');
  fs.writeFileSync(empty, '');
  const baseDir = path.join(root, 'base');
  await makeTinyBase(baseDir);
  const { run } = await makeTinyRun(1);
  const notes = path.join(root, 'notes.txt');
  fs.writeFileSync(notes, 'not a folder');
  const features = path.join(root, 'features');

  const [
    extractEmpty,
    trainOutFile,
    previewOutDir,
    reportMissingData,
    demoBadEpochs,
    extractProc,
    demoUnderFile,
    exportProc,
    extractBadBase,
  ] = await Promise.all([
    tlkit(['extract', '--base', baseDir, '--data', data, '--out', features, '--batch-size', '2']),
    tlkit(['train', '--data', data, '--base', baseDir, '--out', notes, '--epochs', '1']),
    tlkit(['augment-preview', path.join(data, 'train', 'cats', 'cats.0.png'), '--out', root, '--n', '2', '--image-size', '16']),
    tlkit(['report', run, '--data', path.join(root, 'nope')]),
    tlkit(['demo', '--epochs', '0', '--out', path.join(root, 'demo')]),
    // extract, demo and export check --out with train's check (ensureWritableDir), leaving nothing behind.
    tlkit(['extract', '--base', baseDir, '--data', data, '--out', '/proc/tlkit-features']),
    tlkit(['demo', '--out', path.join(notes, 'demo')]),
    tlkit(['export', run, '--format', 'tfjs', '--out', '/proc/tlkit-export']),
    tlkit(['extract', '--base', path.join(root, 'no-base'), '--data', data, '--out', path.join(root, 'new', 'features')]),
  ]);

  // Was exit 7: the rejected look-ahead decode crashed the process through the wasm runtime's handler.
  assertBadInput(
    extractEmpty,
    'extract, empty image',
    new RegExp(`Could not read the image ${empty.replace(/[.]/g, '\\.')}: the file is empty`),
  );
  assert.deepEqual(
    fs.readdirSync(features).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary folder left behind',
  );
  // Was exit 1 (EEXIST from mkdir).
  assertBadInput(trainOutFile, 'train --out FILE', /--out .*notes\.txt is an existing file, not a folder/);
  // Was exit 1 (EISDIR from rename).
  assertBadInput(previewOutDir, 'augment-preview --out DIR', /--out .* is an existing folder\. Give a file path inside it/);
  assert.deepEqual(
    fs.readdirSync(root).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary file left behind',
  );
  // Was exit 0 with a report that silently had no evaluation.
  assertBadInput(reportMissingData, 'report --data MISSING', /data folder .*nope does not exist/);
  // Was exit 2, but only after generating a 400-image dataset.
  assertBadInput(demoBadEpochs, 'demo --epochs 0', /--epochs must be a whole number >= 1, got '0'/);
  assert.equal(fs.existsSync(path.join(root, 'demo')), false, 'demo checks its options before generating data');
  // Were unchecked: Node 20's recursive mkdir loops forever under /proc.
  assertBadInput(
    extractProc,
    'extract --out /proc/...',
    /--out \/proc\/tlkit-features is under \/proc, a kernel file system where nothing can be written\. Give a folder on a disk/,
  );
  assertBadInput(exportProc, 'export --out /proc/...', /--out \/proc\/tlkit-export is under \/proc, a kernel file system/);
  assertBadInput(
    demoUnderFile,
    'demo --out FILE/demo',
    /--out .*notes\.txt.demo cannot be written: a part of the path is a file, not a folder \(ENOTDIR\)\. Give a path whose every parent is a folder, or move the file away\./,
  );
  assertBadInput(extractBadBase, 'extract --base MISSING', /no-base/);
  assert.equal(fs.existsSync(path.join(root, 'new')), false, 'the --out check of a command that then fails leaves no folder behind');
});

test('train: every path and option that can fail is checked before extraction; a second writer exits 2; a closed stdout ends quietly', async () => {
  await initBackend('cpu');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-early-'));
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 4, validation: 2 });
  const flat = path.join(root, 'flat');
  fs.cpSync(path.join(data, 'train'), flat, { recursive: true });
  const baseDir = await makeTinyBase(path.join(root, 'base'));
  const cache = path.join(root, 'cache');
  const train = (...extra: string[]) =>
    tlkit(['train', '--data', data, '--base', baseDir, '--out', path.join(root, 'run'), '--cache-dir', cache, '--epochs', '1', ...extra]);

  const [procOut, procCache, noSplit, resumeMissing] = await Promise.all([
    // Was a hang: Node 20's recursive mkdir loops forever under /proc.
    tlkit(['train', '--data', data, '--base', baseDir, '--out', '/proc/tlkit-run', '--cache-dir', cache]),
    tlkit(['train', '--data', data, '--base', baseDir, '--out', path.join(root, 'r2'), '--cache-dir', '/proc/1/tlkit-cache']),
    // Was reported only after extracting the features.
    tlkit(['train', '--data', flat, '--base', baseDir, '--out', path.join(root, 'r3'), '--cache-dir', cache]),
    tlkit(['train', '--data', data, '--base', baseDir, '--out', path.join(root, 'nothing-here'), '--cache-dir', cache, '--resume']),
  ]);
  assertBadInput(procOut, 'train --out /proc/...', /--out \/proc\/tlkit-run is under \/proc, a kernel file system/);
  assertBadInput(procCache, 'train --cache-dir /proc/...', /--cache-dir \/proc\/1\/tlkit-cache is under \/proc/);
  assertBadInput(noSplit, 'train without validation/', /has no validation\/ folder\. .*--validation-split 0\.2/);
  assertBadInput(resumeMissing, 'train --resume on a missing run', /--resume: .*nothing-here holds no run to continue/);
  assert.deepEqual(fs.existsSync(cache) ? fs.readdirSync(cache) : [], [], 'no features were extracted before these errors');
  assert.ok(!fs.existsSync(path.join(root, 'nothing-here')), '--resume creates nothing');

  // A second writer: a live process holds the run folder's lock.
  const holder = spawnChild('sleep', ['30']);
  try {
    fs.mkdirSync(path.join(root, 'run'));
    fs.writeFileSync(
      path.join(root, 'run', '.lock'),
      JSON.stringify({ pid: holder.pid, host: os.hostname(), command: 'tlkit train', since: 'now' }),
    );
    assertBadInput(
      await train(),
      'train into a locked run folder',
      new RegExp(`being written by another tlkit process \\(pid ${holder.pid}`),
    );
  } finally {
    holder.kill();
  }
  fs.rmSync(path.join(root, 'run', '.lock'));
  const trained = await train('--quiet');
  assert.equal(trained.code, 0, trained.stderr);

  // `tlkit predict ... | head -1`: was "internal error: write EPIPE", exit 1.
  const many = path.join(root, 'many');
  for (let i = 0; i < 40; i++)
    fs.cpSync(path.join(data, 'train', 'cats', 'cats.0.png'), path.join(many, `img${i}.png`), { recursive: true });
  const child = spawnChild(process.execPath, [bin, 'predict', '--model', path.join(root, 'run'), many], {
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.once('data', () => child.stdout!.destroy());
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|internal error/);
});

test('train --out on a read-only file system: exit 2 at once naming the path (was exit 1 "internal error: ENOENT")', async (t) => {
  const ro = mountTmpfs(t, 'ro');
  if (!ro) return;
  await initBackend('cpu');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-ro-data-'));
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 2, validation: 1 });
  const baseDir = await makeTinyBase(path.join(root, 'base'));
  const trainInto = (out: string, cache: string) => tlkit(['train', '--data', data, '--base', baseDir, '--out', out, '--cache-dir', cache]);
  const r = await trainInto(path.join(ro, 'run'), path.join(root, 'cache'));
  assertBadInput(
    r,
    'train --out on a read-only disk',
    new RegExp(`--out ${ro.replace(/[.]/g, '\\.')}/run cannot be written: the file system is read-only \\(EROFS\\)`),
  );
  const cache = await trainInto(path.join(root, 'run'), path.join(ro, 'cache'));
  assertBadInput(
    cache,
    'train --cache-dir on a read-only disk',
    /--cache-dir .* cannot be written: the file system is read-only \(EROFS\)/,
  );
});
