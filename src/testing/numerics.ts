import assert from 'node:assert/strict';

/**
 * Error measures for parity tests, NaN-proof: a NaN or an infinity on either side counts as
 * an infinite error, never as a number that compares false both ways (a NaN sorted by
 * `b.err - a.err` can land anywhere; `if (d > max) max = d` drops it). Tests that take the
 * worst of several tensors use `assertWorstError`, whose message names the tensor.
 */

export type ErrorMeasure = 'relative' | 'absolute';

/** A tensor (or any array of numbers) and the reference it must match. */
export interface Compared {
  name: string;
  actual: ArrayLike<number>;
  expected: ArrayLike<number>;
}

/** One comparison's error; `nonFinite` says which element was NaN or infinite, if one was. */
export interface Measured {
  name: string;
  err: number;
  nonFinite?: string;
}

function measure(c: Compared, kind: ErrorMeasure): Measured {
  const { name, actual, expected } = c;
  assert.equal(actual.length, expected.length, `${name}: tensors of different sizes`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Number.isFinite(a) || !Number.isFinite(e)) return { name, err: Infinity, nonFinite: `actual[${i}] = ${a}, expected[${i}] = ${e}` };
    diff = Math.max(diff, Math.abs(a - e));
    scale = Math.max(scale, Math.abs(e));
  }
  if (kind === 'absolute') return { name, err: diff };
  // A tensor of zeros fails: comparing against it would prove nothing.
  assert.ok(scale > 0, `${name}: the expected tensor is all zeros`);
  return { name, err: diff / scale };
}

/**
 * max |actual - expected| / max |expected|: the error relative to the tensor's scale
 * (elementwise ratios blow up near zero). Infinity when any value on either side is NaN or
 * infinite. A tensor of zeros fails: comparing against it would prove nothing.
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  return measure({ name: 'tensor', actual, expected }, 'relative').err;
}

/** max |actual - expected|; Infinity when any value on either side is NaN or infinite. */
export function maxAbsError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  return measure({ name: 'tensor', actual, expected }, 'absolute').err;
}

/** The worst comparison of `tensors` (the first of equals), a non-finite value counting as an infinite error. */
export function worstError(tensors: readonly Compared[], kind: ErrorMeasure = 'relative'): Measured {
  assert.ok(tensors.length > 0, 'nothing to compare');
  let worst: Measured | undefined;
  for (const c of tensors) {
    const m = measure(c, kind);
    if (!worst || m.err > worst.err) worst = m;
  }
  return worst!;
}

/**
 * Asserts the worst error of `tensors` is at most `tolerance`, the failure naming the tensor
 * (and the NaN or infinite element, if that is why); returns the worst for logging.
 */
export function assertWorstError(tensors: readonly Compared[], tolerance: number, kind: ErrorMeasure = 'relative'): Measured {
  const worst = worstError(tensors, kind);
  assert.ok(worst.nonFinite === undefined, `${worst.name}: non-finite value (${worst.nonFinite})`);
  assert.ok(worst.err <= tolerance, `${worst.name}: ${kind} error ${worst.err.toExponential(2)} > ${tolerance}`);
  return worst;
}
