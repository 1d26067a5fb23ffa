import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../io/rng.js';
import { averagePrecision, chooseThresholds, meanAveragePrecision, multiLabelMetrics, scoreSteps } from './multiLabelMetrics.js';

const close = (a: number, b: number, tol = 1e-12): void => assert.ok(Math.abs(a - b) <= tol, `${a} is not ${b}`);

/** Average precision by its definition, one pass over the data per distinct threshold (O(n^2), independent of the sort). */
function naiveAveragePrecision(s: number[], y: number[]): number {
  const positives = y.filter((v) => v === 1).length;
  if (positives === 0) return 0;
  const thresholds = [...new Set(s)].sort((a, b) => b - a);
  let ap = 0;
  let previousRecall = 0;
  for (const t of thresholds) {
    const called = s.map((v, i) => [v, y[i]]).filter(([v]) => v >= t);
    const tp = called.filter(([, yi]) => yi === 1).length;
    const recall = tp / positives;
    ap += (recall - previousRecall) * (tp / called.length);
    previousRecall = recall;
  }
  return ap;
}

test("averagePrecision matches scikit-learn's documented example and hand-computed cases", () => {
  // average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.8333... in scikit-learn's docs.
  close(averagePrecision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 5 / 6);
  // A perfect ranking has AP 1; the exact reverse: recall steps at P = 1/3 and 2/4.
  close(averagePrecision([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]), 1);
  close(averagePrecision([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]), 0.5 * (1 / 3) + 0.5 * (2 / 4));
  // Multi-hot values may come as floats.
  close(averagePrecision(new Float32Array([0.1, 0.4, 0.35, 0.8]), new Float32Array([0, 0, 1, 1])), 5 / 6);
  // No positive: nothing to recall, AP 0 (scikit-learn warns and gives 0 too). No image at all: 0.
  assert.equal(averagePrecision([0.3, 0.7], [0, 0]), 0);
  assert.equal(averagePrecision([], []), 0);
});

test('tied scores form one step, whatever order the tied images come in (as scikit-learn)', () => {
  // At 0.9 one positive and one negative are called together: P = 1/2 at R = 1/2, then P = 2/3 at R = 1.
  const expected = 0.5 * 0.5 + 0.5 * (2 / 3);
  close(averagePrecision([0.9, 0.9, 0.5, 0.1], [1, 0, 1, 0]), expected);
  close(averagePrecision([0.9, 0.9, 0.5, 0.1], [0, 1, 1, 0]), expected);
  // All scores equal: one step, AP = the fraction of positives.
  close(averagePrecision([0.5, 0.5, 0.5, 0.5, 0.5], [1, 0, 0, 1, 0]), 2 / 5);
  const steps = scoreSteps([0.2, 0.9, 0.9, 0.2, 0.4], [1, 1, 0, 0, 1]);
  assert.deepEqual([[...steps.thresholds], [...steps.tp], [...steps.fp], steps.positives], [[0.9, 0.4, 0.2], [1, 2, 3], [1, 1, 2], 3]);
});

test('averagePrecision equals the definition on random data with many ties, and ignores the row order', () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(rng.next() * 40);
    // Scores on a coarse grid so that ties are frequent.
    const s = Array.from({ length: n }, () => Math.round(rng.next() * 8) / 8);
    const y = Array.from({ length: n }, () => (rng.next() < 0.4 ? 1 : 0));
    const ap = averagePrecision(s, y);
    close(ap, naiveAveragePrecision(s, y), 1e-12);
    const order = Array.from({ length: n }, (_, i) => i).sort(() => rng.next() - 0.5);
    close(
      averagePrecision(
        order.map((i) => s[i]),
        order.map((i) => y[i]),
      ),
      ap,
      1e-12,
    );
  }
});

test('chooseThresholds picks the F1-best distinct score per class, the lowest on equal F1, 0.5 with no positive', () => {
  // k = 3, rows of [a, b, c]. Class a: 0.9 and 0.3 both give F1 2/3 -> the lower, 0.3.
  // Class b: positives 0.8, 0.7 above the negatives -> 0.7 (F1 1). Class c has no positive -> 0.5.
  const probs = [0.9, 0.8, 0.1, 0.7, 0.7, 0.9, 0.5, 0.2, 0.3, 0.3, 0.1, 0.2];
  const truth = [1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0];
  assert.deepEqual(chooseThresholds(probs, truth, 3), [0.3, 0.7, 0.5]);
  assert.deepEqual(chooseThresholds(new Float32Array(0), new Uint8Array(0), 2), [0.5, 0.5]);
  assert.throws(() => chooseThresholds([0.1, 0.2, 0.3], [0, 1, 0], 2), /rows of 2/);
  // A diverged model's NaN ranks lowest; calling everything positive is then the threshold 0, not -Infinity.
  close(averagePrecision([Number.NaN, 0.5], [1, 0]), 0.5);
  assert.deepEqual(chooseThresholds([Number.NaN, 0.5], [1, 1], 1), [0]);
});

