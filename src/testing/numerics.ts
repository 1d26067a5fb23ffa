import assert from 'node:assert/strict';

/**
 * max |actual - expected| / max |expected|: the error relative to the tensor's scale
 * (elementwise ratios blow up near zero). A tensor of zeros fails: comparing against it
 * would prove nothing.
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, 'tensors of different sizes');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  assert.ok(scale > 0, 'the expected tensor is all zeros');
  return diff / scale;
}
