import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../io/rng.js';
import {
  ECE_BINS,
  expectedCalibrationError,
  fitTemperature,
  probabilitiesOf,
  reliabilityBins,
  rescaleScores,
  TEMPERATURE_RANGE,
  temperatureNll,
  type Logits,
} from './temperature.js';

/** n sigmoid logits of magnitude a, the sign the predicted class; a fraction p of them labelled as predicted. */
function binaryLogits(n: number, a: number, p: number): Logits {
  const values = new Float64Array(n);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const predicted = i % 2;
    values[i] = predicted === 1 ? a : -a;
    labels.push(i < p * n ? predicted : 1 - predicted);
  }
  return { values, width: 1, labels };
}

test('temperature on sigmoid logits with a known optimum: sigmoid(a / T) = the accuracy, so T = a / logit(p)', () => {
  for (const [a, p] of [
    [10, 0.8],
    [250, 0.9],
    [0.5, 0.95],
  ]) {
    const fit = fitTemperature(binaryLogits(1000, a, p));
    const expected = a / Math.log(p / (1 - p));
    assert.ok(Math.abs(fit.temperature / expected - 1) < 1e-6, `a ${a}, p ${p}: T ${fit.temperature}, expected ${expected}`);
    assert.ok(fit.nllAfter < fit.nllBefore);
    // The minimum: the loss at the fitted T is below the loss a little either side.
    for (const f of [0.99, 1.01]) assert.ok(temperatureNll(binaryLogits(1000, a, p), expected * f) > fit.nllAfter);
  }
});

test('temperature on softmax logits with a known optimum: e^(a/T) = p (k-1) / (1-p)', () => {
  const k = 5;
  const n = 1000;
  const a = 30;
  const p = 0.7;
  const values = new Float32Array(n * k);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const top = i % k;
    values[i * k + top] = a;
    // Right for the first 70%; the rest labelled as some other class (which one does not matter).
    labels.push(i < p * n ? top : (top + 1 + (i % (k - 1))) % k);
  }
  const fit = fitTemperature({ values, width: k, labels });
  const expected = a / Math.log((p * (k - 1)) / (1 - p));
  assert.ok(Math.abs(fit.temperature / expected - 1) < 1e-6, `T ${fit.temperature}, expected ${expected}`);
  // Calibrated, the top-class probability is the accuracy: one bin, no gap.
  const calibrated = probabilitiesOf({ values, width: k, labels }, fit.temperature);
  assert.ok(Math.abs(calibrated[0][0] - p) < 1e-6, `top probability ${calibrated[0][0]}`);
  assert.ok(expectedCalibrationError(calibrated, labels) < 1e-6);
  assert.ok(expectedCalibrationError(probabilitiesOf({ values, width: k, labels }), labels) > 0.29);
});

test('T > 0 keeps every prediction: accuracy is the same at any temperature, sigmoid and softmax', () => {
  const rng = new Rng(7);
  for (const width of [1, 4]) {
    const n = 400;
    const values = Float64Array.from({ length: n * width }, () => (rng.next() - 0.5) * 60);
    const labels = Array.from({ length: n }, () => Math.floor(rng.next() * Math.max(2, width)));
    const l: Logits = { values, width, labels };
    const fit = fitTemperature(l);
    assert.ok(fit.temperature > 1, `overconfident random logits soften: T ${fit.temperature}`);
    const predicted = (scores: number[][]) => scores.map((s) => s.indexOf(Math.max(...s)));
    for (const t of [fit.temperature, 0.05, 1e3])
      assert.deepEqual(predicted(probabilitiesOf(l, t)), predicted(probabilitiesOf(l)), `T ${t}`);
  }
});

test('rescaleScores undoes a folded temperature: the calibrated probabilities with the logits times T are the raw ones', () => {
  const l: Logits = { values: Float64Array.from([3.2, -14, 0.4, 25, -0.01]), width: 1, labels: [1, 0, 0, 1, 1] };
  const raw = probabilitiesOf(l);
  const back = rescaleScores(probabilitiesOf(l, 4.5), 4.5);
  back.forEach((s, i) => s.forEach((v, c) => assert.ok(Math.abs(v - raw[i][c]) < 1e-9, `${i}/${c}: ${v} vs ${raw[i][c]}`)));
  const soft: Logits = { values: Float64Array.from([1, 2, 3, -4, 0, 9]), width: 3, labels: [2, 2] };
  const softBack = rescaleScores(probabilitiesOf(soft, 0.3), 0.3);
  probabilitiesOf(soft).forEach((s, i) => s.forEach((v, c) => assert.ok(Math.abs(v - softBack[i][c]) < 1e-9)));
  // Saturated float32 probabilities stay saturated.
  assert.deepEqual(rescaleScores([[0, 1]], 10), [[0, 1]]);
});

test('ECE: 15 equal-width bins on the top-class confidence, (lo, hi], weighted by count', () => {
  // Confidence 0.95 right 3 of 4 times (gap 0.2), confidence 0.6 right 1 of 2 (gap 0.1): (4 x 0.2 + 2 x 0.1) / 6.
  const scores = [
    [0.05, 0.95],
    [0.95, 0.05],
    [0.05, 0.95],
    [0.05, 0.95],
    [0.4, 0.6],
    [0.6, 0.4],
  ];
  const labels = [1, 0, 1, 0, 1, 1];
  assert.ok(Math.abs(expectedCalibrationError(scores, labels) - (4 * 0.2 + 2 * 0.1) / 6) < 1e-12);
  const bins = reliabilityBins(scores, labels);
  assert.equal(bins.length, ECE_BINS);
  assert.equal(bins[14].count, 4);
  assert.equal(bins[8].count, 2, '0.6 lies in (8/15, 9/15]');
  // Edges: a confidence of exactly 1 is in the last bin, exactly 2/15 in the second.
  assert.equal(reliabilityBins([[0, 1]], [1])[14].count, 1);
  assert.equal(reliabilityBins([[2 / 15, 0.1, 0.1]], [0])[1].count, 1);
  assert.equal(expectedCalibrationError([], []), 0);
});

test('fitTemperature: every image right has no finite optimum (T stays 1); a constant model keeps T 1; the range bounds T', () => {
  const right = fitTemperature({ values: Float64Array.from([5, -3, 8, -1]), width: 1, labels: [1, 0, 1, 0] });
  assert.equal(right.temperature, 1);
  assert.match(right.note ?? '', /every one of the 4 validation images is classified right/);
  const flat = fitTemperature({ values: new Float64Array(4), width: 1, labels: [1, 0, 1, 1] });
  assert.equal(flat.temperature, 1);
  // Every image wrong with a margin: the loss falls as T grows, up to the end of the range.
  const wrong = fitTemperature({ values: Float64Array.from([5, -3, 8, -1]), width: 1, labels: [0, 1, 0, 1] });
  assert.ok(Math.abs(wrong.temperature / TEMPERATURE_RANGE[1] - 1) < 1e-6, `T ${wrong.temperature}`);
  // Logits of 1e4: no overflow anywhere.
  const huge = fitTemperature(binaryLogits(100, 1e4, 0.9));
  assert.ok(Number.isFinite(huge.nllBefore) && Math.abs(huge.temperature / (1e4 / Math.log(9)) - 1) < 1e-6, `T ${huge.temperature}`);
});
