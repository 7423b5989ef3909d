import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** How long to keep asking before failing; 10 s unless told. */
  readonly timeoutMs?: number;
  /** Pause between two checks; 50 ms unless told. */
  readonly intervalMs?: number;
  /** What was seen instead, appended to the timeout error (output so far, the last value). */
  readonly seen?: () => string;
}

/**
 * Polls `check` until it returns something other than undefined or false, and returns that: the wait a test means
 * instead of a fixed sleep. Fails naming `what` once `timeoutMs` has passed; an error `check` throws ends the wait
 * at once (a process that exited will not come up).
 */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) {
      const seen = options.seen?.();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen === undefined ? '' : `; ${seen}`}`);
    }
    await sleep(intervalMs);
  }
}
