import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { isUserError } from '../errors.js';
import { readEvaluationFile } from '../run/evaluation.js';
import {
  EXACT_CLASSES,
  EXACT_THRESHOLDS,
  exactProbabilities,
  makeExactMultiLabelRun,
  type ExactMultiLabelRun,
} from '../testing/exactMultiLabelRun.js';
import { loadClassifier } from './classifier.js';
import { evaluateRun } from './evaluate.js';
import { blendTta, makeViews, ttaPlan } from './tta.js';

// A multi-label run with closed-form probabilities (see testing/exactMultiLabelRun.ts): every
// figure below is checked against the hand computation of its six images.

let x: ExactMultiLabelRun;
const close = (a: number, b: number, tol = 1e-6) => Math.abs(a - b) <= tol;

before(async () => {
  x = await makeExactMultiLabelRun();
});

// What the thresholds (blue 0.3, green 0.7, red 0.5) give the six images, worked by hand:
// img3 has red at exactly 0.5 (given: >= is inclusive) and blue at s(-1) = 0.27 < 0.3 (missed);
// img5 has blue at exactly 0.5 >= 0.3 (given though not true).
const PREDICTED = [['green', 'red'], ['red'], ['blue'], ['green', 'red'], ['blue', 'red'], ['blue', 'green']];

test('predict on a multi-label run: k independent sigmoid probabilities and the labels at or above their thresholds', async () => {
  const clf = await loadClassifier(x.run);
  try {
    assert.equal(clf.isMultiLabel, true);
    assert.equal(clf.isBinary, false);
    assert.deepEqual(clf.thresholds, EXACT_THRESHOLDS);
    const files = x.images.map((im) => path.join(x.data, im.file));
    const got = await clf.predict(files);
    got.forEach((p, i) => {
      assert.deepEqual(p.labels, PREDICTED[i], x.images[i].file);
      const want = exactProbabilities(x.images[i].rgb);
      assert.equal(p.probabilities.length, 3);
      for (const c of p.probabilities) assert.ok(close(c.probability, want[EXACT_CLASSES.indexOf(c.label)]), `${c.label} ${c.probability}`);
      assert.equal(p.label, p.probabilities[0].label);
    });
    // The raw scores are the sigmoids themselves: not a softmax (img0 sums to 1.73), not a [1-p, p] pair.
    const [s0] = await clf.scoresOfFiles([files[0]]);
    assert.equal(s0.length, 3);
    assert.ok(close(s0[0] + s0[1] + s0[2], 0.0066929 + 0.7310586 + 0.9933071, 1e-5));
    // --threshold for every class: 0.6 drops img5's blue (0.5) and img3's red (0.5).
    const at = await clf.predict([files[3], files[5]], { threshold: 0.6 });
    assert.deepEqual(
      at.map((p) => p.labels),
      [['green'], ['green']],
    );
    await assert.rejects(clf.predict(files[0], { threshold: -0.1 }), /threshold must be a probability from 0 to 1/);
  } finally {
    await clf.dispose();
  }
});

test('evaluate a multi-label run on its table: evaluation.json holds the hand-computed per-class figures, mAP and each file', async () => {
  // No labelDelim given: the run's own (' ') splits the tags.
  const e = await evaluateRun(x.run, x.data, { table: { labels: 'labels.csv' } });
  const m = e.multiLabel;
  assert.ok(m);
  assert.deepEqual(
    m.perClass.map((c) => c.name),
    EXACT_CLASSES,
  );
  // blue: tp 2 (img2, img4), fp 1 (img5), fn 1 (img3). AP: img4 T, img2 T, img5 F, then img1 F / img3 T tied at s(-1):
  // 1/3 * 1 + 1/3 * 1 + 1/3 * 3/5 = 13/15.
  // green: every decision right; AP 1. red: tp 3, fp 1 (img3 at 0.5); AP 1 (its three positives score highest).
  const want = [
    { precision: 2 / 3, recall: 2 / 3, f1: 2 / 3, averagePrecision: 13 / 15, support: 3, threshold: 0.3 },
    { precision: 1, recall: 1, f1: 1, averagePrecision: 1, support: 3, threshold: 0.7 },
    { precision: 3 / 4, recall: 1, f1: 6 / 7, averagePrecision: 1, support: 3, threshold: 0.5 },
  ];
  m.perClass.forEach((c, i) => {
    for (const [k, v] of Object.entries(want[i]))
      assert.ok(close(c[k as keyof typeof c] as number, v, 1e-12), `${c.name} ${k}: ${c[k as keyof typeof c]} vs ${v}`);
  });
  assert.ok(close(m.meanAveragePrecision, 43 / 45, 1e-12));
  assert.ok(close(m.microF1, 16 / 19, 1e-12), 'tp 8, fp 2, fn 1');
  assert.ok(close(m.macroF1, 53 / 63, 1e-12));
  assert.ok(close(m.exactMatch, 4 / 6, 1e-12), 'img3 and img5 are wrong');
  assert.ok(close(m.hammingLoss, 3 / 18, 1e-12));
  assert.equal(e.accuracy, m.exactMatch);
  // The mean binary cross-entropy over the 18 (image, class) pairs, from the closed-form probabilities.
  let bce = 0;
  x.images.forEach((im) => {
    const p = exactProbabilities(im.rgb);
    EXACT_CLASSES.forEach((c, j) => {
      bce -= im.truth.includes(c) ? Math.log(p[j]) : Math.log(1 - p[j]);
    });
  });
  assert.ok(close(e.loss, bce / 18, 1e-6), `loss ${e.loss} vs ${bce / 18}`);
  assert.deepEqual(e.confusion, []);
  assert.equal(e.ece, undefined);

  const saved = await readEvaluationFile(x.run);
  assert.ok(saved?.multiLabel, 'evaluation.json has the multi-label record');
  assert.deepEqual(saved.multiLabel, JSON.parse(JSON.stringify(m)));
  assert.equal(saved.ece, undefined, 'no top-class ECE is made up when reading it back');
  assert.equal(saved.files.length, 6);
  saved.files.forEach((f, i) => {
    assert.equal(f.file, path.join(x.data, x.images[i].file));
    assert.deepEqual(f.labels, x.images[i].truth);
    assert.deepEqual(f.predicted, PREDICTED[i]);
    assert.equal(f.label, -1);
    assert.equal(f.scores.length, 3);
  });
});

