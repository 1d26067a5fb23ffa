import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { catsDogsSubset, SHARED_MOBILENET } from '../testing/catsDogsSubset.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { isUserError } from '../errors.js';
import { lrFind } from './lrFind.js';
import { train } from './train.js';

let root = '';
let photos = '';
let cacheDir = '';

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-lrfind-'));
  // 100 training and 50 validation photos a class: the real thing, small enough for seconds of extraction.
  photos = catsDogsSubset(path.join(root, 'photos'), { train: 100, validation: 50 });
  cacheDir = path.join(root, 'cache');
});

/** Every file under `dir` (relative path -> sha256), to prove a folder was left as it was. */
function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of fs.readdirSync(dir, { recursive: true }).map(String).sort()) {
    const file = path.join(dir, rel);
    if (fs.statSync(file).isFile()) out[rel] = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  }
  return out;
}

const quiet = { log: () => {} };

// The head swept here is fastai's kind (average pooling, Adam). The book's head (Flatten of
// 7x7x1024 features into a linear Dense(256), RMSprop) has its valley near 2e-6 on these
// photos, on both engines: RMSprop moves each of its 12.8M weights by about the rate a step,
// so the training loss blows up from about 1e-4 (docs/training.md).
const HEAD = { pooling: 'avg', optimizer: 'adam' } as const;

