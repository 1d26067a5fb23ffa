import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyRun } from '../../testing/tinyRun.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });

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
  const contract = ['accuracy', 'loss', 'n', 'classes', 'confusion', 'precision', 'recall', 'f1', 'support', 'ece'];
  const calibrated = e.temperature !== undefined ? ['temperature', 'eceUncalibrated'] : [];
  assert.deepEqual(Object.keys(e), [...contract, ...calibrated]);
  assert.ok(e.ece >= 0 && e.ece <= 1, `ece ${e.ece}`);
  assert.deepEqual(e.support, [8, 8]);
  for (let c = 0; c < 2; c++) {
    assert.equal(e.recall[c], e.confusion[c][c] / 8);
    assert.equal(e.precision[c], e.confusion[c][c] / (e.confusion[0][c] + e.confusion[1][c]));
    assert.ok(Math.abs(e.f1[c] - (2 * e.precision[c] * e.recall[c]) / (e.precision[c] + e.recall[c])) < 1e-12);
  }
  assert.equal(e.n, 16);
  assert.deepEqual(e.classes, ['cats', 'dogs']);
  assert.equal(
    e.confusion.flat().reduce((a: number, b: number) => a + b, 0),
    16,
  );
  assert.equal(e.accuracy, (e.confusion[0][0] + e.confusion[1][1]) / 16);
  // The tiny run reaches 16/16, loss 0.0101 (measured): one miss, or 3x the loss, is a regression.
  assert.ok(e.accuracy >= 15 / 16, `accuracy ${e.accuracy} on an easy red/blue task`);
  assert.ok(e.loss > 0 && e.loss <= 0.03, `loss ${e.loss}`);
  const text = cli('evaluate', '--model', run, '--data', data);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /accuracy: \d\.\d{4}/);
  assert.match(text.stdout, /precision\s+recall\s+f1\s+support/);
  assert.match(text.stdout, /\ndogs\s+\d\.\d{4}\s+\d\.\d{4}\s+\d\.\d{4}\s+8\n?/);
  assert.ok(fs.existsSync(path.join(run, 'evaluation.json')));
});

test('predict --json: one object a line with file, label, probability, then every class probability', () => {
  const dir = path.join(data, 'test', 'dogs');
  const one = path.join(data, 'test', 'cats', 'cats.0.png');
  const r = cli('predict', '--model', run, one, dir, '--json');
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(rows.length, 1 + 8);
  for (const row of rows) {
    assert.deepEqual(Object.keys(row), ['file', 'label', 'probability', 'probabilities']);
    assert.ok(['cats', 'dogs'].includes(row.label));
    assert.ok(row.probability >= 0.5 && row.probability <= 1);
    assert.equal(row.probabilities.length, 2);
    assert.deepEqual(row.probabilities[0], { label: row.label, probability: row.probability });
    assert.ok(row.probabilities[0].probability >= row.probabilities[1].probability);
    assert.ok(Math.abs(row.probabilities[0].probability + row.probabilities[1].probability - 1) < 1e-6);
  }
  assert.equal(rows[0].file, one);
});

test('predict --format json|ndjson|csv|text, --top-k, --threshold agree with each other and with the Classifier', async () => {
  const dir = path.join(data, 'test');
  const nd = cli('predict', '--model', run, dir, '--format', 'ndjson');
  assert.equal(nd.status, 0, nd.stderr);
  const rows = nd.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(rows.length, 16);

  const js = cli('predict', '--model', run, dir, '--format', 'json');
  assert.equal(js.status, 0, js.stderr);
  assert.deepEqual(JSON.parse(js.stdout), rows);

  const csv = cli('predict', '--model', run, dir, '--format', 'csv');
  assert.equal(csv.status, 0, csv.stderr);
  const lines = csv.stdout.trim().split('\n');
  assert.equal(lines[0], 'file,label,probability,cats,dogs');
  assert.equal(lines.length, 17);
  const first = lines[1].split(',');
  assert.equal(first[0], rows[0].file);
  assert.equal(first[1], rows[0].label);
  const pCats = rows[0].probabilities.find((p: { label: string }) => p.label === 'cats').probability;
  assert.equal(Number(first[3]), pCats);

  const top1 = cli('predict', '--model', run, dir, '--format', 'csv', '--top-k', '1');
  assert.equal(top1.status, 0, top1.stderr);
  assert.equal(top1.stdout.split('\n')[0], 'file,label,probability,label_1,probability_1');
  const topNd = cli('predict', '--model', run, dir, '--json', '--top-k', '1');
  for (const r of topNd.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l)))
    assert.equal(r.probabilities.length, 1);

  const text = cli('predict', '--model', run, rows[0].file);
  assert.equal(text.status, 0, text.stderr);
  const cols = text.stdout.trim().split('\t');
  assert.equal(cols.length, 5, 'file, label, probability, then both classes');
  assert.equal(cols[1], rows[0].label);
  assert.match(cols[3], /^(cats|dogs) \d\.\d{4}$/);

  // Threshold 0: every image is the positive class (dogs); threshold 1 only where P(dogs) is exactly 1.
  const all = cli('predict', '--model', run, dir, '--json', '--threshold', '0');
  assert.equal(all.status, 0, all.stderr);
  const thr = all.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(thr.every((r) => r.label === 'dogs'));
  thr.forEach((r, i) => assert.deepEqual(r.probabilities, rows[i].probabilities));

  // The library's Classifier gives the same numbers in memory.
  const { loadClassifier } = await import('../../inference/classifier.js');
  const clf = await loadClassifier(run);
  try {
    const [p] = await clf.predict(rows[0].file);
    assert.equal(p.label, rows[0].label);
    for (const c of p.probabilities) {
      const other = rows[0].probabilities.find((x: { label: string }) => x.label === c.label).probability;
      assert.ok(Math.abs(c.probability - other) < 1e-6);
    }
    const [t] = await clf.predict(rows[0].file, { threshold: 0 });
    assert.equal(t.label, 'dogs');
    await assert.rejects(clf.predict(rows[0].file, { threshold: 2 }), /threshold must be a probability from 0 to 1/);
  } finally {
    await clf.dispose();
  }

  const badFormat = cli('predict', '--model', run, dir, '--format', 'xml');
  assert.equal(badFormat.status, 2);
  assert.match(badFormat.stderr, /--format must be one of text, json, ndjson, csv, got 'xml'/);
  const badK = cli('predict', '--model', run, dir, '--top-k', '0');
  assert.equal(badK.status, 2);
  assert.match(badK.stderr, /--top-k must be a whole number >= 1, got '0'/);
  const badT = cli('predict', '--model', run, dir, '--threshold', '1.2');
  assert.equal(badT.status, 2);
  assert.match(badT.stderr, /--threshold must be a number in \[0, 1\], got '1.2'/);
  const both = cli('predict', '--model', run, dir, '--json', '--format', 'csv');
  assert.equal(both.status, 2);
  assert.match(both.stderr, /--json means --format ndjson/);
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

