import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { readMeta } from '../run/meta.js';
import { multiLabelMetrics } from '../run/multiLabelMetrics.js';
import { makeTinyBase, TINY_SIZE } from '../testing/tinyRun.js';
import { initBackend } from '../tfjs/backend.js';
import { train } from '../workflows/train.js';
import { loadClassifier } from './classifier.js';
import { evaluateRun } from './evaluate.js';
import { labelsAbove } from './multiLabel.js';

// A multi-label run made by train() from a table, then read by every inference path: the
// thresholds training stored are the ones predict and evaluate apply, and evaluate's figures
// are the metrics of the probabilities it recorded.

const CHANNELS = ['red', 'green', 'blue'];
let root = '';
let run = '';

/** 16x16 noisy images; each channel bright (a label) or dark, drawn with a fixed seed. */
async function makeColourTable(dir: string, n: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  let s = 11;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const rows = ['file,tags,is_valid'];
  for (let i = 0; i < n; i++) {
    // Every non-empty channel set, in turn: each label on half the images, combinations of all sizes.
    const on = CHANNELS.map((_, c) => (((i % 7) + 1) >> c) & 1);
    const px = Buffer.alloc(TINY_SIZE * TINY_SIZE * 3);
    for (let p = 0; p < TINY_SIZE * TINY_SIZE; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = on[c] ? 170 + rand() * 80 : rand() * 80;
    const file = `im${i}.png`;
    await sharp(px, { raw: { width: TINY_SIZE, height: TINY_SIZE, channels: 3 } })
      .png()
      .toFile(path.join(dir, file));
    rows.push(`${file},${CHANNELS.filter((_, c) => on[c]).join(' ')},${i % 4 === 3}`);
  }
  fs.writeFileSync(path.join(dir, 'labels.csv'), `${rows.join('\n')}\n`);
}

before(async () => {
  await initBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-mltrain-'));
  const data = path.join(root, 'data');
  await makeColourTable(data, 56);
  const base = await makeTinyBase(path.join(root, 'base'));
  run = path.join(root, 'run');
  await train(
    {
      data,
      base,
      out: run,
      labels: 'labels.csv',
      labelDelim: ' ',
      epochs: 12,
      batchSize: 8,
      headUnits: 16,
      learningRate: 0.01,
      verbose: 0,
      cacheDir: path.join(root, 'cache'),
    },
    { log: () => {} },
  );
});

test('a run train() made from a multi-label table: predict and evaluate apply its stored thresholds to its k sigmoids', async () => {
  const meta = await readMeta(run);
  assert.equal(meta.labelMode, 'multi-label');
  assert.deepEqual(meta.classes, ['blue', 'green', 'red']);
  assert.equal(meta.thresholds?.length, 3);
  const data = path.join(root, 'data');
  const e = await evaluateRun(run, data, { table: { labels: 'labels.csv' } });
  const m = e.multiLabel;
  assert.ok(m);
  assert.deepEqual(m.thresholds, meta.thresholds);
  assert.equal(e.n, 56);
  // evaluate's figures are the metrics of the probabilities it recorded, against the table's labels.
  const probs = e.files.flatMap((f) => f.scores);
  const truth = e.files.flatMap((f) => meta.classes.map((c) => (f.labels?.includes(c) ? 1 : 0)));
  assert.deepEqual(m, multiLabelMetrics(probs, truth, meta.classes, meta.thresholds as number[]));
  // The easy colour task is learnt: far above the mAP of guessing (each label on about half the images).
  assert.ok(m.meanAveragePrecision >= 0.9, `mAP ${m.meanAveragePrecision}`);
  const clf = await loadClassifier(run);
  try {
    const files = e.files.map((f) => f.file);
    const got = await clf.predict(files);
    got.forEach((p, i) => {
      assert.deepEqual(p.labels, e.files[i].predicted, files[i]);
      assert.deepEqual(p.labels, labelsAbove(e.files[i].scores, meta.classes, meta.thresholds as number[]));
      for (const c of p.probabilities)
        assert.ok(Math.abs(c.probability - e.files[i].scores[meta.classes.indexOf(c.label)]) < 1e-6, `${files[i]} ${c.label}`);
    });
  } finally {
    await clf.dispose();
  }
});
