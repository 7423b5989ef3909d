import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { ACCESS_KEY_PREFIX, PermissionCache } from '../src/components/access/cache.js';
import { REVOKED_ACCESS_KEY_PREFIX } from '../src/components/auth/authenticator.js';
import { createOrderService } from '../src/components/catalog/orders/service.js';
import { PRODUCT_KEY_PREFIX, PRODUCT_TTL_SECONDS, ProductCache } from '../src/components/catalog/products/cache.js';
import type { ProductCacheOptions } from '../src/components/catalog/products/cache.js';
import { createProductService } from '../src/components/catalog/products/service.js';
import type { Product } from '../src/components/catalog/products/service.js';
import { createComponents } from '../src/components/index.js';
import type { Database } from '../src/db/pool.js';
import { createLogger } from '../src/logger.js';
import { Metrics } from '../src/observability/metrics.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';
import { call, grantAccountRole, registerAccount, signIn } from './support/auth.js';
import { migrateSharedDatabase } from './support/database.js';
import { insertUser, testDb, unique } from './support/db.js';
import { CapturedLogs } from './support/logs.js';
import { blackhole } from './support/net.js';
import type { Listening } from './support/net.js';
import { parseExposition, sampleValue } from './support/prometheus.js';
import { RedisClients } from './support/redis-clients.js';
import { testServices } from './support/services.js';

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

/** The product and order services on one product cache, with its metrics and logs. */
function catalogueUnder(options: Partial<ProductCacheOptions> = {}) {
  const logs = new CapturedLogs();
  const metrics = new Metrics({ defaultMetrics: false });
  const cache = new ProductCache({
    redis,
    metrics,
    logger: createLogger({ logLevel: 'debug', appEnv: 'dev' }, logs),
    ...options,
  });
  const count = async (result: string, cacheName = 'products'): Promise<number> =>
    sampleValue(parseExposition((await metrics.exposition()).body), 'cache_operations_total', {
      cache: cacheName,
      result,
    }) ?? 0;
  return {
    cache,
    metrics,
    logs,
    count,
    products: createProductService(db, cache),
    orders: createOrderService(db, cache),
  };
}

/** The database queries `work` ran, by operation label. */
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

/** A product written straight to the database, so no cache knows it yet. */
async function newProduct(stock = 10): Promise<Product> {
  return createProductService(db).create({ sku: unique('CACHE'), name: 'Cached part', priceCents: 990, stock });
}

/** Changes a product behind the services' back: a cached read keeps the old value until invalidated. */
async function renameInDatabase(id: string, name: string): Promise<void> {
  await db.query('test.renameProduct', 'UPDATE products SET name = $2 WHERE id = $1', [id, name]);
}

describe('ProductCache on a healthy Redis', () => {
  it('reads the database once, then answers from Redis with no query and the same product', async () => {
    const { products, count } = catalogueUnder();
    const product = await newProduct();

    const first = await queriesDuring(async () => expect(await products.get(product.id)).toEqual(product));
    expect(first).toEqual(['products.get']);
    expect(await count('miss')).toBe(1);

    let cached: Product | undefined;
    const second = await queriesDuring(async () => {
      cached = await products.get(product.id);
    });
    expect(second).toEqual([]);
    expect(cached).toEqual(product);
    expect(cached?.createdAt).toBeInstanceOf(Date);
    expect(await count('hit')).toBe(1);
    const ttl = await redis.ttl(`${PRODUCT_KEY_PREFIX}${product.id}`);
    expect(ttl).toBeGreaterThan(PRODUCT_TTL_SECONDS - 10);
    expect(ttl).toBeLessThanOrEqual(PRODUCT_TTL_SECONDS);
  });

  it('does not cache a product that does not exist', async () => {
    const { products, count } = catalogueUnder();
    const missing = '0b6a8a56-3a6b-4f43-9c6e-2f6d3b9d2e71';
    await expect(products.get(missing)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await redis.exists(`${PRODUCT_KEY_PREFIX}${missing}`)).toBe(0);
    expect(await count('miss')).toBe(1);
  });

  it('serves the cached row until an update through the service invalidates it', async () => {
    const { products } = catalogueUnder();
    const product = await newProduct();
    await products.get(product.id);
    await renameInDatabase(product.id, 'Renamed behind the cache');
    // The cache is really in the path: the database change is not seen yet.
    expect((await products.get(product.id)).name).toBe('Cached part');

    await products.update(product.id, { priceCents: 1234 });
    expect(await products.get(product.id)).toMatchObject({ name: 'Renamed behind the cache', priceCents: 1234 });
    await products.adjustStock(product.id, -3);
    expect((await products.get(product.id)).stock).toBe(7);
  });

  it('invalidates even when the update is refused, so a read never depends on the outcome', async () => {
    const { products } = catalogueUnder();
    const product = await newProduct(2);
    await products.get(product.id);
    await renameInDatabase(product.id, 'Renamed before a refused update');
    await expect(products.adjustStock(product.id, -5)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await products.get(product.id)).name).toBe('Renamed before a refused update');
  });

  it('shows the stock an order took, and the stock its cancellation gave back', async () => {
    const { products, orders } = catalogueUnder();
    const [first, second] = [await newProduct(10), await newProduct(5)];
    expect((await products.get(first.id)).stock).toBe(10);
    expect((await products.get(second.id)).stock).toBe(5);
    const userId = await insertUser(db, 'cache-buyer');

    const order = await orders.createOrder(userId, [
      { productId: first.id, quantity: 4 },
      { productId: second.id, quantity: 2 },
    ]);
    expect((await products.get(first.id)).stock).toBe(6);
    expect((await products.get(second.id)).stock).toBe(3);

    await orders.cancelOrder(userId, order.id);
    expect((await products.get(first.id)).stock).toBe(10);
    expect((await products.get(second.id)).stock).toBe(5);
  });

  it('does not let a read that loaded the row before a write cache the old row after it', async () => {
    const { cache } = catalogueUnder();
    const product = await newProduct();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let loadedOld: () => void = () => undefined;
    const oldLoaded = new Promise<void>((resolve) => {
      loadedOld = resolve;
    });
    // The first read loads the old row, then waits until the write and its invalidation are done.
    const slowRead = cache.read(product.id, async () => {
      const old = await createProductService(db).get(product.id);
      loadedOld();
      await held;
      return old;
    });
    await oldLoaded;
    await renameInDatabase(product.id, 'Written during the slow read');
    await cache.invalidate([product.id]);
    release();
    expect((await slowRead)?.name).toBe('Cached part');
    expect(await redis.exists(`${PRODUCT_KEY_PREFIX}${product.id}`)).toBe(0);
    const fresh = await cache.read(product.id, () => createProductService(db).get(product.id));
    expect(fresh?.name).toBe('Written during the slow read');
  });

  it('treats a corrupt entry as a miss and overwrites it', async () => {
    const { products, count } = catalogueUnder();
    const product = await newProduct();
    await redis.set(`${PRODUCT_KEY_PREFIX}${product.id}`, '{"not":"a product"', 'EX', 60);
    expect(await products.get(product.id)).toEqual(product);
    expect(await count('miss')).toBe(1);
    expect(await products.get(product.id)).toEqual(product);
    expect(await count('hit')).toBe(1);
  });
});

