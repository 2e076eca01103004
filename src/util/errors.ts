/**
 * An error caused by the user's input or environment (a file, a setting, a missing package), as
 * opposed to a bug. The command line prints its message as one line and exits non-zero, without a
 * stack trace. The message names what was wrong, what was found and what was expected.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Throws a UserError unless `condition` holds. */
export function requireThat(condition: boolean, message: string): asserts condition {
  if (!condition) throw new UserError(message);
}
