import assert from 'node:assert/strict';
import { isUserError } from '../errors.js';

/** `fn` throws a UserError whose message matches `message` and is one line (what the CLI prints). */
export function throwsUserError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isUserError(e), `expected a UserError, got ${e}`);
    assert.match((e as Error).message, message);
    assert.doesNotMatch((e as Error).message, /\n/);
    return true;
  });
}
