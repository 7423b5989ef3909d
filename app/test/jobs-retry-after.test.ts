import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { JobQueues, recordDrained } from '../src/components/jobs/queues.js';
import { loadConfig } from '../src/config.js';
import { testEnv } from './support/app.js';
import { startPrivateRedis } from './support/private-redis.js';
import type { PrivateRedis } from './support/private-redis.js';
import { scopeDir } from '@slipway/pipelines/platform/paths';
import { join } from 'node:path';
import { rmSync } from 'node:fs';

const dir = join(scopeDir('test'), `run-${process.pid}-jobs-retry-after`);
const started: { redis?: PrivateRedis; client?: Redis; queues?: JobQueues } = {};

beforeAll(async () => {
  started.redis = await startPrivateRedis(dir);
  started.client = new Redis(started.redis.url);
  started.queues = new JobQueues(loadConfig(testEnv({ REDIS_URL: started.redis.url, JOB_QUEUE_LIMIT: '500' })));
}, 30_000);

afterAll(async () => {
  await started.queues?.close();
  started.client?.disconnect();
  await started.redis?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Retry-After at the backlog limit', () => {
  // A whole 10-second bucket boundary, so the window is exactly 50 s of finished buckets.
  const now = 1_800_000_000_000;

  it('is the excess over the limit divided by the jobs finished per second over the last minute', async () => {
    const { client, queues } = started;
    if (client === undefined || queues === undefined) throw new Error('beforeAll did not start');
    for (let index = 0; index < 60; index += 1) await recordDrained(client, 'invoices', now - 10_000);
    // 60 jobs in 50 s is 1.2 per second; 60 waiting above the limit drain in 50 s.
    expect(await queues.retryAfterSeconds('invoices', 559, now)).toBe(50);
    expect(await queues.retryAfterSeconds('invoices', 500, now)).toBe(1);
  });

  it('asks for 300 s when nothing finished in the last minute (no worker draining)', async () => {
    const { queues } = started;
    if (queues === undefined) throw new Error('beforeAll did not start');
    expect(await queues.retryAfterSeconds('email', 600, now)).toBe(300);
  });
});