describe('ProductCache when Redis is away', () => {
  let hung: Listening;
  beforeAll(async () => {
    hung = await blackhole();
  });
  afterAll(async () => {
    await hung.close();
  });

  it('reads the database when Redis refuses connections, counting errors, warning once, never failing a write', async () => {
    const down = await clients.refused();
    const { products, orders, count, logs } = catalogueUnder({ redis: down });
    const product = await newProduct(3);

    const reads = await queriesDuring(async () => {
      expect(await products.get(product.id)).toEqual(product);
      expect(await products.get(product.id)).toEqual(product);
    });
    expect(reads).toEqual(['products.get', 'products.get']);
    expect(await count('error')).toBe(2);
    expect(logs.lines.filter((line) => line.event === 'cache.redis_failed')).toHaveLength(1);

    // Writes still succeed; the failed invalidation is logged with what it means.
    expect((await products.adjustStock(product.id, -1)).stock).toBe(2);
    await orders.createOrder(await insertUser(db, 'cache-buyer'), [{ productId: product.id, quantity: 1 }]);
    expect((await products.get(product.id)).stock).toBe(1);
    const failures = logs.lines.filter((line) => line.event === 'cache.invalidation_failed');
    expect(failures).toHaveLength(2);
    expect(failures[0]).toMatchObject({ level: 'error', cache: 'products', productIds: [product.id] });
  });

  it('gives up on a Redis that never answers within the timeout and reads the database', async () => {
    const stalled = await clients.ready(`redis://127.0.0.1:${hung.port}`, { readyCheck: false });
    const { products, count } = catalogueUnder({ redis: stalled, redisTimeoutMs: 75 });
    const product = await newProduct();
    const started = performance.now();
    expect(await products.get(product.id)).toEqual(product);
    const tookMs = performance.now() - started;
    expect(tookMs).toBeGreaterThanOrEqual(70);
    expect(tookMs).toBeLessThan(1_000);
    expect(await count('error')).toBe(1);
  });
});

