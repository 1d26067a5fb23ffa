import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markHandled } from './markHandled.js';

test('markHandled: a promise rejecting before it is awaited is not an unhandled rejection, and the await still throws', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const ahead = markHandled(Promise.reject(new Error('bad image in the next batch')));
    // Busy with the current batch for a while: long enough for Node to notice an unhandled rejection.
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(ahead, /bad image in the next batch/);
    // Without markHandled, Node reports the rejection during the wait (what crashed
    // `tlkit extract` on a bad image in the second batch); the test runner fails the test too.
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