test('evaluate --tta 2 --json reports the TTA figures and the plain ones; the text says both; predict --tta 2 prints probabilities that sum to 1', () => {
  const plain = JSON.parse(cli('evaluate', '--model', run, '--data', data, '--json').stdout);
  const r = cli('evaluate', '--model', run, '--data', data, '--json', '--tta', '2');
  assert.equal(r.status, 0, r.stderr);
  const e = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(e.tta), ['views', 'beta', 'seed', 'augmentation', 'plain']);
  assert.equal(e.tta.views, 2);
  assert.equal(e.tta.beta, 0.25);
  // A features run has no augmentation of its own: horizontal flips and the book's zoom.
  assert.deepEqual(e.tta.augmentation, { flip: 'horizontal', rotation: 0, zoom: 0.2 });
  assert.equal(e.tta.plain.accuracy, plain.accuracy);
  assert.ok(Math.abs(e.tta.plain.loss - plain.loss) < 1e-5);
  assert.equal(e.accuracy, (e.confusion[0][0] + e.confusion[1][1]) / 16);
  assert.notEqual(e.loss, plain.loss, 'the TTA figures are the blend, not the plain prediction');
  // A bare --tta is fastai's 4 views.
  const text = cli('evaluate', '--model', run, '--data', data, '--tta');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /Test-time augmentation: each image and 4 views of it \(horizontal flips, zoom 0\.2, seed 0\)/);
  assert.match(text.stdout, /accuracy: \d\.\d{4} with TTA, \d\.\d{4} plain \([+-]\d\.\d{4}\)/);
  assert.match(text.stdout, /loss: +\d\.\d{4} with TTA, \d\.\d{4} plain/);

  const dir = path.join(data, 'test');
  const p = cli('predict', '--model', run, dir, '--tta', '2', '--json');
  assert.equal(p.status, 0, p.stderr);
  const rows = p.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const plainRows = cli('predict', '--model', run, dir, '--json')
    .stdout.trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(rows.length, 16);
  for (const row of rows) {
    const sum = row.probabilities.reduce((a: number, c: { probability: number }) => a + c.probability, 0);
    assert.ok(Math.abs(sum - 1) < 1e-6, `${row.file}: probabilities sum to ${sum}`);
  }
  assert.ok(rows.some((row, i) => row.probability !== plainRows[i].probability));
  // --tta 0 is the plain prediction exactly.
  assert.equal(
    cli('predict', '--model', run, dir, '--tta', '0', '--json').stdout,
    plainRows.map((row) => `${JSON.stringify(row)}\n`).join(''),
  );
});

test('--tta -1, --tta abc, and an image taken as --tta: exit 2 with the value and the fix', () => {
  const image = path.join(data, 'test', 'cats', 'cats.0.png');
  for (const cmd of [
    ['evaluate', '--model', run, '--data', data],
    ['predict', '--model', run, image],
  ]) {
    for (const value of ['-1', 'abc']) {
      const r = cli(...cmd, '--tta', value);
      assert.equal(r.status, 2, `${cmd[0]} --tta ${value}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`--tta must be a whole number >= 0, got '${value}'\\. Pass e\\.g\\. --tta 4`));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  }
  const took = cli('predict', '--model', run, '--tta', image, path.join(data, 'test', 'dogs'));
  assert.equal(took.status, 2);
  assert.match(
    took.stderr,
    /--tta takes an optional number of views and took '.*cats\.0\.png' as it\. Write --tta 4 .*or put --tta after the images/,
  );
});