describe('the account status authentication reads from the permission cache', () => {
  function cacheUnder(cacheRedis: Redis = redis) {
    const metrics = new Metrics({ defaultMetrics: false });
    const cache = new PermissionCache({
      db,
      redis: cacheRedis,
      metrics,
      logger: createLogger({ logLevel: 'debug', appEnv: 'dev' }, new CapturedLogs()),
      redisTimeoutMs: 75,
    });
    const count = async (result: string): Promise<number> =>
      sampleValue(parseExposition((await metrics.exposition()).body), 'cache_operations_total', {
        cache: 'accounts',
        result,
      }) ?? 0;
    return { cache, count };
  }

  it('reads the active flag once from the database, then from Redis with the companion key', async () => {
    const { cache, count } = cacheUnder();
    const userId = await insertUser(db, 'status');
    const marker = `${REVOKED_ACCESS_KEY_PREFIX}${unique('jti')}`;

    const first = await queriesDuring(async () =>
      expect(await cache.accountStatus(userId, marker)).toEqual({ active: true, alongside: null }),
    );
    expect(first).toEqual(['users.findProfile']);
    await redis.set(marker, '1', 'EX', 60);
    const second = await queriesDuring(async () =>
      expect(await cache.accountStatus(userId, marker)).toEqual({ active: true, alongside: '1' }),
    );
    expect(second).toEqual([]);
    expect([await count('miss'), await count('hit')]).toEqual([1, 1]);
    expect(await redis.get(`${ACCESS_KEY_PREFIX}${userId}:active`)).toBe('1');
  });

  it('sees a deactivation after invalidateUsers, and an unknown account as inactive', async () => {
    const { cache } = cacheUnder();
    const userId = await insertUser(db, 'status');
    const marker = `${REVOKED_ACCESS_KEY_PREFIX}${unique('jti')}`;
    expect((await cache.accountStatus(userId, marker)).active).toBe(true);
    await db.query('test.deactivate', 'UPDATE users SET is_active = false WHERE id = $1', [userId]);
    // Cached until invalidated: the cache is really in the path.
    expect((await cache.accountStatus(userId, marker)).active).toBe(true);
    await cache.invalidateUsers([userId]);
    expect((await cache.accountStatus(userId, marker)).active).toBe(false);
    expect((await cache.accountStatus('5d0f1c44-8f7e-4b53-a3a2-0f9c3c9e1b20', marker)).active).toBe(false);
  });

  it('reads the database, and says the companion key is unknown, when Redis refuses connections', async () => {
    const down = await clients.refused();
    const { cache, count } = cacheUnder(down);
    const userId = await insertUser(db, 'status');
    expect(await cache.accountStatus(userId, `${REVOKED_ACCESS_KEY_PREFIX}x`)).toEqual({
      active: true,
      alongside: undefined,
    });
    expect(await count('error')).toBe(1);
  });
});

describe('the authenticated product read through the wired components', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ env: { TRUST_PROXY: '1' }, routers: (deps) => createComponents(deps).routers });
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers a repeated read with no database query, and refuses a deactivated or signed-out caller', async () => {
    const account = await registerAccount(app.url);
    const product = await newProduct();
    const { accessToken } = await signIn(app.url, account);
    const read = () => call(app.url, 'GET', `/api/v1/products/${product.id}`, { token: accessToken });
    expect((await read()).status).toBe(200);

    const seen: string[] = [];
    const commands: string[][] = [];
    const monitor = await redis.monitor();
    monitor.on('monitor', (_time: string, args: string[]) => commands.push(args));
    const stop = app.db.onQuery((event) => seen.push(event.operation));
    try {
      const again = await read();
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ id: product.id, stock: 10 });
    } finally {
      stop();
    }
    // MONITOR lines arrive in execution order: the product's read is the request's last command
    await vi.waitFor(() => {
      if (!commands.some((args) => args.some((arg) => arg.includes(product.id)))) throw new Error('not yet');
    });
    monitor.disconnect();
    // token check, active flag, permissions and the product all from Redis: no query
    expect(seen).toEqual([]);
    // one round trip for the revocation marker, the active flag and the permissions; one for the product
    const ofAccount = commands.filter((args) => args.some((arg) => arg.includes(account.id)));
    expect(ofAccount).toHaveLength(1);
    expect(ofAccount[0]?.[0]?.toLowerCase()).toBe('mget');
    expect(ofAccount[0]).toEqual(
      expect.arrayContaining([
        `${ACCESS_KEY_PREFIX}${account.id}:active`,
        `${ACCESS_KEY_PREFIX}${account.id}:permissions`,
        expect.stringContaining(REVOKED_ACCESS_KEY_PREFIX),
      ]),
    );
    const ofProduct = commands.filter((args) => args.some((arg) => arg.includes(product.id)));
    expect(ofProduct.map((args) => args[0]?.toLowerCase())).toEqual(['mget']);

    // A role change still applies at once (the grants are invalidated), and a deactivation refuses the token.
    const { accessToken: other } = await signIn(app.url, await registerAccount(app.url));
    const admin = await registerAccount(app.url);
    await grantAccountRole(app.db, admin.id, 'admin');
    const { accessToken: adminToken } = await signIn(app.url, admin);
    const deactivate = await call(app.url, 'PATCH', `/api/v1/users/${account.id}`, {
      token: adminToken,
      body: { is_active: false },
    });
    expect(deactivate.status).toBe(200);
    expect((await read()).status).toBe(401);

    // Sign-out revokes the access token through the same round trip.
    expect((await call(app.url, 'POST', '/api/v1/auth/logout', { token: other })).status).toBe(204);
    const afterLogout = await call(app.url, 'GET', `/api/v1/products/${product.id}`, { token: other });
    expect(afterLogout.status).toBe(401);
  });
});
