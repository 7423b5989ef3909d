import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { scopeDir } from '@slipway/pipelines/platform/paths';
import { testEnv } from './support/app.js';
import { call, registerAccount, signIn } from './support/auth.js';
import type { Account, Tokens } from './support/auth.js';
import { migrateSharedDatabase } from './support/database.js';
import { sampleValue, scrape } from './support/prometheus.js';
import { unique } from './support/db.js';
import { freePort } from './support/net.js';
import { startPrivateRedis } from './support/private-redis.js';
import type { PrivateRedis } from './support/private-redis.js';
import { spawnServer, statusOf, waitFor, waitUntilReady } from './support/server-process.js';
import type { ServerProcess } from './support/server-process.js';
import { testServices } from './support/services.js';

// A run-* folder, so the harness's sweep stops this Redis if the worker dies before afterAll.
const dir = join(scopeDir('test'), `run-${process.pid}-fault-redis`);
// Filled as things start, so afterAll stops exactly what did start, even when beforeAll failed halfway.
const started: { redis?: PrivateRedis; server?: ServerProcess } = {};

afterAll(async () => {
  await started.server?.kill();
  await started.redis?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function insertProduct(): Promise<string> {
  const client = new Client({ connectionString: testServices().postgres.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(
      "INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, 'Redis fault widget', 990, 50) RETURNING id",
      [unique('SKU').replace(/[^A-Za-z0-9._-]/g, '')],
    );
    return (rows[0] as { id: string }).id;
  } finally {
    await client.end();
  }
}

describe('Redis stopped under a running server process', () => {
  let redis: PrivateRedis;
  let server: ServerProcess;
  let account: Account;
  let tokens: Tokens;
  let productId: string;
  let orderId: string;

  beforeAll(async () => {
    await migrateSharedDatabase();
    redis = started.redis = await startPrivateRedis(dir);
    server = started.server = spawnServer(
      await freePort(),
      testEnv({ REDIS_URL: redis.url, LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '0' }),
    );
    await waitUntilReady(server);
    account = await registerAccount(server.url);
    tokens = await signIn(server.url, account);
    productId = await insertProduct();
    const placed = await call(server.url, 'POST', '/api/v1/orders', {
      token: tokens.accessToken,
      body: { items: [{ product_id: productId, quantity: 2 }] },
    });
    if (placed.status !== 201)
      throw new Error(`placing the order answered ${placed.status}: ${JSON.stringify(placed.body)}`);
    orderId = placed.body.id as string;
  });

  /** Every authenticated read of the public API a customer may make, with the status each answered. */
  async function reads(token: string): Promise<Record<string, number>> {
    const { url } = server;
    const paths = [
      '/api/v1/auth/me',
      '/api/v1/products?limit=5',
      `/api/v1/products/${productId}`,
      '/api/v1/orders',
      `/api/v1/orders/${orderId}`,
    ];
    const replies = await Promise.all(paths.map((path) => call(url, 'GET', path, { token })));
    return Object.fromEntries(paths.map((path, index) => [path, replies[index]?.status ?? 0]));
  }

  const allOk = (statuses: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.keys(statuses).map((path) => [path, 200]));

  it('keeps answering authenticated product and order reads from PostgreSQL, and recovers', async () => {
    const { url } = server;
    const store = redis;
    const warm = await reads(tokens.accessToken);
    expect(warm).toEqual(allOk(warm));
    // Read twice, so whatever the guards cache in Redis (revocations, permissions) is cached before it goes.
    expect(await reads(tokens.accessToken)).toEqual(allOk(warm));

    await store.stop();
    const stoppedAt = Date.now();
    const readiness = async (): Promise<{ status: number; body: unknown }> => {
      const response = await fetch(`${url}/health/ready`);
      return { status: response.status, body: await response.json() };
    };
    await waitFor('readiness to report Redis down', async () => {
      const { body } = await readiness();
      return (body as { checks?: { redis?: { status?: string } } }).checks?.redis?.status === 'down' ? true : undefined;
    });
    // The pod stays in rotation: the database fallback serves every request below.
    expect(await readiness()).toMatchObject({
      status: 200,
      body: { status: 'degraded', checks: { redis: { status: 'down' }, postgres: { status: 'up' } } },
    });
    expect(sampleValue(await scrape(url), 'health_check_up', { check: 'redis' })).toBe(0);
    console.info(`redis fault: readiness degraded (200) ${Date.now() - stoppedAt} ms after Redis exited`);

    // The token signed before the outage, then one signed during it: both read everything they may.
    for (let round = 0; round < 3; round += 1) expect(await reads(tokens.accessToken)).toEqual(allOk(warm));
    const duringOutage = await signIn(url, account);
    expect(await reads(duringOutage.accessToken)).toEqual(allOk(warm));
    const order = await call(url, 'GET', `/api/v1/orders/${orderId}`, { token: duringOutage.accessToken });
    expect(order.body).toMatchObject({
      id: orderId,
      user_id: account.id,
      items: [{ product_id: productId, quantity: 2 }],
    });
    // Without a token the guard still says no: the outage opens nothing.
    expect((await call(url, 'GET', `/api/v1/orders/${orderId}`)).status).toBe(401);
    expect(await statusOf(`${url}/health/live`)).toBe(200);
    // The reads above did go to Redis first and fell back: each cache in front of a guard counts its errors.
    const fellBack = (await scrape(url))
      .filter(
        (sample) => sample.name === 'cache_operations_total' && sample.labels.result === 'error' && sample.value > 0,
      )
      .map((sample) => sample.labels.cache);
    console.info(`redis fault: caches that fell back to PostgreSQL: ${fellBack.join(', ')}`);
    expect(fellBack).toEqual(expect.arrayContaining(['revoked_access_tokens', 'permissions']));
    // stdout reaches the test through a pipe: the line may trail the requests above on a loaded machine
    const outage = 'redis unavailable; reconnecting in the background';
    await waitFor(`the "${outage}" log line`, () =>
      Promise.resolve(server.logs().some((line) => line.msg === outage) ? true : undefined),
    );

    await store.start();
    const restartedAt = Date.now();
    await waitFor(
      'readiness to report ready after Redis came back',
      async () => ((await readiness()).body as { status?: string }).status === 'ready' || undefined,
      15_000,
    );
    expect(sampleValue(await scrape(url), 'health_check_up', { check: 'redis' })).toBe(1);
    console.info(`redis fault: readiness back to ready ${Date.now() - restartedAt} ms after Redis answered`);
    expect(await reads(tokens.accessToken)).toEqual(allOk(warm));
    expect(server.child.exitCode).toBeNull();
  });
});