test('the head of the shared MobileNet on real photos: valley between 1e-4 and 1e-2, the sweep stopped by divergence, plots written, nothing left in memory', async () => {
  const plotDir = path.join(root, 'plots');
  // Extraction first (cached), so that the tensor count below compares the sweep alone.
  await lrFind({ data: photos, base: SHARED_MOBILENET, cacheDir, steps: 10, verbose: 0, ...HEAD }, quiet);
  const tensors = tf.memory().numTensors;
  const lines: string[] = [];
  const r = await lrFind({ data: photos, base: SHARED_MOBILENET, cacheDir, plotDir, ...HEAD }, { log: (l) => lines.push(l) });
  assert.equal(tf.memory().numTensors, tensors, 'the swept model is disposed');
  assert.equal(r.what, 'The head');
  assert.ok(r.suggestions, lines.join('\n'));
  const { valley, steep, minimum } = r.suggestions;
  assert.ok(valley.rate > 1e-4 && valley.rate < 1e-2, `valley ${valley.rate}`);
  assert.ok([steep.rate, minimum.rate].every((x) => x > 1e-7 && x < 10));
  // The rate reached the optimizer: at rates near 1 RMSprop blows the loss up, which ends the sweep early.
  assert.equal(r.ended, 'diverged', `${r.rates.length} batches, last loss ${r.losses.at(-1)}`);
  assert.ok(r.rates.length < 100);
  assert.equal(r.rates[0], 1e-7);
  for (let i = 1; i < r.rates.length; i++) assert.ok(Math.abs(r.rates[i] / r.rates[i - 1] / 10 ** 0.08 - 1) < 1e-9);
  assert.ok(
    lines.some((l) => /^ {2}batch \d+\/100: learning rate /.test(l)),
    lines.join('\n'),
  );
  assert.ok(r.plot);
  assert.equal((await sharp(r.plot.png).metadata()).format, 'png');
  assert.equal((await sharp(r.plot.svg).metadata()).format, 'svg');
  assert.match(fs.readFileSync(r.plot.svg, 'utf8'), /data-label="valley /);
});

test('fine-tuning from a run: the unfrozen layers + head sweep, and the run given as from and as out stays byte for byte the same', async () => {
  const run = path.join(root, 'run');
  await train({ data: photos, base: SHARED_MOBILENET, out: run, epochs: 1, cacheDir, verbose: 0, calibration: 'none' }, quiet);
  const before = hashes(run);
  assert.ok(Object.keys(before).includes('model/model.json'));
  const r = await lrFind(
    { data: photos, base: SHARED_MOBILENET, mode: 'finetune', from: run, out: run, cacheDir, steps: 12, verbose: 0 },
    quiet,
  );
  assert.deepEqual(hashes(run), before);
  assert.match(r.what, /^Fine-tuning \(conv_dw_12, conv_pw_12, .* \+ head\)$/);
  assert.equal(r.rates.length, r.losses.length);
  assert.ok(r.rates.length >= 2 && r.rates.length <= 12);
  assert.equal(r.plot, undefined, 'no plotDir, no plot');
});

test('the swept copy is disposed: a sweep leaves no tensor behind (head and fine-tuning, both engines)', async () => {
  const data = await makeTinyDataset(path.join(root, 'tiny-memory'), { train: 16, validation: 4 });
  const base = await makeTinyBase(path.join(root, 'tiny-memory-base'));
  const run = path.join(root, 'tiny-memory-run');
  const common = { data, base, cacheDir, batchSize: 4, headUnits: 4, verbose: 0 } as const;
  await train({ ...common, out: run, epochs: 1 }, quiet);
  const sweeps = [
    { engine: 'ort' },
    { engine: 'tfjs' },
    { mode: 'finetune', from: run, unfreeze: 2, engine: 'ort' },
    { mode: 'finetune', from: run, unfreeze: 2, engine: 'tfjs' },
  ] as const;
  // Each sweep once to fill the feature cache (extracting keeps the base's weights alive, outside the sweep), then counted.
  for (const sweep of sweeps) await lrFind({ ...common, ...sweep, steps: 10 }, quiet);
  for (const sweep of sweeps) {
    const tensors = tf.memory().numTensors;
    const r = await lrFind({ ...common, ...sweep, steps: 10 }, quiet);
    assert.ok(r.rates.length > 0);
    assert.equal(r.what, 'from' in sweep ? 'Fine-tuning (conv1 + head)' : 'The head');
    assert.equal(tf.memory().numTensors, tensors, JSON.stringify(sweep));
  }
  // Augment mode sweeps the head on augmented images through the frozen base (whose ONNX
  // export keeps the base's weights alive, as in train(): not counted here).
  const augmented = await lrFind({ ...common, mode: 'augment', steps: 10 }, quiet);
  assert.equal(augmented.what, 'The head');
  assert.notEqual(augmented.ended, 'interrupted');
  assert.ok(augmented.rates.length >= 2, String(augmented.rates.length));
});

test('bad input is refused before any work, naming the option', async () => {
  const data = await makeTinyDataset(path.join(root, 'tiny'), { train: 8, validation: 4 });
  const base = await makeTinyBase(path.join(root, 'tiny-base'));
  const refused = async (input: Parameters<typeof lrFind>[0], pattern: RegExp, naming: 'api' | 'cli' = 'api') => {
    await assert.rejects(lrFind({ cacheDir, ...input }, { ...quiet, naming }), (e: Error) => {
      assert.ok(isUserError(e), e.stack);
      assert.match(e.message, pattern);
      return true;
    });
  };
  await refused({ data: path.join(root, 'nowhere'), base }, /nowhere/);
  await refused({ data, base, start: 1, end: 1e-3 }, /^start \(1\) must be below end \(0\.001\)/);
  await refused({ data, base, start: 10, end: 10 }, /^--start \(10\) must be below --end \(10\)/, 'cli');
  await refused({ data, base, steps: 5 }, /^steps must be a whole number from 10 to 100000, got 5/);
  await refused({ data, base, start: 0 }, /^start must be a number > 0, got 0/);
  await refused({ data, base, resume: true }, /^resume does not apply to lr-find/);
  await refused({ data, base, mode: 'finetune', from: path.join(root, 'no-run') }, /^from .*no-run: not a finished tlkit run/);
  await refused({ data, base, epoch: 3 } as unknown as Parameters<typeof lrFind>[0], /There is no training option 'epoch'/);
});

test('an interrupted sweep ends cleanly: interrupted, no suggestion, no plot', async () => {
  const data = await makeTinyDataset(path.join(root, 'tiny-stop'), { train: 16, validation: 4 });
  const base = await makeTinyBase(path.join(root, 'tiny-stop-base'));
  const plotDir = path.join(root, 'stopped-plots');
  const controller = new AbortController();
  const r = await lrFind(
    { data, base, cacheDir, plotDir, batchSize: 4, headUnits: 4, signal: controller.signal },
    {
      // Ctrl-C during the first batch (its progress line): the sweep stops after it.
      log: (l) => {
        if (/^ {2}batch 1\/100:/.test(l)) controller.abort();
      },
    },
  );
  assert.equal(r.ended, 'interrupted');
  assert.equal(r.rates.length, 1);
  assert.equal(r.suggestions, undefined);
  assert.equal(r.plot, undefined);
  assert.ok(!fs.existsSync(path.join(plotDir, 'lr-find.png')));

  // Stopped before the sweep (during extraction into a new cache): nothing swept either.
  const early = new AbortController();
  early.abort();
  const e = await lrFind({ data, base, cacheDir: path.join(root, 'cache-early'), signal: early.signal }, quiet);
  assert.equal(e.ended, 'interrupted');
  assert.deepEqual(e.rates, []);
});
