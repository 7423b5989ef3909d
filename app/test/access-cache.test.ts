import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createAccessComponent } from '../src/components/access/index.js';
import { ACCESS_KEY_PREFIX, PermissionCache } from '../src/components/access/cache.js';
import type { PermissionCacheOptions } from '../src/components/access/cache.js';
import { createAuthComponent } from '../src/components/auth/index.js';
import { createCatalogRouter } from '../src/components/catalog/routes.js';
import type { Database, Queryable, QueryParams, QueryResultRow } from '../src/db/pool.js';
import { createLogger } from '../src/logger.js';
import { Metrics } from '../src/observability/metrics.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';
import { call, grantAccountRole, registerAccount, signIn } from './support/auth.js';
import { migrateSharedDatabase } from './support/database.js';
import { insertUser, testDb } from './support/db.js';
import { CapturedLogs } from './support/logs.js';
import { blackhole } from './support/net.js';
import type { Listening } from './support/net.js';
import { parseExposition, sampleValue } from './support/prometheus.js';
import { RedisClients } from './support/redis-clients.js';
import { testServices } from './support/services.js';

const CUSTOMER_PERMISSIONS = ['orders:cancel_own', 'orders:create', 'orders:read_own', 'products:read'];

let db: Database;
let redis: Redis;
const clients = new RedisClients();

beforeAll(async () => {
  await migrateSharedDatabase();
  ({ db } = testDb(testServices().postgres.url));
  redis = await clients.ready(testServices().redis.url);
});

afterAll(async () => {
  clients.disconnectAll();
  redis.disconnect();
  await db.end();
});

/** A customer in the shared database, with no cached permissions yet. */
async function newCustomer(): Promise<string> {
  const userId = await insertUser(db, 'cache');
  await grantAccountRole(db, userId, 'customer');
  return userId;
}

function cacheUnder(options: Partial<PermissionCacheOptions> = {}) {
  const logs = new CapturedLogs();
  const metrics = new Metrics({ defaultMetrics: false });
  const cache = new PermissionCache({
    db,
    redis,
    metrics,
    logger: createLogger({ logLevel: 'debug', appEnv: 'dev' }, logs),
    ...options,
  });
  const count = async (cacheName: string, result: string): Promise<number> =>
    sampleValue(parseExposition((await metrics.exposition()).body), 'cache_operations_total', {
      cache: cacheName,
      result,
    }) ?? 0;
  return { cache, logs, count };
}

/** The database queries `work` ran through `q`, by operation label. */
async function queriesDuring(work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const stop = db.onQuery((event) => seen.push(event.operation));
  try {
    await work();
  } finally {
    stop();
  }
  return seen;
}

describe('PermissionCache on a healthy Redis', () => {
  it('reads the database once, then answers from Redis with no query', async () => {
    const { cache, count } = cacheUnder();
    const userId = await newCustomer();

    const first = await queriesDuring(async () => {
      expect([...(await cache.permissionsOf(userId))].sort()).toEqual(CUSTOMER_PERMISSIONS);
    });
    expect(first).toEqual(['users.findProfile']);
    expect(await count('permissions', 'miss')).toBe(1);

    const second = await queriesDuring(async () => {
      expect([...(await cache.permissionsOf(userId))].sort()).toEqual(CUSTOMER_PERMISSIONS);
      expect(await cache.rolesOf(userId)).toEqual(['customer']);
    });
    expect(second).toEqual([]);
    expect(await count('permissions', 'hit')).toBe(1);
    expect(await count('roles', 'hit')).toBe(1);
    expect(await redis.ttl(`${ACCESS_KEY_PREFIX}${userId}:permissions`)).toBeGreaterThan(290);
    expect(await redis.ttl(`${ACCESS_KEY_PREFIX}${userId}:roles`)).toBeGreaterThan(590);
  });

  it('reads the database again after invalidateUsers, and sees the change', async () => {
    const { cache } = cacheUnder();
    const userId = await newCustomer();
    expect((await cache.permissionsOf(userId)).has('products:create')).toBe(false);
    await grantAccountRole(db, userId, 'manager');
    // Without invalidation the cached answer stands: the cache is really in the path.
    expect((await cache.permissionsOf(userId)).has('products:create')).toBe(false);
    await cache.invalidateUsers([userId]);
    expect((await cache.permissionsOf(userId)).has('products:create')).toBe(true);
    expect(await cache.rolesOf(userId)).toEqual(['customer', 'manager']);
  });

  it('does not let a lookup that read the database before a change cache the old answer after it', async () => {
    const userId = await newCustomer();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let readOld: () => void = () => undefined;
    const oldRead = new Promise<void>((resolve) => {
      readOld = resolve;
    });
    // The real database, with the answer of the first grants query held back until the change below is done.
    const slowFirstRead: Queryable = {
      query: async <Row extends QueryResultRow>(operation: string, sql: string, params?: QueryParams) => {
        const result = await db.query<Row>(operation, sql, params);
        if (operation === 'users.findProfile') {
          readOld();
          await held;
        }
        return result;
      },
    };
    const { cache } = cacheUnder({ db: slowFirstRead });
    const racing = cache.permissionsOf(userId);
    await oldRead;
    await grantAccountRole(db, userId, 'manager');
    await cache.invalidateUsers([userId]);
    release();
    expect((await racing).has('products:create')).toBe(false);

    const { cache: fresh } = cacheUnder();
    expect((await fresh.permissionsOf(userId)).has('products:create')).toBe(true);
  });

  it('warns once when the hit rate over the window falls below 70%, at most once per interval', async () => {
    let now = 0;
    const { cache, logs } = cacheUnder({ hitRate: { window: 10, warnEveryMs: 60_000 }, now: () => now });
    const users = await Promise.all(Array.from({ length: 12 }, () => newCustomer()));
    for (const userId of users) await cache.permissionsOf(userId);
    const warnings = () => logs.lines.filter((line) => line.event === 'cache.hit_rate_low');
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({
      level: 'warn',
      cache: 'permissions',
      hitRate: 0,
      window: 10,
      threshold: 0.7,
    });

    now += 60_001;
    await cache.permissionsOf(await newCustomer());
    expect(warnings()).toHaveLength(2);
  });

  it('does not warn while the hit rate stays at or above 70%', async () => {
    const { cache, logs } = cacheUnder({ hitRate: { window: 10 } });
    const [first, second, third] = [await newCustomer(), await newCustomer(), await newCustomer()];
    // 3 misses then 17 hits: every full window of the last 10 lookups is at least 70% hits.
    for (const userId of [first, second, third]) await cache.permissionsOf(userId);
    for (let i = 0; i < 17; i += 1) await cache.permissionsOf(first);
    expect(logs.lines.filter((line) => line.event === 'cache.hit_rate_low')).toEqual([]);
  });
});

