import type { Redis } from 'ioredis';

import {
  DEFAULT_HIT_RATE_POLICY,
  DEFAULT_REDIS_TIMEOUT_MS,
  fillIfGeneration,
  HitRateMonitor,
  invalidateGenerations,
  OutageLog,
  within,
} from '../../cache/redis-cache.js';
import type { HitRatePolicy } from '../../cache/redis-cache.js';
import type { Queryable } from '../../db/pool.js';
import { currentQueryScope } from '../../db/query-scope.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { findUserProfile } from '../auth/repository.js';

export { DEFAULT_HIT_RATE_POLICY, DEFAULT_REDIS_TIMEOUT_MS } from '../../cache/redis-cache.js';
export type { HitRatePolicy } from '../../cache/redis-cache.js';

/** What a user may do, as the permission check reads it: role and permission names. */
export interface UserGrants {
  readonly roles: readonly string[];
  readonly permissions: readonly string[];
}

/** Whether an account may use its tokens, and the companion key read in the same round trip. */
export interface AccountStatus {
  /** False for a deactivated account and for one that no longer exists. */
  readonly active: boolean;
  /** The companion key's value (null when absent); undefined when Redis did not answer. */
  readonly alongside: string | null | undefined;
}

export const PERMISSIONS_TTL_SECONDS = 300;
export const ROLES_TTL_SECONDS = 600;
/** The account's active flag lives as long as its permissions; deactivation invalidates it like a role change. */
export const ACCOUNT_TTL_SECONDS = PERMISSIONS_TTL_SECONDS;

export interface PermissionCacheOptions {
  readonly db: Queryable;
  readonly redis: Redis;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly redisTimeoutMs?: number;
  readonly hitRate?: Partial<HitRatePolicy>;
  readonly now?: () => number;
}

type CacheName = 'permissions' | 'roles' | 'accounts';

export const ACCESS_KEY_PREFIX = 'erp-api:access:user:';

/** Redis keys of one user's cached grants; `generation` changes on every invalidation. */
function keysOf(userId: string) {
  const base = `${ACCESS_KEY_PREFIX}${userId}`;
  return {
    permissions: `${base}:permissions`,
    roles: `${base}:roles`,
    active: `${base}:active`,
    generation: `${base}:generation`,
  };
}

function parseList(raw: string | null): readonly string[] | undefined {
  if (raw === null) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    if (Array.isArray(value) && value.every((item): item is string => typeof item === 'string')) return value;
  } catch {
    // A corrupt entry is a miss; the fill overwrites it.
  }
  return undefined;
}

function parseActive(raw: string | null): boolean | undefined {
  if (raw === '1') return true;
  if (raw === '0') return false;
  return undefined;
}

/** Everything one database read gives the cache: the grants and whether the account is active. */
interface UserAccess extends UserGrants {
  readonly active: boolean;
}

/**
 * Per-user roles and permissions, and whether the account is active, read through Redis (permissions and the active
 * flag for 5 minutes, roles for 10) with the database as the source of truth. Redis is an optimisation only: any
 * Redis error, or an answer slower than `redisTimeoutMs`, counts as `error` and the lookup reads the database, so a
 * slow or absent Redis never fails a request.
 *
 * Changes to roles and (de)activations call {@link invalidateUsers} after their transaction commits; it bumps each
 * user's generation and deletes their entries, so the next request reads the database. If Redis is unreachable at
 * that moment the entries it still holds expire within their TTL; the failure is logged as
 * `cache.invalidation_failed`.
 */
