import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

/**
 * What a test needs from the machine beyond npm's dependencies (Chromium, root for a
 * mount, a second local address). Where it is missing, a test must not pass silently:
 * under CI (`CI` set, as .ci/run sets it) it FAILS, saying what to install; elsewhere it
 * is skipped, and the skip says why and what to install.
 */
export interface Requirement {
  /** Why the test cannot run here, or false when it can. */
  missing: string | false;
  /** What to install or do to meet it, e.g. `apt-get install chromium`. */
  install: string;
}

/** True when the tests run under CI: a missing requirement fails instead of skipping. */
export function underCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/** The message for the first unmet requirement, or undefined when all are met. */
export function unmet(requirements: readonly Requirement[]): string | undefined {
  const r = requirements.find((q) => q.missing);
  return r ? `${r.missing}; to run this test: ${r.install}` : undefined;
}

/**
 * Call first in a test body (or where a requirement is probed at run time): when one of
 * `requirements` is unmet, fails the test under CI, else skips it with the reason and
 * returns true (the caller returns). Returns false when every requirement is met.
 */
export function skipOrFail(t: TestContext, ...requirements: Requirement[]): boolean {
  const why = unmet(requirements);
  if (why === undefined) return false;
  assert.ok(!underCi(), `${why} (CI is set: a missing requirement fails the test instead of skipping it)`);
  t.skip(why);
  return true;
}

/** A test body that runs only where `requirements` are met (see skipOrFail): `test(name, requiring([CHROMIUM], async () => ...))`. */
export function requiring(
  requirements: Requirement | readonly Requirement[],
  fn: (t: TestContext) => unknown,
): (t: TestContext) => Promise<void> {
  const all = Array.isArray(requirements) ? requirements : [requirements as Requirement];
  return async (t) => {
    if (skipOrFail(t, ...all)) return;
    await fn(t);
  };
}
