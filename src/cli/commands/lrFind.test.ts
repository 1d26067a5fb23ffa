// `tlkit lr-find` as a user runs it: the built CLI (bin/tlkit.js) on a tiny generated dataset.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { makeTinyBase, makeTinyDataset } from '../../testing/tinyRun.js';
import { train } from '../../workflows/train.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = path.join(repo, 'bin/tlkit.js');

let root = '';
let data = '';
let base = '';
let run = '';
const env = () => ({ ...process.env, TLKIT_CACHE: path.join(root, 'cache') });

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-cli-lrfind-'));
  data = await makeTinyDataset(path.join(root, 'data'), { train: 16, validation: 4 });
  base = await makeTinyBase(path.join(root, 'base'));
  run = path.join(root, 'run');
  await train(
    { data, base, out: run, epochs: 1, batchSize: 4, headUnits: 4, cacheDir: path.join(root, 'cache', 'features'), verbose: 0 },
    { log: () => {} },
  );
});

function tlkit(args: string[], cwd = root) {
  return spawnSync(process.execPath, [bin, 'lr-find', ...args], { encoding: 'utf8', cwd, env: env() });
}

function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of fs.readdirSync(dir, { recursive: true }).map(String).sort()) {
    const f = path.join(dir, rel);
    if (fs.statSync(f).isFile()) out[rel] = createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  }
  return out;
}

const small = () => ['--data', data, '--base', base, '--batch-size', '4', '--head-units', '4'];

test("--help: train's options (but --resume), the sweep's, --plot-dir and --json", () => {
  const r = spawnSync(process.execPath, [bin, 'lr-find', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const flag of [
    '--data',
    '--base',
    '--mode',
    '--from',
    '--optimizer',
    '--start',
    '--end',
    '--steps',
    '--no-stop-div',
    '--plot-dir',
    '--json',
  ])
    assert.match(r.stdout, new RegExp(`${flag}\\b`), flag);
  assert.doesNotMatch(r.stdout, /--resume/);
  assert.match(r.stdout, /--out <run dir>\s+accepted and unused by lr-find/);
  assert.match(r.stdout, /--learning-rate <x>\s+accepted and unused by lr-find/);
});

test('--json: the curve, the suggestions and the plot; a run folder given as --out and --from is left byte for byte', () => {
  const before = hashes(run);
  const plots = path.join(root, 'json-plots');
  const r = tlkit([...small(), '--out', run, '--steps', '30', '--no-stop-div', '--plot-dir', plots, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.rates.length, 30);
  assert.equal(out.losses.length, 30);
  assert.equal(out.rates[0], 1e-7);
  assert.equal(out.ended, 'steps', 'no stop at 4x the minimum');
  for (const k of ['valley', 'steep', 'minimum']) assert.ok(out.suggestions[k] > 1e-7 && out.suggestions[k] < 10, k);
  assert.deepEqual(out.plot, { png: path.join(plots, 'lr-find.png'), svg: path.join(plots, 'lr-find.svg') });
  assert.ok(fs.existsSync(out.plot.png) && fs.existsSync(out.plot.svg));
  // Progress goes to stderr, stdout is the one JSON line.
  assert.match(r.stderr, /batch \d+\/30: learning rate/);
  assert.equal(r.stdout.trim().split('\n').length, 1);

  const f = tlkit([...small(), '--mode', 'finetune', '--from', run, '--unfreeze', '2', '--steps', '12', '--plot-dir', plots, '--json']);
  assert.equal(f.status, 0, f.stderr);
  assert.equal(JSON.parse(f.stdout).what, 'Fine-tuning (conv1 + head)');
  assert.deepEqual(hashes(run), before);
});

test('by default: the suggestions in words, which to use, and the plot in the current folder', async () => {
  const cwd = fs.mkdtempSync(path.join(root, 'cwd-'));
  const r = tlkit([...small(), '--steps', '30', '--no-stop-div'], cwd);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^The head: 30 batches in [\d.]+ s \(all its steps done; [\d.]+ s in all, loading and features included\)\.$/m);
  assert.match(r.stdout, /^ {2}valley {6}\d\.\de-\d+$/m);
  assert.match(r.stdout, /^ {2}steep {7}\d\.\de-\d+$/m);
  assert.match(r.stdout, /^ {2}minimum\/10 {2}\d\.\de-\d+$/m);
  const valley = /^ {2}valley {6}(\S+)$/m.exec(r.stdout)?.[1];
  assert.match(r.stdout, new RegExp(`^Use valley \\(--learning-rate ${valley}\\)`, 'm'));
  assert.match(
    r.stdout,
    new RegExp(`^Plot: ${path.join(cwd, 'lr-find.png').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(and lr-find.svg beside it\\)$`, 'm'),
  );
  assert.equal((await sharp(path.join(cwd, 'lr-find.png')).metadata()).format, 'png');
  assert.equal((await sharp(path.join(cwd, 'lr-find.svg')).metadata()).format, 'svg');
});

test('bad input exits 2 with one paragraph naming the flag, before any work', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--base', base], /--data/],
    [[...small(), '--start', '1', '--end', '0.1'], /^tlkit: --start \(1\) must be below --end \(0\.1\)/],
    [[...small(), '--steps', 'many'], /^tlkit: --steps must be a whole number from 10 to 100000, got 'many'/],
    [['--data', path.join(root, 'nowhere'), '--base', base], /nowhere/],
    [[...small(), '--mode', 'finetune', '--from', path.join(root, 'data')], /^tlkit: --from .*: not a finished tlkit run/],
  ];
  for (const [args, pattern] of cases) {
    const r = tlkit(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('Ctrl-C stops the sweep after the current batch: exit 130, says so, writes no plot', async () => {
  const plots = path.join(root, 'stopped-plots');
  const child = spawn(process.execPath, [bin, 'lr-find', ...small(), '--steps', '100000', '--no-stop-div', '--plot-dir', plots], {
    env: env(),
    cwd: root,
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (/batch \d+\/100000/.test(stderr) && !child.killed) child.kill('SIGINT');
  });
  // Bounded: if no progress line comes (or Ctrl-C is ignored), kill it rather than sweep 100,000 batches.
  const guard = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(guard);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted; stopping after the current batch/);
  assert.match(stderr, /lr-find stopped after \d+ batches: no suggestion and no plot; nothing was written/);
  assert.ok(!fs.existsSync(path.join(plots, 'lr-find.png')));
});
