import { test } from 'node:test';
import assert from 'node:assert/strict';
import { minimum, steep, suggestLearningRates, valley } from './lrSuggestions.js';

/** Rates 10^x on a grid of x from `lo` to `hi` in `n` even steps (both ends included). */
function logGrid(lo: number, hi: number, n: number): { xs: number[]; rates: number[] } {
  const xs = Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
  return { xs, rates: xs.map((x) => 10 ** x) };
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

test('minimum: a tenth of the rate at the lowest loss, marked at the lowest loss', () => {
  // A parabola in log10(rate) with its bottom at 1e-2 (a grid point: x = -7 + 0.25 * 20).
  const { xs, rates } = logGrid(-7, 1, 33);
  const losses = xs.map((x) => 0.1 + (x + 2) ** 2);
  const s = minimum(rates, losses);
  assert.ok(Math.abs(s.rate / 1e-3 - 1) < 1e-9, String(s.rate));
  assert.ok(Math.abs(s.point.rate / 1e-2 - 1) < 1e-9);
  assert.equal(s.point.loss, 0.1);
});

test('steep: the left end of the steepest fall against log(rate)', () => {
  // A logistic fall centred at 1e-3: the steepest segment is the one that straddles x = -3.
  const { xs, rates } = logGrid(-7, 1, 100);
  const losses = xs.map((x) => 0.7 - 0.6 * sigmoid(4 * (x + 3)));
  const s = steep(rates, losses);
  const i = rates.indexOf(s.rate);
  assert.ok(xs[i] <= -3 && xs[i + 1] > -3, `x ${xs[i]}`);
  assert.equal(s.point.loss, losses[i]);
  // Uneven spacing counts: the same fall over a segment twice as wide in log(rate) is half as steep.
  assert.equal(steep([1, 10, 1000, 10000], [3, 2, 0.5, 0.4]).rate, 1, 'slope -1 per decade beats -1.5 over two decades');
});

test("valley: fastai's longest decreasing run and the point past its first half-third", () => {
  // Longest strictly decreasing subsequence: 1.1, 1.0, 0.9, ... 0.3 (indexes 1..9, 9 points);
  // fastai's bookkeeping puts its start at 9 - 9 = 0, sections = 3, index 0 + 3 + 1 = 4.
  const losses = [1, 1.1, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.35, 0.5];
  const rates = losses.map((_, i) => 10 ** (i - 7));
  const s = valley(rates, losses);
  assert.equal(s.rate, rates[4]);
  assert.deepEqual(s.point, { rate: rates[4], loss: 0.8 });

  // A plateau zigzagging between 2.01 and 1.99 (its longest fall: 2 points), then a clean
  // fall of 30 points (indexes 40..69), then a rise: the run is 2 + 30 = 32 points ending at
  // 69, so fastai's start is 69 - 32 = 37, sections 32/3, index 37 + 10 + 5 = 52.
  const curve = [
    ...Array.from({ length: 40 }, (_, i) => 2 + (i % 2 === 0 ? 0.01 : -0.01)),
    ...Array.from({ length: 30 }, (_, i) => 1.5 - i * 0.04),
    ...Array.from({ length: 10 }, (_, i) => 0.4 + i * 0.3),
  ];
  const r = curve.map((_, i) => 1e-7 * 1.2 ** i);
  const v = valley(r, curve);
  assert.equal(r.indexOf(v.rate), 52);
});

test('valley: a two-point fall at the very start gives the first point, not the last (fastai indexes -1 there)', () => {
  assert.equal(valley([1, 2, 3], [3, 2, 2]).rate, 1);
});

test('suggestions skip the first tenth of the steps and the last 5 points, and stop at the first NaN', () => {
  const { xs, rates } = logGrid(-7, 1, 100);
  const losses = xs.map((x) => 0.7 - 0.6 * sigmoid(4 * (x + 3)) + 0.05 * Math.exp(3 * (x + 0.5)));
  // A lower loss in the first tenth and in the last five would be the minimum if they counted.
  const trap = [...losses];
  trap[3] = 0;
  trap[97] = 0;
  const s = suggestLearningRates(rates, trap, 100);
  assert.ok(s);
  const clean = suggestLearningRates(rates, losses, 100);
  assert.deepEqual(s, clean);
  const bottom = losses.slice(10, 95).indexOf(Math.min(...losses.slice(10, 95))) + 10;
  assert.ok(Math.abs(s.minimum.rate / (rates[bottom] / 10) - 1) < 1e-12);

  // A NaN at 60: everything from it on is dropped, so the minimum lies before it.
  const nan = [...losses];
  nan[60] = Number.NaN;
  const cut = suggestLearningRates(rates, nan, 100);
  assert.ok(cut);
  const before = losses.slice(10, 60);
  assert.equal(cut.minimum.point.loss, Math.min(...before));
  assert.ok(cut.minimum.point.rate < rates[60]);
  // The three are ordered as fastai's are on such a curve: minimum/10 <= valley, steep near the centre of the fall.
  assert.ok(clean && clean.steep.rate > 1e-4 && clean.steep.rate < 1e-2, String(clean?.steep.rate));
});

test('no suggestion when the loss diverged before enough points were left', () => {
  assert.equal(suggestLearningRates([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1], 100), undefined);
  assert.equal(suggestLearningRates([1, 2, 3, 4, 5, 6, 7, 8], [1, Number.NaN, 1, 1, 1, 1, 1, 1], 10), undefined);
  assert.ok(suggestLearningRates([1, 2, 3, 4, 5, 6, 7, 8], [1, 0.5, 0.4, 1, 1, 1, 1, 1], 10));
});