test("chooseThresholds's threshold gives the best F1 any threshold could on random data", () => {
  const rng = new Rng(11);
  const f1At = (s: number[], y: number[], t: number): number => {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    s.forEach((v, i) => {
      if (v >= t && y[i] === 1) tp++;
      else if (v >= t) fp++;
      else if (y[i] === 1) fn++;
    });
    return (2 * tp) / (2 * tp + fp + fn);
  };
  for (let trial = 0; trial < 100; trial++) {
    const n = 2 + Math.floor(rng.next() * 30);
    const s = Array.from({ length: n }, () => Math.round(rng.next() * 20) / 20);
    const y = Array.from({ length: n }, () => (rng.next() < 0.5 ? 1 : 0));
    if (!y.includes(1)) continue;
    const [t] = chooseThresholds(s, y, 1);
    const candidates = [...new Set([...s, 0, 0.5, 1, 1.1])];
    const best = Math.max(...candidates.map((c) => f1At(s, y, c)));
    close(f1At(s, y, t), best, 1e-12);
    // The lowest of the equal-best distinct scores.
    const lowest = Math.min(...[...new Set(s)].filter((c) => Math.abs(f1At(s, y, c) - best) <= 1e-12));
    assert.equal(t, lowest);
  }
});

test('multiLabelMetrics: a hand-computed 3-image, 3-class case', () => {
  // Rows [a, b, c]; thresholds 0.5, 0.5, 0.95. c has no positive and is never predicted.
  const probs = [0.9, 0.2, 0.1, 0.6, 0.7, 0.3, 0.1, 0.8, 0.9];
  const truth = new Uint8Array([1, 0, 0, 0, 1, 0, 1, 1, 0]);
  const m = multiLabelMetrics(probs, truth, ['a', 'b', 'c'], [0.5, 0.5, 0.95]);
  const [a, b, c] = m.perClass;
  // a: truth 1,0,1; predicted 1,1,0 -> tp 1, fp 1, fn 1.
  assert.deepEqual(
    { ...a, averagePrecision: 0 },
    { name: 'a', precision: 0.5, recall: 0.5, f1: 0.5, averagePrecision: 0, support: 2, threshold: 0.5 },
  );
  close(a.averagePrecision, 0.5 * 1 + 0.5 * (2 / 3));
  // b: truth 0,1,1; predicted 0,1,1, ranked perfectly.
  assert.deepEqual(b, { name: 'b', precision: 1, recall: 1, f1: 1, averagePrecision: 1, support: 2, threshold: 0.5 });
  assert.deepEqual(c, { name: 'c', precision: 0, recall: 0, f1: 0, averagePrecision: 0, support: 0, threshold: 0.95 });
  // mAP leaves c (no support) out; macro-F1 averages all three classes, as scikit-learn does.
  close(m.meanAveragePrecision, (a.averagePrecision + 1) / 2);
  close(meanAveragePrecision(probs, truth, 3), m.meanAveragePrecision);
  close(m.microF1, (2 * 3) / (2 * 3 + 1 + 1));
  close(m.macroF1, 1.5 / 3);
  // Only the first image's set {a} is predicted exactly; 2 wrong decisions out of 9.
  close(m.exactMatch, 1 / 3);
  close(m.hammingLoss, 2 / 9);
  assert.deepEqual(m.thresholds, [0.5, 0.5, 0.95]);
});

test('multiLabelMetrics: a probability equal to its threshold gives the label; perfect and empty inputs', () => {
  const m = multiLabelMetrics([0.4, 0.6, 0.6, 0.4], [1, 0, 0, 1], ['x', 'y'], [0.4, 0.4]);
  assert.deepEqual(
    m.perClass.map((c) => [c.precision, c.recall]),
    [
      [0.5, 1],
      [0.5, 1],
    ],
  );
  const perfect = multiLabelMetrics([0.9, 0.1, 0.2, 0.8], [1, 0, 0, 1], ['x', 'y'], [0.5, 0.5]);
  assert.deepEqual(
    [perfect.meanAveragePrecision, perfect.microF1, perfect.macroF1, perfect.exactMatch, perfect.hammingLoss],
    [1, 1, 1, 1, 0],
  );
  const empty = multiLabelMetrics([], [], ['x'], [0.5]);
  assert.deepEqual([empty.meanAveragePrecision, empty.microF1, empty.exactMatch, empty.hammingLoss], [0, 0, 0, 0]);
  assert.throws(() => multiLabelMetrics([0.5, 0.5], [1, 0], ['x', 'y'], [0.5]), /1 thresholds for 2 classes/);
});

test('thresholds chosen on the data give at least the F1 of 0.5 on that data', () => {
  const rng = new Rng(3);
  const n = 300;
  const k = 4;
  const truth = new Uint8Array(n * k);
  const probs = new Float32Array(n * k);
  for (let i = 0; i < n * k; i++) {
    truth[i] = rng.next() < 0.3 ? 1 : 0;
    // A skewed, imperfect scorer: positives sit around 0.35, negatives around 0.15.
    probs[i] = Math.min(1, Math.max(0, (truth[i] ? 0.35 : 0.15) + (rng.next() - 0.5) * 0.4));
  }
  const classes = ['a', 'b', 'c', 'd'];
  const tuned = multiLabelMetrics(probs, truth, classes, chooseThresholds(probs, truth, k));
  const plain = multiLabelMetrics(probs, truth, classes, [0.5, 0.5, 0.5, 0.5]);
  tuned.perClass.forEach((c, i) => assert.ok(c.f1 >= plain.perClass[i].f1, `${c.name}: ${c.f1} < ${plain.perClass[i].f1}`));
  assert.ok(tuned.macroF1 > plain.macroF1 + 0.1, `${tuned.macroF1} vs ${plain.macroF1}`);
  // AP does not depend on thresholds.
  close(tuned.meanAveragePrecision, plain.meanAveragePrecision);
});
