import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('tlkit demo: generated data, the real nsfwjs MobileNetV2, train, evaluate, report', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  // A small version of the README's command (the full one uses 100 images a class and 10 epochs).
  const r = spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), 'demo', '--out', out, '--images', '12', '--epochs', '2'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^accuracy: \d\.\d{4}$/m);
  assert.match(r.stdout, /Report: .*report\.html/);
  const run = path.join(out, 'run');
  for (const f of [
    'model/model.json',
    'meta.json',
    'history.json',
    'log.csv',
    'accuracy.png',
    'loss.svg',
    'report.html',
    'evaluation.json',
  ])
    assert.ok(fs.existsSync(path.join(run, f)), f);
  const meta = JSON.parse(fs.readFileSync(path.join(run, 'meta.json'), 'utf8'));
  assert.deepEqual(meta.classes, ['circles', 'squares']);
  assert.equal(meta.baseFamily, 'mobilenet_v2');
  assert.deepEqual(meta.imageSize, [224, 224]);
  assert.equal(fs.readdirSync(path.join(out, 'data', 'train', 'circles')).length, 12);
});
