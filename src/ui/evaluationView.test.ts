import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunEvaluation } from '../run/evaluation.js';
import { multiLabelMetrics } from '../run/multiLabelMetrics.js';
import { evaluationView } from './evaluationView.js';

test("a multi-label evaluation on the page: mAP and the per-class figures from evaluation.json's multiLabel, top losses per label", () => {
  const classes = ['cat', 'dog', 'bw'];
  const thresholds = [0.5, 0.4, 0.6];
  // image: its true labels and the three probabilities
  const images: Array<[string, string[], number[]]> = [
    ['/d/a.png', ['cat'], [0.95, 0.1, 0.05]],
    ['/d/b.png', ['cat', 'dog'], [0.9, 0.35, 0.1]], // dog missed (0.35 < 0.4)
    ['/d/c.png', ['dog', 'bw'], [0.05, 0.97, 0.7]],
    ['/d/d.png', ['dog'], [0.6, 0.92, 0.02]], // cat given wrongly
    ['/d/e.png', ['cat', 'bw'], [0.97, 0.03, 0.96]],
  ];
  const probs = images.flatMap(([, , p]) => p);
  const truth = images.flatMap(([, labels]) => classes.map((c) => (labels.includes(c) ? 1 : 0)));
  const m = multiLabelMetrics(probs, truth, classes, thresholds);
  const e: RunEvaluation = {
    accuracy: m.exactMatch,
    loss: 0.2,
    n: images.length,
    classes,
    confusion: [],
    precision: [],
    recall: [],
    f1: [],
    support: [],
    multiLabel: m,
    dir: '/d',
    files: images.map(([file, labels, scores]) => ({
      file,
      label: -1,
      scores,
      labels,
      predicted: classes.filter((_, c) => scores[c] >= thresholds[c]),
    })),
    seconds: 1,
    imagesPerSecond: 5,
  };
  const v = evaluationView(e, (f) => `/files/data${f}`);
  assert.equal(v.multiLabel?.meanAveragePrecision, m.meanAveragePrecision);
  assert.deepEqual(
    v.multiLabel?.perClass.map((c) => c.threshold),
    thresholds,
  );
  assert.deepEqual(
    v.precision,
    m.perClass.map((c) => c.precision),
  );
  assert.deepEqual(v.support, [3, 3, 2]);
  assert.deepEqual(v.confusion, []);
  // per label, what it got wrong, highest loss first; right and confident images are no losses
  const dog = v.topLosses[1];
  assert.equal(dog[0].file, '/d/b.png');
  assert.deepEqual([dog[0].present, dog[0].given, dog[0].label, dog[0].url], [true, false, 'dog', '/files/data/d/b.png']);
  assert.equal(dog[0].probability, 0.35);
  const cat = v.topLosses[0];
  assert.equal(cat[0].file, '/d/d.png');
  assert.deepEqual([cat[0].present, cat[0].given], [false, true]);
  assert.ok(!cat.some((t) => t.file === '/d/a.png'), 'a confident right answer is no loss');
  assert.match(v.topLossesNotes[0], /^Only \d+ of the 5 images/);
});