test('evaluate a multi-label run: class folders are a UserError naming --labels; labels not of the model name the line', async () => {
  await assert.rejects(
    evaluateRun(x.run, x.data, { save: false }),
    (e: Error) => isUserError(e) && /multi-label/.test(e.message) && /--labels FILE/.test(e.message),
  );
  const bad = path.join(x.data, 'bad.csv');
  fs.writeFileSync(bad, 'file,tags\nimg0.png,red green\nimg1.png,red purple\n');
  await assert.rejects(
    evaluateRun(x.run, x.data, { save: false, table: { labels: 'bad.csv' } }),
    (e: Error) =>
      isUserError(e) && /bad\.csv line 3 labels img1\.png 'purple', which is not a class of the model \[blue, green, red\]/.test(e.message),
  );
  // The Classifier's own evaluate takes the table too, and gives the same figures.
  const clf = await loadClassifier(x.run);
  try {
    const e = await clf.evaluate(x.data, { table: { labels: 'labels.csv', labelDelim: ' ' } });
    assert.ok(close(e.multiLabel?.meanAveragePrecision ?? 0, 43 / 45, 1e-12));
    await assert.rejects(clf.evaluate(x.data), /--labels FILE/);
  } finally {
    await clf.dispose();
    fs.rmSync(bad);
  }
});

test('TTA on a multi-label run averages the sigmoid probabilities of the views as for a softmax, with no renormalising', async () => {
  // Half red, half blue: a zoomed view sees other proportions, so the views' mean colours differ.
  const dir = path.join(x.root, 'tta');
  fs.mkdirSync(dir, { recursive: true });
  const size = 8;
  const px = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++) for (let c = 0; c < size; c++) px.set(c < 3 ? [230, 100, 20] : [20, 150, 240], (y * size + c) * 3);
  const file = path.join(dir, 'half.png');
  await sharp(Buffer.from(px), { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toFile(file);
  const clf = await loadClassifier(x.run);
  try {
    const plan = ttaPlan(3, clf.meta);
    const views = makeViews(px, 1, [size, size], plan.views, plan.augmentation, plan.seed);
    // Each view's probabilities in closed form: the sigmoid of its mean colour.
    const ofPixels = (a: Float32Array) => {
      const mean = [0, 0, 0];
      for (let i = 0; i < a.length; i++) mean[i % 3] += a[i] / (a.length / 3);
      return exactProbabilities(mean as [number, number, number]);
    };
    const per = size * size * 3;
    const viewProbs = [0, 1, 2].map((v) => ofPixels(views.subarray(v * per, (v + 1) * per)));
    const want = blendTta(ofPixels(px), viewProbs, plan.beta);
    const [p] = await clf.predict(file, { tta: 3 });
    for (const c of p.probabilities) assert.ok(close(c.probability, want[EXACT_CLASSES.indexOf(c.label)], 1e-5), `${c.label}`);
    assert.ok(
      viewProbs.some((v) => !close(v[0], viewProbs[0][0], 1e-3) || !close(v[0], ofPixels(px)[0], 1e-3)),
      'the views differ from the plain image',
    );
    assert.deepEqual(
      p.labels,
      EXACT_CLASSES.filter((_, c) => want[c] >= EXACT_THRESHOLDS[c]),
    );
  } finally {
    await clf.dispose();
  }
  // evaluate --tta records the plain mAP beside.
  const e = await evaluateRun(x.run, x.data, { table: { labels: 'labels.csv' }, tta: 2, save: false });
  assert.ok(close(e.tta?.plain.meanAveragePrecision ?? 0, 43 / 45, 1e-12), 'uniform images: the plain figures are the hand ones');
  assert.ok(e.multiLabel);
});
