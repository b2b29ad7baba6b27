/**
 * A mistake in what the caller asked for (bad spec, bad parameter, unwritable path, exhausted
 * budget). The CLI prints its message on one line and exits with code 2; library callers can
 * tell it apart from bugs with `instanceof UsageError`.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
