/**
 * For a promise started now and awaited later (a batch decoded ahead while the
 * current one runs). If it rejects before the `await` is reached, Node counts the
 * rejection as unhandled and exits with a stack trace (the tfjs wasm backend's
 * handler even rethrows it), so a bad image became a crash instead of a UserError.
 * A no-op handler marks it handled; the later `await` still receives the error.
 */
export function markHandled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
