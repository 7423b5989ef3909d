/** An error a person reads: what went wrong (with the value) and what to do about it. */
export class PlatformError extends Error {
  override readonly name = 'PlatformError';

  constructor(
    message: string,
    readonly fix: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Two lines for a terminal: the problem, then the fix. */
  format(): string {
    return `error: ${this.message}\n  fix: ${this.fix}`;
  }
}
