import type { Redis } from 'ioredis';

import {
  DEFAULT_REDIS_TIMEOUT_MS,
  fillIfGeneration,
  invalidateGenerations,
  OutageLog,
  within,
} from '../../../cache/redis-cache.js';
import type { Logger } from '../../../logger.js';
import type { Metrics } from '../../../observability/metrics.js';
import type { Product } from './repository.js';

export const PRODUCT_KEY_PREFIX = 'erp-api:catalog:product:';
/** How long a read product is served from Redis when no write invalidates it first. */
export const PRODUCT_TTL_SECONDS = 60;
// The cache's name in cache_operations_total and cache_operation_duration_seconds.
const CACHE = 'products';

export interface ProductCacheOptions {
  readonly redis: Redis;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** A Redis answer slower than this counts as an error and the read goes to the database (default 75 ms). */
  readonly redisTimeoutMs?: number;
}

/** Redis keys of one product: its JSON, and the generation every invalidation bumps. */
function keysOf(productId: string) {
  const entry = `${PRODUCT_KEY_PREFIX}${productId}`;
  return { entry, generation: `${entry}:generation` };
}

/** The product as the cache stores it: the row with its dates as ISO 8601 text. */
type StoredProduct = Omit<Product, 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string };

function parseProduct(raw: string | null): Product | undefined {
  if (raw === null) return undefined;
  try {
    const stored = JSON.parse(raw) as Partial<StoredProduct> | null;
    if (typeof stored?.id !== 'string' || typeof stored.createdAt !== 'string' || typeof stored.updatedAt !== 'string')
      return undefined;
    return {
      ...(stored as StoredProduct),
      createdAt: new Date(stored.createdAt),
      updatedAt: new Date(stored.updatedAt),
    };
  } catch {
    // A corrupt entry is a miss; the fill overwrites it.
    return undefined;
  }
}

/**
 * Products by id, read through Redis for {@link PRODUCT_TTL_SECONDS} with the database as the source of truth.
 * Every write to a product (update, stock change, an order placed or cancelled) calls {@link invalidate} after it
 * commits, so the next read sees it; a fill that read the database before the write cannot put the old row back
 * (the same generation check as the permission cache). Redis is an optimisation only: an error, or an answer
 * slower than the timeout, counts as `error` and the read goes to the database.
 *
 * Staleness: if an invalidation cannot reach Redis, readers may see the old row, stock included, for up to the
 * TTL (logged as `cache.invalidation_failed`). Orders never rely on it: they lock and read the rows themselves.
 */
export class ProductCache {
  readonly #redis: Redis;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #outage = new OutageLog(
    'product cache unavailable; reading products from the database until Redis answers again',
    'product cache answers again',
  );

  constructor(options: ProductCacheOptions) {
    this.#redis = options.redis;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#timeoutMs = options.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
  }

  /** The cached product, or `load()`'s (then cached); a product that does not exist is not cached. */
  async read(productId: string, load: () => Promise<Product | undefined>): Promise<Product | undefined> {
    const keys = keysOf(productId);
    const started = performance.now();
    let generation: string | undefined;
    try {
      const [cached, seen] = await within(this.#redis.mget(keys.entry, keys.generation), this.#timeoutMs, 'MGET');
      const hit = parseProduct(cached ?? null);
      this.#record(hit === undefined ? 'miss' : 'hit', started);
      this.#outage.answered(this.#logger, CACHE);
      if (hit !== undefined) return hit;
      generation = seen ?? '';
    } catch (error) {
      this.#record('error', started);
      this.#outage.failed(this.#logger, CACHE, error);
    }
    const product = await load();
    if (product !== undefined && generation !== undefined) await this.#fill(keys, generation, product);
    return product;
  }

  /**
   * Forgets `productIds` so their next read goes to the database. Call it after the write committed; it never
   * throws (a Redis failure is logged and the entries run out with their TTL).
   */
  async invalidate(productIds: readonly string[]): Promise<void> {
    if (productIds.length === 0) return;
    const keys = [...new Set(productIds)].map(keysOf);
    try {
      await invalidateGenerations(
        this.#redis,
        keys.map((product) => product.generation),
        keys.map((product) => product.entry),
        this.#timeoutMs * 4,
      );
    } catch (error) {
      this.#logger.error(
        { event: 'cache.invalidation_failed', cache: CACHE, err: error, productIds, ttlSeconds: PRODUCT_TTL_SECONDS },
        `could not invalidate cached products in redis; reads may show their old values, stock included, for up to ${PRODUCT_TTL_SECONDS} s`,
      );
    }
  }

  async #fill(keys: ReturnType<typeof keysOf>, generation: string, product: Product): Promise<void> {
    try {
      await fillIfGeneration(
        this.#redis,
        keys.generation,
        generation,
        [{ key: keys.entry, value: JSON.stringify(product), ttlSeconds: PRODUCT_TTL_SECONDS }],
        this.#timeoutMs,
      );
    } catch (error) {
      this.#logger.debug(
        { event: 'cache.fill_failed', cache: CACHE, err: error },
        'could not cache a product; the next read goes to the database',
      );
    }
  }

  #record(result: 'hit' | 'miss' | 'error', started: number): void {
    this.#metrics.cacheOperation(CACHE, result, (performance.now() - started) / 1000);
  }
}
