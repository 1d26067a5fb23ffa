/**
 * A problem with what the user gave us (arguments, data, weights files).
 * The CLI prints `message` alone (no stack) and exits with status 2.
 * Messages name the file or value, what was expected, what was received, and the fix.
 */
export class UserError extends Error {
  override name = 'UserError';
  constructor(message: string) {
    super(message);
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError || (e instanceof Error && e.name === 'UserError');
}
