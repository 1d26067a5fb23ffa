import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyBase, makeTinyDataset, makeTinyRun } from '../../testing/tinyRun.js';

// --precision across the commands: train at int8 records it (meta.json, the run's
// calibration), evaluate/predict follow the run's precision, bad values are refused.

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });

let root = '';
let data = '';
let base = '';
let fp32Run = '';
before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-precision-'));
  data = await makeTinyDataset(path.join(root, 'data'));
  base = await makeTinyBase(path.join(root, 'base'));
  ({ run: fp32Run } = await makeTinyRun());
});

test('train --precision int8: the calibration error is printed, meta.json and the report say int8, evaluate and predict run the int8 base', () => {
  const run = path.join(root, 'run-int8');
  const t = cli(
    'train',
    '--data',
    data,
    '--base',
    base,
    '--out',
    run,
    '--epochs',
    '4',
    '--batch-size',
    '8',
    '--head-units',
    '8',
    '--learning-rate',
    '0.01',
    '--cache-dir',
    path.join(root, 'cache'),
    '--precision',
    'int8',
    '--quiet',
  );
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stderr, /int8 vs fp32 features relative L2 \d\.\d{4}, cosine \d\.\d{4}/);
  const meta = JSON.parse(fs.readFileSync(path.join(run, 'meta.json'), 'utf8'));
  assert.equal(meta.precision, 'int8');
  const calibration = JSON.parse(fs.readFileSync(path.join(run, 'int8-calibration.json'), 'utf8'));
  assert.equal(calibration.images, 32);
  assert.ok(calibration.error.cosine > 0.99, JSON.stringify(calibration.error));
  // The int8 features sit in their own folder under the base's cache folder, with their calibration.
  const [baseFolder] = fs.readdirSync(path.join(root, 'cache'));
  assert.ok(fs.existsSync(path.join(root, 'cache', baseFolder, 'int8', 'calibration-int8.json')));

  const e = cli('evaluate', '--model', run, '--data', data);
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stdout, /images\/s on ONNX Runtime, int8\)/);
  // int8 reaches 16/16, loss 0.0102 (measured, as fp32's 0.0101): one miss, or 3x the loss, is a regression.
  assert.ok(Number(/accuracy: (\d\.\d{4})/.exec(e.stdout)![1]) >= 15 / 16, e.stdout);
  assert.ok(Number(/loss: +(\d\.\d{4})/.exec(e.stdout)![1]) <= 0.03, e.stdout);
  const r = cli('report', run);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    fs.readFileSync(path.join(run, 'report.html'), 'utf8'),
    /int8 \(QDQ on ONNX Runtime; percentile 99\.999 calibration on 32 training images/,
  );

  // predict: the int8 base gives probabilities near, but not equal to, the fp32 base's.
  const photo = path.join(data, 'test', 'dogs', 'dogs.0.png');
  const p8 = cli('predict', '--model', run, photo, '--json');
  const p32 = cli('predict', '--model', run, photo, '--json', '--precision', 'fp32');
  assert.equal(p8.status, 0, p8.stderr);
  assert.equal(p32.status, 0, p32.stderr);
  const [a, b] = [JSON.parse(p8.stdout).probabilities[0].probability, JSON.parse(p32.stdout).probabilities[0].probability];
  assert.notEqual(a, b);
  assert.ok(Math.abs(a - b) < 0.05, `${a} vs ${b}`);
});

test('--precision int8 on a run trained at fp32 says what to do; bad --precision values are refused by every command', () => {
  const photo = path.join(data, 'test', 'dogs', 'dogs.0.png');
  const p = cli('predict', '--model', fp32Run, photo, '--precision', 'int8');
  assert.equal(p.status, 2);
  assert.match(p.stderr, /int8-calibration\.json does not exist: .* was trained at fp32\. Train with --precision int8/);
  const bad = [
    cli('train', '--data', data, '--base', base, '--out', path.join(root, 'bad'), '--precision', 'int4'),
    cli('extract', '--data', data, '--base', base, '--out', path.join(root, 'bad-features'), '--precision', 'int4'),
    cli('evaluate', '--model', fp32Run, '--data', data, '--precision', 'int4'),
    cli('predict', '--model', fp32Run, photo, '--precision', 'int4'),
  ];
  for (const r of bad) {
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--precision must be (fp32 or int8|one of fp32, int8), got 'int4'/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});
