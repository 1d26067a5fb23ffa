import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUserError } from '../errors.js';
import {
  binaryCrossEntropy,
  labelJoin,
  labelsAbove,
  multiHot,
  multiLabelPrediction,
  runThresholds,
  scoreMultiLabel,
} from './multiLabel.js';
import { checkRankOptions } from './predictor.js';

const classes = ['bw', 'cats', 'dogs'];

test('multiLabelPrediction: the labels at or above their thresholds in class order, every probability most probable first', () => {
  // bw 0.3 (threshold 0.3: given, >= is inclusive), cats 0.9 (0.5: given), dogs 0.6 (0.7: not given)
  const p = multiLabelPrediction([0.3, 0.9, 0.6], classes, [0.3, 0.5, 0.7]);
  assert.deepEqual(p.labels, ['bw', 'cats']);
  assert.equal(p.label, 'cats');
  assert.equal(p.probability, 0.9);
  assert.deepEqual(p.probabilities, [
    { label: 'cats', probability: 0.9 },
    { label: 'dogs', probability: 0.6 },
    { label: 'bw', probability: 0.3 },
  ]);
  // Independent sigmoids: nothing above threshold gives no label, and nothing is renormalised.
  const none = multiLabelPrediction([0.1, 0.2, 0.2], classes, [0.5, 0.5, 0.5]);
  assert.deepEqual(none.labels, []);
  assert.deepEqual(
    none.probabilities.map((c) => c.probability),
    [0.2, 0.2, 0.1],
  );
  assert.deepEqual(
    none.probabilities.map((c) => c.label),
    ['cats', 'dogs', 'bw'],
    'ties keep class order',
  );
  // topK trims the probabilities, never the labels.
  const top = multiLabelPrediction([0.8, 0.9, 0.7], classes, [0.5, 0.5, 0.5], { topK: 1 });
  assert.deepEqual(top.probabilities, [{ label: 'cats', probability: 0.9 }]);
  assert.deepEqual(top.labels, ['bw', 'cats', 'dogs']);
  assert.deepEqual(labelsAbove([0.5, 0.49999, 1], classes, [0.5, 0.5, 1]), ['bw', 'dogs']);
});

test("runThresholds: meta.json's, checked; an override gives every class the same; a damaged file is a UserError", () => {
  assert.deepEqual(runThresholds({ classes, thresholds: [0.2, 0.4, 0.6] }), [0.2, 0.4, 0.6]);
  assert.deepEqual(runThresholds({ classes, thresholds: [0.2, 0.4, 0.6] }, 0.9), [0.9, 0.9, 0.9]);
  assert.deepEqual(runThresholds({ classes }, 0.25), [0.25, 0.25, 0.25], 'an override needs no stored thresholds');
  for (const thresholds of [undefined, [0.5, 0.5], [0.5, 0.5, 1.5]]) {
    assert.throws(
      () => runThresholds({ classes, thresholds }),
      (e: Error) => isUserError(e) && /multi-label/.test(e.message) && /--threshold P/.test(e.message),
    );
  }
});

test('checkRankOptions: a multi-label model takes --threshold whatever its class count, from 0 to 1', () => {
  assert.doesNotThrow(() => checkRankOptions({ threshold: 0.4 }, classes, {}, true));
  assert.throws(() => checkRankOptions({ threshold: 0.4 }, classes), /applies to two-class \(binary\) models only/);
  assert.throws(
    () => checkRankOptions({ threshold: 1.2 }, classes, { threshold: '--threshold' }, true),
    /--threshold must be a probability from 0 to 1 \(every label at or above it is given\), got 1.2/,
  );
});

test('labelJoin: the training --label-delim, else ";" (also where the output cannot hold it)', () => {
  assert.equal(labelJoin({ options: { labelDelim: ' ' } }), ' ');
  assert.equal(labelJoin({ options: {} }), ';');
  assert.equal(labelJoin({ options: { labelDelim: '\t' } }, '\t\r\n'), ';');
  assert.equal(labelJoin({ options: { labelDelim: '|' } }, '\t\r\n'), '|');
});

test('scoreMultiLabel: exact match as accuracy, the mean binary cross-entropy as loss, per-class arrays, no confusion matrix', () => {
  // Two images: truth {cats}, {bw, dogs}; thresholds 0.5 each.
  const scores = [
    [0.2, 0.9, 0.6],
    [0.7, 0.1, 0.8],
  ];
  const e = scoreMultiLabel(scores, [['cats'], ['bw', 'dogs']], classes, [0.5, 0.5, 0.5]);
  // Image 0 predicts {cats, dogs} (wrong: dogs), image 1 {bw, dogs} (right).
  assert.equal(e.accuracy, 0.5);
  assert.equal(e.multiLabel?.exactMatch, 0.5);
  assert.equal(e.multiLabel?.hammingLoss, 1 / 6);
  // By hand: -(ln 0.8 + ln 0.9 + ln 0.4 + ln 0.7 + ln 0.9 + ln 0.8) / 6
  const hand = -(Math.log(0.8) + Math.log(0.9) + Math.log(0.4) + Math.log(0.7) + Math.log(0.9) + Math.log(0.8)) / 6;
  assert.ok(Math.abs(e.loss - hand) < 1e-12, `loss ${e.loss} vs ${hand}`);
  assert.deepEqual(e.confusion, []);
  assert.deepEqual(e.support, [1, 1, 1]);
  assert.deepEqual(e.precision, [1, 1, 0.5]);
  assert.deepEqual(e.recall, [1, 1, 1]);
  assert.equal(e.ece, undefined);
  assert.equal(e.n, 2);
  // Certain answers are clipped as Keras clips them: a certain mistake costs -ln 1e-7, not Infinity.
  assert.ok(Math.abs(binaryCrossEntropy([0, 1], [1, 1]) - (-Math.log(1e-7) - Math.log(1 - 1e-7)) / 2) < 1e-9);
  assert.deepEqual(Array.from(multiHot([['dogs', 'bw'], []], classes)), [1, 0, 1, 0, 0, 0]);
});
