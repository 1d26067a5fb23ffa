import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeExactMultiLabelRun, type ExactMultiLabelRun } from '../../testing/exactMultiLabelRun.js';

// `tlkit evaluate` on a multi-label run with closed-form probabilities (testing/exactMultiLabelRun.ts).
// The figures, worked by hand in src/inference/multiLabelRun.test.ts: per class (blue, green, red)
// precision 2/3, 1, 3/4; recall 2/3, 1, 1; F1 2/3, 1, 6/7; AP 13/15, 1, 1; support 3 each;
// mAP 43/45, micro-F1 16/19, macro-F1 53/63, exact match 4/6, Hamming loss 3/18.

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });

let x: ExactMultiLabelRun;
before(async () => {
  x = await makeExactMultiLabelRun();
});

test('evaluate --labels prints the per-class table with AP and threshold, mAP, micro/macro F1, exact match and Hamming loss', () => {
  const r = cli('evaluate', '--model', x.run, '--data', x.data, '--labels', 'labels.csv');
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /^Evaluated 6 images from /);
  assert.match(out, /\nmAP: +0\.9556\n/);
  assert.match(out, /\nmicro F1: +0\.8421\n/);
  assert.match(out, /\nmacro F1: +0\.8413\n/);
  assert.match(out, /\nexact match: +0\.6667\n/);
  assert.match(out, /\nHamming loss: +0\.1667\n/);
  assert.match(out, /\nloss: +\d\.\d{4} \(binary cross-entropy\)\n/);
  assert.match(out, /\nclass +precision +recall +f1 +AP +support +threshold\n/);
  assert.match(out, /\nblue +0\.6667 +0\.6667 +0\.6667 +0\.8667 +3 +0\.3000\n/);
  assert.match(out, /\ngreen +1\.0000 +1\.0000 +1\.0000 +1\.0000 +3 +0\.7000\n/);
  assert.match(out, /\nred +0\.7500 +1\.0000 +0\.8571 +1\.0000 +3 +0\.5000\n?$/);
  assert.doesNotMatch(out, /Confusion matrix/);
  const saved = JSON.parse(fs.readFileSync(path.join(x.run, 'evaluation.json'), 'utf8'));
  assert.ok(Math.abs(saved.multiLabel.meanAveragePrecision - 43 / 45) < 1e-12);
  assert.deepEqual(saved.files[3].predicted, ['green', 'red']);
  assert.deepEqual(saved.files[3].labels, ['blue', 'green']);
});

test('evaluate --json on a multi-label run prints the whole multi-label record', () => {
  const r = cli('evaluate', '--model', x.run, '--data', x.data, '--labels', 'labels.csv', '--label-delim', ' ', '--json');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const e = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(e), ['accuracy', 'loss', 'n', 'classes', 'precision', 'recall', 'f1', 'support', 'multiLabel']);
  assert.deepEqual(Object.keys(e.multiLabel), [
    'perClass',
    'meanAveragePrecision',
    'microF1',
    'macroF1',
    'exactMatch',
    'hammingLoss',
    'thresholds',
  ]);
  assert.equal(e.n, 6);
  assert.equal(e.accuracy, 4 / 6);
  assert.ok(Math.abs(e.multiLabel.microF1 - 16 / 19) < 1e-12);
  assert.ok(Math.abs(e.multiLabel.macroF1 - 53 / 63) < 1e-12);
  assert.equal(e.multiLabel.hammingLoss, 3 / 18);
  assert.deepEqual(e.multiLabel.thresholds, [0.3, 0.7, 0.5]);
  const ap = [13 / 15, 1, 1];
  e.multiLabel.perClass.forEach((c: { name: string; averagePrecision: number; support: number }, i: number) => {
    assert.equal(c.name, ['blue', 'green', 'red'][i]);
    assert.ok(Math.abs(c.averagePrecision - ap[i]) < 1e-12, `${c.name} AP ${c.averagePrecision}`);
    assert.equal(c.support, 3);
  });
  assert.deepEqual(e.precision, [2 / 3, 1, 3 / 4]);

  // With TTA: the blend's figures, the plain mAP and exact match beside (one-colour images: every view is the image).
  const t = cli('evaluate', '--model', x.run, '--data', x.data, '--labels', 'labels.csv', '--tta', '2');
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /\nmAP: +0\.9556 with TTA, 0\.9556 plain \(\+0\.0000\)\n/);
  assert.match(t.stdout, /\nexact match: +0\.6667 with TTA, 0\.6667 plain/);
  const tj = JSON.parse(cli('evaluate', '--model', x.run, '--data', x.data, '--labels', 'labels.csv', '--tta', '2', '--json').stdout);
  assert.equal(tj.tta.views, 2);
  assert.ok(Math.abs(tj.tta.plain.meanAveragePrecision - 43 / 45) < 1e-12);
});

test('evaluate of a multi-label run without --labels exits 2 naming --labels; a table label the model lacks names its line', () => {
  for (const args of [['--data', x.data], []]) {
    const r = cli('evaluate', '--model', x.run, ...args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /multi-label run .*Pass --labels FILE --data DIR/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  // Split by a comma, 'green red' is one label the model does not have.
  fs.writeFileSync(path.join(x.data, 'other.csv'), 'file,tags\nimg0.png,green red\n');
  const wrong = cli('evaluate', '--model', x.run, '--data', x.data, '--labels', 'other.csv', '--label-delim', ',');
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /other\.csv line 2 labels img0\.png 'green red', which is not a class of the model \[blue, green, red\]/);
});
