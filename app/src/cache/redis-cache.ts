import type { Redis } from 'ioredis';

import type { Logger } from '../logger.js';

/** A Redis answer slower than this is treated as a Redis failure: the lookup goes to the database instead. */
export const DEFAULT_REDIS_TIMEOUT_MS = 75;
/** A generation counter must outlive every cached entry and every fill still in flight. */
export const GENERATION_TTL_SECONDS = 3_600;

/** Redis did not answer within the cache's budget; the caller reads the database instead. */
export class RedisTimeoutError extends Error {
  override readonly name = 'RedisTimeoutError';
}

/**
 * `work`, or a RedisTimeoutError after `ms`; never leaves a timer behind. The timeout is decided after the event
 * loop's next I/O poll: a loop that lagged past `ms` runs expired timers before it reads the reply already waiting on
 * the socket, and counting that as Redis being slow sends the request to the database on top of the overload.
 */
export async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let check: NodeJS.Immediate | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      check = setImmediate(() => reject(new RedisTimeoutError(`redis ${what} took longer than ${ms} ms`)));
    }, ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
    if (check !== undefined) clearImmediate(check);
  }
}

// Writes the entries only if no invalidation ran since the lookup read the generation (KEYS[1]), so a fill that
// read the database before a change cannot put the old value back after the change deleted it.
// KEYS[2..n] get ARGV[2], ARGV[3] (value, TTL seconds), ARGV[4], ARGV[5], …; ARGV[1] is the generation read.
const FILL_IF_GENERATION = `
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2 * i - 2], 'EX', ARGV[2 * i - 1])
end
return 1`;

/** One entry a fill writes: its key, its value and how long it lives. */
export interface CacheEntry {
  readonly key: string;
  readonly value: string;
  readonly ttlSeconds: number;
}

/**
 * Writes `entries` in one round trip unless `generationKey` moved away from `generation` (the value the lookup read,
 * '' when absent); resolves true when written. Bounded by `timeoutMs`.
 */
export async function fillIfGeneration(
  redis: Redis,
  generationKey: string,
  generation: string,
  entries: readonly CacheEntry[],
  timeoutMs: number,
): Promise<boolean> {
  const keys = entries.map((entry) => entry.key);
  const args = entries.flatMap((entry) => [entry.value, entry.ttlSeconds]);
  const written = await within(
    redis.eval(FILL_IF_GENERATION, 1 + keys.length, generationKey, ...keys, generation, ...args),
    timeoutMs,
    'fill',
  );
  return written === 1;
}

/**
 * Forgets `keys` and bumps every generation in `generationKeys`, in one MULTI, so a fill still in flight cannot
 * write an older value back. Throws on a Redis failure or after `timeoutMs`.
 */
export async function invalidateGenerations(
  redis: Redis,
  generationKeys: readonly string[],
  keys: readonly string[],
  timeoutMs: number,
): Promise<void> {
  if (generationKeys.length === 0 && keys.length === 0) return;
  const transaction = redis.multi();
  for (const generation of generationKeys) {
    transaction.incr(generation).expire(generation, GENERATION_TTL_SECONDS);
  }
  if (keys.length > 0) transaction.del(...keys);
  const results = await within(transaction.exec(), timeoutMs, 'invalidation');
  const failed = results?.find(([error]) => error !== null)?.[0];
  if (results === null || failed !== undefined) throw failed ?? new Error('redis MULTI was aborted');
}

export interface HitRatePolicy {
  /** Lookups the hit rate is computed over (the most recent ones). */
  readonly window: number;
  /** A full window below this ratio logs `cache.hit_rate_low`. */
  readonly threshold: number;
  /** At most one warning this often, so a cold cache does not flood the log. */
  readonly warnEveryMs: number;
}

export const DEFAULT_HIT_RATE_POLICY: HitRatePolicy = { window: 100, threshold: 0.7, warnEveryMs: 60_000 };

/**
 * Hit rate over the last `window` lookups, as a ring of booleans; warns (at most every `warnEveryMs`) when a full
 * window is below `threshold`.
 */
export class HitRateMonitor {
  readonly #outcomes: boolean[] = [];
  #next = 0;
  #hits = 0;
  #lastWarnAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly cache: string,
    private readonly policy: HitRatePolicy,
    private readonly logger: Logger,
    private readonly now: () => number,
    /** What to check when the rate is low, appended to the warning. */
    private readonly advice: string,
  ) {}

  record(hit: boolean): void {
    const { window } = this.policy;
    if (this.#outcomes.length < window) {
      this.#outcomes.push(hit);
    } else {
      if (this.#outcomes[this.#next] === true) this.#hits -= 1;
      this.#outcomes[this.#next] = hit;
      this.#next = (this.#next + 1) % window;
    }
    if (hit) this.#hits += 1;
    if (this.#outcomes.length < window) return;
    const hitRate = this.#hits / window;
    const now = this.now();
    if (hitRate >= this.policy.threshold || now - this.#lastWarnAt < this.policy.warnEveryMs) return;
    this.#lastWarnAt = now;
    this.logger.warn(
      { event: 'cache.hit_rate_low', cache: this.cache, hitRate, threshold: this.policy.threshold, window },
      `${this.cache} cache hit rate ${(hitRate * 100).toFixed(0)}% over the last ${window} lookups is below ${(this.policy.threshold * 100).toFixed(0)}%; ${this.advice}`,
    );
  }
}

/** One warning per Redis outage and one note when it ends, not one line per request (the metric counts each). */
export class OutageLog {
  #failing = false;

  /** @param whileDown the warning when Redis first fails; @param whenBack the note when it answers again. */
  constructor(
    private readonly whileDown: string,
    private readonly whenBack: string,
  ) {}

  failed(log: Logger, cache: string, error: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    log.warn({ event: 'cache.redis_failed', cache, err: error }, this.whileDown);
  }

  answered(log: Logger, cache: string): void {
    if (!this.#failing) return;
    this.#failing = false;
    log.info({ event: 'cache.redis_recovered', cache }, this.whenBack);
  }
}