describe('PermissionCache without a working Redis', () => {
  let hung: Listening;
  beforeAll(async () => {
    hung = await blackhole();
  });
  afterAll(async () => {
    await hung.close();
  });

  it('reads the database when Redis refuses connections, counting an error', async () => {
    const down = await clients.refused();
    const { cache, count, logs } = cacheUnder({ redis: down });
    const userId = await newCustomer();
    expect([...(await cache.permissionsOf(userId))].sort()).toEqual(CUSTOMER_PERMISSIONS);
    expect([...(await cache.permissionsOf(userId))].sort()).toEqual(CUSTOMER_PERMISSIONS);
    expect(await count('permissions', 'error')).toBe(2);
    // One warning for the outage, not one per lookup.
    expect(logs.lines.filter((line) => line.event === 'cache.redis_failed')).toHaveLength(1);
    // Invalidation cannot reach Redis either: logged, never thrown.
    await cache.invalidateUsers([userId]);
    expect(logs.lines.some((line) => line.event === 'cache.invalidation_failed')).toBe(true);
  });

  it('gives up on a Redis that accepts and never answers within the timeout, and reads the database', async () => {
    // No ready check: the client believes it is connected and sends commands that never get an answer.
    const stalled = await clients.ready(`redis://127.0.0.1:${hung.port}`, { readyCheck: false });
    const { cache, count } = cacheUnder({ redis: stalled, redisTimeoutMs: 75 });
    const userId = await newCustomer();
    const started = performance.now();
    expect([...(await cache.permissionsOf(userId))].sort()).toEqual(CUSTOMER_PERMISSIONS);
    const tookMs = performance.now() - started;
    expect(tookMs).toBeGreaterThanOrEqual(70);
    expect(tookMs).toBeLessThan(1_000);
    expect(await count('permissions', 'error')).toBe(1);
  });
});

describe('authorized requests when the permission cache Redis is away', () => {
  let hung: Listening;
  const apps: TestApp[] = [];
  beforeAll(async () => {
    hung = await blackhole();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await hung.close();
  });

  /** The real auth (on the healthy test Redis) in front of the catalog, with permissions cached in `cacheRedis`. */
  async function serviceWithCacheOn(cacheRedis: () => Redis): Promise<TestApp> {
    const app = await startTestApp({
      env: { TRUST_PROXY: '1' },
      routers: (deps) => {
        const auth = createAuthComponent(deps);
        const access = createAccessComponent({ ...deps, redis: cacheRedis(), authenticate: auth.authenticate });
        return [auth.router, createCatalogRouter({ db: deps.db, authenticate: auth.authenticate, ...access })];
      },
    });
    apps.push(app);
    return app;
  }

  async function customerToken(app: TestApp): Promise<string> {
    const account = await registerAccount(app.url);
    return (await signIn(app.url, account)).accessToken;
  }

  it('serves a customer from the database while the cache Redis refuses connections, and still refuses a write', async () => {
    const down = await clients.refused();
    const app = await serviceWithCacheOn(() => down);
    const token = await customerToken(app);
    for (let i = 0; i < 3; i += 1) {
      expect((await call(app.url, 'GET', '/api/v1/products', { token })).status).toBe(200);
    }
    const write = await call(app.url, 'POST', '/api/v1/products', {
      token,
      body: { sku: 'NOPE-1', name: 'Nope', price_cents: 1, stock: 1 },
    });
    expect(write.status).toBe(403);
    const samples = parseExposition((await app.metrics.exposition()).body);
    expect(sampleValue(samples, 'cache_operations_total', { cache: 'permissions', result: 'error' })).toBe(4);
  });

  it('answers within bounded time while the cache Redis accepts and never answers', async () => {
    const stalled = await clients.ready(`redis://127.0.0.1:${hung.port}`, { readyCheck: false });
    const app = await serviceWithCacheOn(() => stalled);
    const token = await customerToken(app);
    const started = performance.now();
    const reply = await call(app.url, 'GET', '/api/v1/products', { token });
    const tookMs = performance.now() - started;
    expect(reply.status).toBe(200);
    expect(tookMs).toBeLessThan(1_000);
  });
});
