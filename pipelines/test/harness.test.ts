import { readFileSync } from 'node:fs';

import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, inject, test } from 'vitest';

import { MIN_POSTGRES_MAJOR } from '../src/platform/services/postgres.js';
import { MIN_REDIS_MAJOR } from '../src/platform/services/redis.js';
import '../src/testing/services.js';

const services = inject('services');

/** Real uid of a process, from /proc. */
function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Uid:'));
  return Number(line?.split(/\s+/)[1]);
}

describe('test services started by the global setup', () => {
  test(`PostgreSQL ${MIN_POSTGRES_MAJOR}+ answers on loopback, with a password, and not as root`, async () => {
    expect(services.postgres.host).toBe('127.0.0.1');
    expect(services.postgres.port).not.toBe(5432);
    const client = new pg.Client({ connectionString: services.postgres.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ user: string; version: string }>(
        "SELECT current_user AS user, current_setting('server_version_num') AS version",
      );
      expect(rows[0]?.user).toBe(services.postgres.user);
      expect(Number(rows[0]?.version)).toBeGreaterThanOrEqual(MIN_POSTGRES_MAJOR * 10_000);
    } finally {
      await client.end();
    }
    expect(uidOf(services.postgres.pid)).not.toBe(0);

    const withoutPassword = new pg.Client({
      host: services.postgres.host,
      port: services.postgres.port,
      user: services.postgres.user,
      database: 'postgres',
      password: 'wrong',
    });
    await expect(withoutPassword.connect()).rejects.toThrow(/password authentication failed/);
  });

  test(`Redis ${MIN_REDIS_MAJOR}+ answers on loopback and requires its password`, async () => {
    expect(services.redis.port).not.toBe(6379);
    const client = new Redis(services.redis.url, { lazyConnect: true });
    await client.connect();
    try {
      const info = await client.info('server');
      const major = Number(/redis_version:(\d+)/.exec(info)?.[1]);
      expect(major).toBeGreaterThanOrEqual(MIN_REDIS_MAJOR);
    } finally {
      client.disconnect();
    }
    const anonymous = new Redis({
      host: services.redis.host,
      port: services.redis.port,
      lazyConnect: true,
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
    });
    anonymous.on('error', () => undefined);
    try {
      await anonymous.connect();
      await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
    } finally {
      anonymous.disconnect();
    }
  });

  test('the redis password is not on its command line', () => {
    const argv = readFileSync(`/proc/${services.redis.pid}/cmdline`, 'utf8');
    const password = new URL(services.redis.url).password;
    expect(password.length).toBeGreaterThan(10);
    expect(argv).not.toContain(decodeURIComponent(password));
  });
});