export class PermissionCache {
  readonly #db: Queryable;
  readonly #redis: Redis;
  readonly #metrics: Metrics;
  readonly #timeoutMs: number;
  readonly #hitRates: Readonly<Record<CacheName, HitRateMonitor>>;
  readonly #logger: Logger;
  // Permissions read with the account status, for the same request's permission check: one round trip for both.
  readonly #readWithStatus = new WeakMap<
    object,
    { readonly userId: string; readonly permissions: readonly string[] }
  >();
  readonly #outage = new OutageLog(
    'permission cache unavailable; reading permissions from the database until Redis answers again',
    'permission cache answers again',
  );

  constructor(options: PermissionCacheOptions) {
    this.#db = options.db;
    this.#redis = options.redis;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#timeoutMs = options.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
    const policy = { ...DEFAULT_HIT_RATE_POLICY, ...options.hitRate };
    const now = options.now ?? Date.now;
    const advice = 'check Redis health and how often roles change';
    this.#hitRates = {
      permissions: new HitRateMonitor('permissions', policy, options.logger, now, advice),
      roles: new HitRateMonitor('roles', policy, options.logger, now, advice),
      accounts: new HitRateMonitor('accounts', policy, options.logger, now, advice),
    };
  }

  /** The user's permission names; an unknown user has none. One Redis round trip on a hit. */
  async permissionsOf(userId: string, log: Logger = this.#logger): Promise<ReadonlySet<string>> {
    const scope = currentQueryScope();
    const prefetched = scope === undefined ? undefined : this.#readWithStatus.get(scope);
    if (prefetched?.userId === userId) {
      this.#record('permissions', 'hit', performance.now());
      return new Set(prefetched.permissions);
    }
    return new Set(await this.#lookup('permissions', userId, log));
  }

  /** The user's role names; an unknown user has none. */
  async rolesOf(userId: string, log: Logger = this.#logger): Promise<readonly string[]> {
    return this.#lookup('roles', userId, log);
  }

  /**
   * Whether the account is active (an unknown one is not), and the value of `alongsideKey`, a key another
   * component owns (the access token's revocation marker), read in the same Redis round trip. The cached
   * permissions come with it: a later {@link permissionsOf} for this user in the same request (the same query
   * scope) uses them instead of another round trip, as if it had read them at this moment.
   */
  async accountStatus(userId: string, alongsideKey: string, log: Logger = this.#logger): Promise<AccountStatus> {
    const keys = keysOf(userId);
    const started = performance.now();
    let generation: string | undefined;
    let alongside: string | null | undefined;
    try {
      const [cached, seen, other, permissions] = await within(
        this.#redis.mget(keys.active, keys.generation, alongsideKey, keys.permissions),
        this.#timeoutMs,
        'MGET',
      );
      alongside = other ?? null;
      const active = parseActive(cached ?? null);
      if (active !== undefined) {
        this.#record('accounts', 'hit', started);
        this.#outage.answered(log, 'accounts');
        const granted = parseList(permissions ?? null);
        const scope = currentQueryScope();
        if (granted !== undefined && scope !== undefined) {
          this.#readWithStatus.set(scope, { userId, permissions: granted });
        }
        return { active, alongside };
      }
      generation = seen ?? '';
      this.#record('accounts', 'miss', started);
      this.#outage.answered(log, 'accounts');
    } catch (error) {
      this.#record('accounts', 'error', started);
      this.#outage.failed(log, 'accounts', error);
    }
    const access = await this.#read(userId);
    if (generation !== undefined) await this.#fill(keys, generation, access, log);
    return { active: access.active, alongside };
  }

  /**
   * Forgets the cached grants of `userIds` so their next request reads the database. Call it after the change
   * committed; it never throws (a Redis failure is logged and the entries run out with their TTL).
   */
  async invalidateUsers(userIds: readonly string[], log: Logger = this.#logger): Promise<void> {
    if (userIds.length === 0) return;
    const keys = [...new Set(userIds)].map(keysOf);
    try {
      await invalidateGenerations(
        this.#redis,
        keys.map((user) => user.generation),
        keys.flatMap((user) => [user.permissions, user.roles, user.active]),
        this.#timeoutMs * 4,
      );
    } catch (error) {
      log.error(
        { event: 'cache.invalidation_failed', err: error, userCount: userIds.length, ttlSeconds: ROLES_TTL_SECONDS },
        'could not invalidate cached permissions in redis; affected users keep their old permissions until the cache entries expire',
      );
    }
  }

  async #lookup(cache: 'permissions' | 'roles', userId: string, log: Logger): Promise<readonly string[]> {
    const keys = keysOf(userId);
    const started = performance.now();
    let generation: string | undefined;
    try {
      const [cached, seen] = await within(this.#redis.mget(keys[cache], keys.generation), this.#timeoutMs, 'MGET');
      const hit = parseList(cached ?? null);
      if (hit !== undefined) {
        this.#record(cache, 'hit', started);
        this.#outage.answered(log, cache);
        return hit;
      }
      generation = seen ?? '';
      this.#record(cache, 'miss', started);
      this.#outage.answered(log, cache);
    } catch (error) {
      this.#record(cache, 'error', started);
      this.#outage.failed(log, cache, error);
    }
    const access = await this.#read(userId);
    // Awaited, and bounded by the timeout, so the next request of this user finds the entry.
    if (generation !== undefined) await this.#fill(keys, generation, access, log);
    return access[cache];
  }

  async #read(userId: string): Promise<UserAccess> {
    const profile = await findUserProfile(this.#db, userId);
    return {
      roles: profile?.roles ?? [],
      permissions: profile?.permissions ?? [],
      active: profile?.isActive === true,
    };
  }

  async #fill(keys: ReturnType<typeof keysOf>, generation: string, access: UserAccess, log: Logger): Promise<void> {
    try {
      await fillIfGeneration(
        this.#redis,
        keys.generation,
        generation,
        [
          { key: keys.permissions, value: JSON.stringify(access.permissions), ttlSeconds: PERMISSIONS_TTL_SECONDS },
          { key: keys.roles, value: JSON.stringify(access.roles), ttlSeconds: ROLES_TTL_SECONDS },
          { key: keys.active, value: access.active ? '1' : '0', ttlSeconds: ACCOUNT_TTL_SECONDS },
        ],
        this.#timeoutMs,
      );
    } catch (error) {
      log.debug(
        { event: 'cache.fill_failed', err: error },
        'could not cache permissions; the next lookup reads the database',
      );
    }
  }

  #record(cache: CacheName, result: 'hit' | 'miss' | 'error', started: number): void {
    this.#metrics.cacheOperation(cache, result, (performance.now() - started) / 1000);
    this.#hitRates[cache].record(result === 'hit');
  }
}
