import { once } from 'node:events';

import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Pool } from 'pg';

import { allUp, postgresCheck, redisCheck, runCheck, runChecks } from '../src/health.js';
import { freePort } from './support/net.js';
import { testServices } from './support/services.js';

const services = testServices();
const closers: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  await Promise.all(closers.map((close) => close()));
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('runCheck', () => {
  it('reports up with how long the answer took', async () => {
    const result = await runCheck(() => sleep(30), 1_000);
    expect(result.status).toBe('up');
    expect(result.durationMs).toBeGreaterThanOrEqual(25);
    expect(result.error).toBeUndefined();
  });

  it('reports down with the reason when the check rejects or throws', async () => {
    expect(await runCheck(() => Promise.reject(new Error('connection refused')), 1_000)).toMatchObject({
      status: 'down',
      error: 'connection refused',
    });
    const throwsAtOnce = (): Promise<void> => {
      throw new Error('no pool');
    };
    expect(await runCheck(throwsAtOnce, 1_000)).toMatchObject({ status: 'down', error: 'no pool' });
  });

  it('gives up on a check that never answers once the timeout passes', async () => {
    const started = performance.now();
    const result = await runCheck(() => new Promise(() => undefined), 150);
    const elapsed = performance.now() - started;
    expect(result).toMatchObject({ status: 'down', error: 'no answer within 150 ms' });
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(500);
  });
});

describe('runChecks', () => {
  it('runs checks in parallel and keys results by name', async () => {
    const started = performance.now();
    const results = await runChecks({ first: () => sleep(200), second: () => sleep(200) }, 1_000);
    expect(performance.now() - started).toBeLessThan(380);
    expect(Object.keys(results)).toEqual(['first', 'second']);
    expect(allUp(results)).toBe(true);
  });

  it('is not all up when one check is down', async () => {
    const results = await runChecks({ up: () => Promise.resolve(), down: () => Promise.reject(new Error('x')) }, 100);
    expect(allUp(results)).toBe(false);
    expect(results.up.status).toBe('up');
    expect(results.down.status).toBe('down');
  });
});

describe('dependency checks against real services', () => {
  it('postgresCheck is up against the test database', async () => {
    const pool = new Pool({ connectionString: services.postgres.url });
    closers.push(() => pool.end());
    expect((await runCheck(postgresCheck(pool), 2_000)).status).toBe('up');
  });

  it('postgresCheck is down when nothing listens on the port', async () => {
    const pool = new Pool({ connectionString: `postgres://nobody:pw@127.0.0.1:${await freePort()}/none` });
    pool.on('error', () => undefined);
    closers.push(() => pool.end());
    const result = await runCheck(postgresCheck(pool), 2_000);
    expect(result.status).toBe('down');
    expect(result.error).toMatch(/ECONNREFUSED/);
  });

  it('redisCheck is up against the test Redis', async () => {
    const redis = new Redis(services.redis.url, { maxRetriesPerRequest: 1 });
    closers.push(() => redis.quit());
    expect(await runCheck(redisCheck(redis), 2_000)).toMatchObject({
      status: 'down',
      error: expect.stringMatching(/^not connected/) as unknown,
    });
    await once(redis, 'ready');
    expect((await runCheck(redisCheck(redis), 2_000)).status).toBe('up');
  });
});
