import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

import { RedisTimeoutError, within } from '../src/cache/redis-cache.js';
import { loadConfig } from '../src/config.js';
import { testEnv } from './support/app.js';

const redis = new Redis(loadConfig(testEnv()).redisUrl, { maxRetriesPerRequest: 1 });
afterAll(() => redis.disconnect());

/** Holds the event loop, as a burst of requests does under overload. */
function blockLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy on purpose
  }
}

describe('the cache’s Redis time budget on real Redis', () => {
  it('does not count event-loop lag as Redis being slow: a reply that arrived in time is read', async () => {
    await redis.set('within-lag', 'here');
    const answer = within(redis.get('within-lag'), 20, 'lookup');
    // the reply arrives while the loop is held past the budget; the timer is due when it frees
    blockLoop(150);
    await expect(answer).resolves.toBe('here');
  });

  it('still times out a Redis that does not answer', async () => {
    const never = new Promise<string>(() => undefined);
    await expect(within(never, 20, 'lookup')).rejects.toThrow(
      new RedisTimeoutError('redis lookup took longer than 20 ms'),
    );
  });
});
