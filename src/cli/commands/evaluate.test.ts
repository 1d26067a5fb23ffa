import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyRun } from '../../testing/tinyRun.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], { encoding: 'utf8', env: { ...process.env, TLKIT_BACKEND: 'cpu' } });

let data = '';
let run = '';
before(async () => {
  ({ data, run } = await makeTinyRun());
});

test('evaluate --json prints exactly the contract shape; text mode has precision/recall', () => {
  const r = cli('evaluate', '--model', run, '--data', data, '--json');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const e = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(e), ['accuracy', 'loss', 'n', 'classes', 'confusion']);
  assert.equal(e.n, 16);
  assert.deepEqual(e.classes, ['cats', 'dogs']);
  assert.equal(e.confusion.flat().reduce((a: number, b: number) => a + b, 0), 16);
  assert.equal(e.accuracy, (e.confusion[0][0] + e.confusion[1][1]) / 16);
  assert.ok(e.accuracy >= 0.75, `accuracy ${e.accuracy} on an easy red/blue task`);
  assert.ok(e.loss > 0 && Number.isFinite(e.loss));
  const text = cli('evaluate', '--model', run, '--data', data);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /accuracy: \d\.\d{4}/);
  assert.match(text.stdout, /precision\s+recall/);
  assert.ok(fs.existsSync(path.join(run, 'evaluation.json')));
});

test('predict --json: one object a line with file, label, probability', () => {
  const dir = path.join(data, 'test', 'dogs');
  const one = path.join(data, 'test', 'cats', 'cats.0.png');
  const r = cli('predict', '--model', run, one, dir, '--json');
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 1 + 8);
  for (const row of rows) {
    assert.deepEqual(Object.keys(row), ['file', 'label', 'probability']);
    assert.ok(['cats', 'dogs'].includes(row.label));
    assert.ok(row.probability >= 0.5 && row.probability <= 1);
  }
  assert.equal(rows[0].file, one);
});

test('bad input exits 2 with a clear message', () => {
  const missing = cli('evaluate', '--model', path.join(run, 'nope'), '--data', data, '--json');
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /does not exist/);

  const incomplete = path.join(path.dirname(run), 'incomplete');
  fs.mkdirSync(incomplete, { recursive: true });
  fs.copyFileSync(path.join(run, 'meta.json'), path.join(incomplete, 'meta.json'));
  const inc = cli('predict', '--model', incomplete, data);
  assert.equal(inc.status, 2);
  assert.match(inc.stderr, /incomplete tlkit run dir/);

  const other = path.join(path.dirname(run), 'other');
  fs.mkdirSync(path.join(other, 'birds'), { recursive: true });
  fs.mkdirSync(path.join(other, 'cats'), { recursive: true });
  fs.copyFileSync(path.join(data, 'test', 'cats', 'cats.0.png'), path.join(other, 'birds', 'b.png'));
  fs.copyFileSync(path.join(data, 'test', 'cats', 'cats.0.png'), path.join(other, 'cats', 'c.png'));
  const cls = cli('evaluate', '--model', run, '--data', other);
  assert.equal(cls.status, 2);
  assert.match(cls.stderr, /trained on classes \[cats, dogs\].*\[birds, cats\]/);

  const bad = path.join(path.dirname(run), 'broken.jpg');
  fs.writeFileSync(bad, 'not really a jpeg');
  const dec = cli('predict', '--model', run, bad, '--json');
  assert.equal(dec.status, 2);
  assert.match(dec.stderr, /broken\.jpg/);
  assert.doesNotMatch(dec.stderr, /\n\s+at /, 'no stack trace');
});
