import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXACT_CLASSES, exactProbabilities, makeExactMultiLabelRun, type ExactMultiLabelRun } from '../../testing/exactMultiLabelRun.js';

// `tlkit predict` and `tlkit merge` on a multi-label run with closed-form probabilities
// (testing/exactMultiLabelRun.ts): every format gives the labels at or above their
// thresholds (blue 0.3, green 0.7, red 0.5) and every class's probability.

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });

let x: ExactMultiLabelRun;
let files: string[] = [];
before(async () => {
  x = await makeExactMultiLabelRun();
  files = x.images.map((im) => path.join(x.data, im.file));
});

// Worked by hand from the thresholds: img3's red sits at exactly 0.5 (given), its blue at 0.27 (not);
// img5's blue at exactly 0.5 >= 0.3 (given).
const PREDICTED = [['green', 'red'], ['red'], ['blue'], ['green', 'red'], ['blue', 'red'], ['blue', 'green']];
const close = (a: number, b: number) => Math.abs(a - b) < 1e-6;

test('predict --json / --format json: {file, labels, probabilities: {class: p}} per image, labels at or above their thresholds', () => {
  const nd = cli('predict', '--model', x.run, ...files, '--json');
  assert.equal(nd.status, 0, nd.stderr);
  const rows = nd.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(rows.length, 6);
  rows.forEach((r, i) => {
    assert.deepEqual(Object.keys(r), ['file', 'labels', 'probabilities']);
    assert.equal(r.file, files[i]);
    assert.deepEqual(r.labels, PREDICTED[i]);
    assert.deepEqual(Object.keys(r.probabilities), EXACT_CLASSES, 'every class, in class order');
    const want = exactProbabilities(x.images[i].rgb);
    EXACT_CLASSES.forEach((c, j) => assert.ok(close(r.probabilities[c], want[j]), `${r.file} ${c}`));
  });
  const js = cli('predict', '--model', x.run, ...files, '--format', 'json');
  assert.equal(js.status, 0, js.stderr);
  assert.deepEqual(JSON.parse(js.stdout), rows);

  // --threshold replaces every class's threshold: at 0.6, img3 loses red (0.5), img5 loses blue (0.5).
  const t = cli('predict', '--model', x.run, files[3], files[5], '--json', '--threshold', '0.6');
  assert.equal(t.status, 0, t.stderr);
  assert.deepEqual(
    t.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).labels),
    [['green'], ['green']],
  );
  // --top-k keeps the k most probable probabilities; the labels stay.
  const top = cli('predict', '--model', x.run, files[0], '--json', '--top-k', '1');
  assert.equal(top.status, 0, top.stderr);
  const row = JSON.parse(top.stdout);
  assert.deepEqual(Object.keys(row.probabilities), ['red']);
  assert.deepEqual(row.labels, ['green', 'red']);
});

test('predict --format csv and text: the label list joined by the training --label-delim, then the probabilities', () => {
  const csv = cli('predict', '--model', x.run, ...files, '--format', 'csv');
  assert.equal(csv.status, 0, csv.stderr);
  const lines = csv.stdout.trim().split('\n');
  assert.equal(lines[0], 'file,labels,blue,green,red');
  assert.equal(lines.length, 7);
  lines.slice(1).forEach((line, i) => {
    const cols = line.split(',');
    assert.equal(cols[0], files[i]);
    // The run was trained with --label-delim ' ', so its lists are joined by a space.
    assert.equal(cols[1], PREDICTED[i].join(' '));
    const want = exactProbabilities(x.images[i].rgb);
    cols.slice(2).forEach((p, j) => assert.ok(close(Number(p), want[j]), `${cols[0]} ${EXACT_CLASSES[j]}`));
  });
  const topCsv = cli('predict', '--model', x.run, files[4], '--format', 'csv', '--top-k', '2');
  assert.equal(topCsv.status, 0, topCsv.stderr);
  const [head, one] = topCsv.stdout.trim().split('\n');
  assert.equal(head, 'file,labels,label_1,probability_1,label_2,probability_2');
  const c = one.split(',');
  assert.deepEqual([c[1], c[2], c[4]], ['blue red', 'blue', 'red']);

  const text = cli('predict', '--model', x.run, files[5]);
  assert.equal(text.status, 0, text.stderr);
  // img5: blue 0.5, green s(1) = 0.7311, red s(-1) = 0.2689; given: blue and green.
  assert.equal(text.stdout, `${files[5]}\tblue green\tgreen 0.7311\tblue 0.5000\tred 0.2689\n`);
  const none = cli('predict', '--model', x.run, files[2], '--threshold', '0.9');
  assert.equal(none.stdout, `${files[2]}\t\tblue 0.7311\tgreen 0.0067\tred 0.0067\n`, 'no label above 0.9: an empty field');
});

test('predict --shard on a multi-label run merges into the csv one unsharded predict prints', () => {
  const out = path.join(x.root, 'shards');
  const want = cli('predict', '--model', x.run, x.data, '--format', 'csv');
  assert.equal(want.status, 0, want.stderr);
  for (let k = 0; k < 2; k++) {
    const r = cli('predict', '--model', x.run, x.data, '--format', 'csv', '--shard', `${k}/2`, '--out', out);
    assert.equal(r.status, 0, r.stderr);
  }
  const m = cli('merge', out);
  assert.equal(m.status, 0, m.stderr);
  assert.equal(fs.readFileSync(path.join(out, 'predictions.csv'), 'utf8'), want.stdout);
  assert.match(want.stdout, /^file,labels,blue,green,red\n/);
});

test('predict --threshold out of range on a multi-label run exits 2', () => {
  const r = cli('predict', '--model', x.run, files[0], '--threshold', '1.5');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--threshold must be a number in \[0, 1\], got '1.5'/);
});
