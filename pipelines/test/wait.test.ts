import { describe, expect, test } from 'vitest';

import { waitUntil } from '../src/testing/wait.js';

describe('waitUntil', () => {
  test('returns the first value the check gives that is neither undefined nor false', async () => {
    let calls = 0;
    const value = await waitUntil('the third call', () => (++calls === 3 ? `call ${calls}` : undefined), {
      intervalMs: 1,
    });
    expect(value).toBe('call 3');
    expect(await waitUntil('a true check', async () => Promise.resolve(true))).toBe(true);
  });

  test('fails after the timeout, naming what it waited for and what it saw', async () => {
    await expect(
      waitUntil('the flag', () => false, { timeoutMs: 30, intervalMs: 5, seen: () => 'flag=off' }),
    ).rejects.toThrow('timed out after 30 ms waiting for the flag; flag=off');
  });

  test('ends at once when the check throws', async () => {
    const started = Date.now();
    await expect(
      waitUntil(
        'a process that exited',
        () => {
          throw new Error('exited with 1');
        },
        { timeoutMs: 5_000 },
      ),
    ).rejects.toThrow('exited with 1');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
