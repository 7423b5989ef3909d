import { chmodSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, test } from 'vitest';

import { removeDirectory } from '../src/platform/accounts.js';
import { freePort } from '../src/platform/ports.js';
import { silentProgress } from '../src/platform/progress.js';
import { postgresService } from '../src/platform/services/postgres.js';
import { redisService } from '../src/platform/services/redis.js';
import { Supervisor } from '../src/platform/supervisor.js';

// A checkout under a folder only its owner may enter, as `mktemp -d` makes (CI clones into one).
const checkout = mkdtempSync(join(tmpdir(), 'slipway-private-'));
chmodSync(checkout, 0o700);
const supervisor = new Supervisor(join(checkout, 'state.json'), join(checkout, 'logs'), silentProgress);

afterAll(async () => {
  await supervisor.stopAll();
  removeDirectory(join(checkout, 'postgres', 'data'));
  removeDirectory(join(checkout, 'redis', 'data'));
  rmSync(checkout, { recursive: true, force: true });
});

describe('servers whose data folder sits in a private checkout', () => {
  const asRoot = process.getuid?.() === 0;

  test('PostgreSQL initialises, starts and answers', async () => {
    const postgres = postgresService({
      dir: join(checkout, 'postgres'),
      host: '127.0.0.1',
      port: await freePort(),
      portEnv: 'none',
      databases: ['probe'],
      disposable: true,
      fresh: true,
    });
    await supervisor.start(postgres);
    const client = new pg.Client({ connectionString: postgres.connectionString('probe') });
    await client.connect();
    const { rows } = await client.query<{ one: number }>('SELECT 1 AS one');
    await client.end();
    expect(rows[0]?.one).toBe(1);
    // as root the server runs as 'postgres', which cannot enter the checkout: the data moved out, behind a link
    expect(lstatSync(join(checkout, 'postgres', 'data')).isSymbolicLink()).toBe(asRoot);
  });

  test('Redis starts with its config and answers', async () => {
    const redis = redisService({
      dir: join(checkout, 'redis'),
      host: '127.0.0.1',
      port: await freePort(),
      portEnv: 'none',
      disposable: true,
      fresh: true,
    });
    await supervisor.start(redis);
    const client = new Redis(redis.connectionUrl, { lazyConnect: true });
    await client.connect();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
    expect(lstatSync(join(checkout, 'redis', 'data')).isSymbolicLink()).toBe(asRoot);
  });
});
