import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../../tfjs/backend.js';
import { makeTinyBase, makeTinyDataset } from '../../testing/tinyRun.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('train --json: one NDJSON event an epoch on stdout (metrics, elapsed, checkpoint saved), then an end event; human progress on stderr', async () => {
  await initBackend('cpu');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const data = await makeTinyDataset(path.join(root, 'data'));
  const base = await makeTinyBase(path.join(root, 'base'));
  const out = path.join(root, 'run');
  const r = spawnSync(
    process.execPath,
    [
      path.join(repo, 'bin/tlkit.js'),
      'train',
      '--data',
      data,
      '--base',
      base,
      '--out',
      out,
      '--epochs',
      '3',
      '--batch-size',
      '8',
      '--head-units',
      '8',
      '--learning-rate',
      '0.01',
      '--cache-dir',
      path.join(root, 'cache'),
      '--json',
    ],
    { encoding: 'utf8', env: { ...process.env, TLKIT_BACKEND: 'cpu' } },
  );
  assert.equal(r.status, 0, r.stderr);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(events.length, 4, r.stdout);
  events.slice(0, 3).forEach((e, i) => {
    assert.deepEqual(Object.keys(e), ['event', 'epoch', 'epochs', 'metrics', 'elapsed', 'checkpointSaved']);
    assert.equal(e.event, 'epoch');
    assert.equal(e.epoch, i + 1);
    assert.equal(e.epochs, 3);
    for (const k of ['loss', 'accuracy', 'val_loss', 'val_accuracy']) assert.equal(typeof e.metrics[k], 'number', k);
    assert.ok(e.elapsed > 0);
  });
  assert.equal(events[0].checkpointSaved, true, 'the first epoch is always the best so far');
  const end = events[3];
  assert.equal(end.event, 'end');
  const meta = JSON.parse(fs.readFileSync(path.join(out, 'meta.json'), 'utf8'));
  assert.equal(end.bestEpoch, meta.bestEpoch + 1);
  const lastSaved = events
    .slice(0, 3)
    .filter((e) => e.checkpointSaved)
    .at(-1);
  assert.equal(lastSaved.epoch, end.bestEpoch);
  // A checkpoint is saved exactly when val_loss improves (Keras ModelCheckpoint, save_best_only).
  let best = Infinity;
  for (const e of events.slice(0, 3)) {
    assert.equal(e.checkpointSaved, e.metrics.val_loss < best, `epoch ${e.epoch}`);
    best = Math.min(best, e.metrics.val_loss);
  }
  assert.match(r.stderr, /Epoch 1\/3 - loss \d\.\d{4}/);
  assert.match(r.stderr, /Best epoch \d: val_loss/);
});
