import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertWorstError, maxAbsError, relativeError, worstError } from './numerics.js';

test('worst error: a NaN or an infinity on either side is the worst, wherever it sits, and the failure names the tensor', () => {
  const good = { name: 'good', actual: [1, 2.0001], expected: [1, 2] };
  const bad = { name: 'bad', actual: [1, 2.1], expected: [1, 2] };
  for (const [actual, expected] of [
    [
      [NaN, 2],
      [1, 2],
    ],
    [
      [1, 2],
      [1, NaN],
    ],
    [
      [1, Infinity],
      [1, 2],
    ],
    [
      [1, -Infinity],
      [1, -Infinity],
    ],
  ]) {
    const broken = { name: 'broken', actual, expected };
    // first, middle and last: a NaN sorted by comparison could land anywhere
    for (const order of [
      [broken, good, bad],
      [good, broken, bad],
      [good, bad, broken],
    ]) {
      const worst = worstError(order);
      assert.equal(worst.name, 'broken');
      assert.equal(worst.err, Infinity);
      assert.throws(
        () => assertWorstError(order, 1),
        /^AssertionError.*broken: non-finite value \(actual\[\d\] = .*, expected\[\d\] = .*\)/,
      );
    }
    assert.equal(relativeError(actual, expected), Infinity);
    assert.equal(maxAbsError(actual, expected), Infinity);
  }
  const worst = assertWorstError([good, bad], 0.1);
  assert.equal(worst.name, 'bad');
  assert.ok(Math.abs(worst.err - 0.05) < 1e-12, `${worst.err}`);
  assert.throws(() => assertWorstError([good, bad], 0.01), /bad: relative error 5\.00e-2 > 0\.01/);
  assert.throws(() => assertWorstError([good, bad], 0.01, 'absolute'), /bad: absolute error 1\.00e-1 > 0\.01/);
  assert.throws(() => worstError([{ name: 'zeros', actual: [0], expected: [0] }]), /zeros: the expected tensor is all zeros/);
  assert.throws(() => worstError([{ name: 'short', actual: [0], expected: [1, 2] }]), /short: tensors of different sizes/);
});
