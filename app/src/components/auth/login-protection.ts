import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/** Failed sign-ins one client IP may make per day, over all accounts (rate-limiter-flexible's login recipe). */
export const LOGIN_FAILURES_PER_IP_PER_DAY = 100;
export const LOGIN_IP_WINDOW_SECONDS = 24 * 60 * 60;
/** Consecutive wrong passwords for one account from one address that shut that address out of that account. */
export const FAILURES_BEFORE_ADDRESS_LOCK = 5;
/** How long an address stays shut out of an account, and how long its consecutive failures are remembered. */
export const ADDRESS_LOCK_SECONDS = 15 * 60;
/** Consecutive wrong passwords from any addresses that lock the account for everyone (the required lockout). */
export const FAILURES_BEFORE_LOCK = 20;
export const LOCK_SECONDS = 15 * 60;

/** Shared by every replica, so both limits hold across the fleet. */
export const LOGIN_IP_KEY_PREFIX = 'erp-api:rate-limit:login-fail-ip';
/** Keys are `<prefix>:<user id>:<ip>`, so an administrator's unlock finds every address of one account. */
export const LOGIN_ACCOUNT_IP_KEY_PREFIX = 'erp-api:rate-limit:login-fail-account-ip';

export type AttemptDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** `ip`: the address's daily failures are spent (429); `account_ip`: this address is shut out of this account (423). */
      readonly scope: 'ip' | 'account_ip';
      readonly retryAfterSeconds: number;
      readonly limit: number;
    };

/** What one counted failure did: `addressLocked` when it shut this address out of the account. */
export interface FailureCount {
  readonly addressLocked: boolean;
  readonly retryAfterSeconds: number;
}

function limiter(store: Redis, keyPrefix: string, points: number, duration: number): RateLimiterRedis {
  return new RateLimiterRedis({
    storeClient: store,
    keyPrefix,
    points,
    duration,
    // Straight to memory while the client reconnects, instead of waiting on a dead connection.
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration }),
  });
}

function retryAfter(res: RateLimiterRes): number {
  return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
}

/**
 * Sign-in limits after rate-limiter-flexible's login-endpoint recipe: only failures count. Failures per client IP
 * and day stop guessing across many accounts; consecutive failures per account and IP stop guessing one password
 * from one place without letting that place lock the account for everyone else. Counted in Redis; while Redis is
 * away an in-memory limiter of the same size takes over in each process, so sign-in stays limited per replica.
 */
export class LoginAttemptLimiter {
  readonly #store: Redis;
  readonly #byIp: RateLimiterRedis;
  readonly #byAccountAndIp: RateLimiterRedis;

  constructor(store: Redis) {
    this.#store = store;
    this.#byIp = limiter(store, LOGIN_IP_KEY_PREFIX, LOGIN_FAILURES_PER_IP_PER_DAY, LOGIN_IP_WINDOW_SECONDS);
    this.#byAccountAndIp = limiter(
      store,
      LOGIN_ACCOUNT_IP_KEY_PREFIX,
      FAILURES_BEFORE_ADDRESS_LOCK,
      ADDRESS_LOCK_SECONDS,
    );
  }

  /** Whether `ip` may try (for `userId`, when the account exists); counts nothing. */
  async check(ip: string, userId?: string): Promise<AttemptDecision> {
    const byIp = await this.#byIp.get(ip);
    if (byIp !== null && byIp.consumedPoints >= LOGIN_FAILURES_PER_IP_PER_DAY) {
      return { allowed: false, scope: 'ip', retryAfterSeconds: retryAfter(byIp), limit: LOGIN_FAILURES_PER_IP_PER_DAY };
    }
    if (userId === undefined) return { allowed: true };
    const byAccount = await this.#byAccountAndIp.get(accountKey(userId, ip));
    if (byAccount !== null && byAccount.consumedPoints >= FAILURES_BEFORE_ADDRESS_LOCK) {
      return {
        allowed: false,
        scope: 'account_ip',
        retryAfterSeconds: retryAfter(byAccount),
        limit: FAILURES_BEFORE_ADDRESS_LOCK,
      };
    }
    return { allowed: true };
  }

  /** Counts one failed sign-in from `ip` (and against `userId` from `ip`, when the account exists). */
  async recordFailure(ip: string, userId?: string): Promise<FailureCount> {
    await consumeCounting(this.#byIp, ip);
    if (userId === undefined) return { addressLocked: false, retryAfterSeconds: 0 };
    const res = await consumeCounting(this.#byAccountAndIp, accountKey(userId, ip));
    return { addressLocked: res.consumedPoints === FAILURES_BEFORE_ADDRESS_LOCK, retryAfterSeconds: retryAfter(res) };
  }

  /** A successful sign-in ends the run of consecutive failures of that account from that address. */
  async recordSuccess(ip: string, userId: string): Promise<void> {
    await this.#byAccountAndIp.delete(accountKey(userId, ip));
  }

  /**
   * Forgets every address's failures against `userId` (an administrator's unlock).
   * @returns how many addresses were shut out of the account.
   */
  async forgetAccount(userId: string): Promise<number> {
    const match = `${LOGIN_ACCOUNT_IP_KEY_PREFIX}:${userId}:*`;
    let cursor = '0';
    let removed = 0;
    do {
      const [next, keys] = await this.#store.scan(cursor, 'MATCH', match, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) removed += await this.#store.del(...keys);
    } while (cursor !== '0');
    return removed;
  }
}

function accountKey(userId: string, ip: string): string {
  return `${userId}:${ip}`;
}

/** Consumes a point; a refusal past the limit still counts (the caller only asked to count). */
async function consumeCounting(limit: RateLimiterRedis, key: string): Promise<RateLimiterRes> {
  try {
    return await limit.consume(key);
  } catch (rejection) {
    // Anything else is a fault of both stores; the caller decides (it is not a block).
    if (!(rejection instanceof RateLimiterRes)) throw rejection;
    return rejection;
  }
}
