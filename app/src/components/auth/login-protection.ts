import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/** Sign-in attempts one client IP may make per window, successful or not. */
export const LOGIN_ATTEMPTS_PER_IP = 5;
export const LOGIN_IP_WINDOW_SECONDS = 15 * 60;
/** Consecutive wrong passwords that lock an account, and for how long. */
export const FAILURES_BEFORE_LOCK = 5;
export const LOCK_SECONDS = 15 * 60;

/** Shared by every replica, so the per-IP limit holds across the fleet. */
export const LOGIN_IP_KEY_PREFIX = 'erp-api:rate-limit:login-ip';

export type AttemptDecision =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number; readonly limit: number };

/**
 * The per-IP sign-in limit, counted in Redis. While Redis is away (or not yet connected) an in-memory limiter of
 * the same size takes over in each process, so the login route stays limited per replica instead of open.
 */
export class LoginAttemptLimiter {
  readonly #limiter: RateLimiterRedis;

  constructor(store: Redis) {
    this.#limiter = new RateLimiterRedis({
      storeClient: store,
      keyPrefix: LOGIN_IP_KEY_PREFIX,
      points: LOGIN_ATTEMPTS_PER_IP,
      duration: LOGIN_IP_WINDOW_SECONDS,
      // Straight to memory while the client reconnects, instead of waiting on a dead connection.
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({
        keyPrefix: LOGIN_IP_KEY_PREFIX,
        points: LOGIN_ATTEMPTS_PER_IP,
        duration: LOGIN_IP_WINDOW_SECONDS,
      }),
    });
  }

  /** Counts one attempt from `ip`; refused once the window holds {@link LOGIN_ATTEMPTS_PER_IP}. */
  async consume(ip: string): Promise<AttemptDecision> {
    try {
      await this.#limiter.consume(ip);
      return { allowed: true };
    } catch (rejection) {
      // Anything else is a fault of both stores; the caller decides (it is not a block).
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      return {
        allowed: false,
        retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)),
        limit: LOGIN_ATTEMPTS_PER_IP,
      };
    }
  }
}
