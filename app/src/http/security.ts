import { isUtf8 } from 'node:buffer';

import cors from 'cors';
import express from 'express';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import helmet from 'helmet';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

import type { RuntimeSettings } from '../config-reload.js';
import { BadRequestError, RateLimitError, ValidationError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../observability/metrics.js';

/** Where the API reference (Swagger UI) is served; it alone gets a CSP that lets a page render. */
export const DOCS_PATH = '/api/docs';

const RATE_LIMIT_WINDOW_SECONDS = 60;
/** Shared by every replica, so the limit holds per client across the fleet. */
export const GENERAL_RATE_LIMIT_KEY_PREFIX = 'erp-api:rate-limit:general';

/**
 * Helmet's headers. API responses are JSON that no browser should render or frame, so they get a CSP that allows
 * nothing; the docs page keeps Helmet's default CSP (same-origin scripts, styles and images), which Swagger UI
 * needs.
 */
export function securityHeaders(): RequestHandler {
  const api = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
    },
  });
  const docs = helmet();
  return (req, res, next) => {
    const isDocs = req.path === DOCS_PATH || req.path.startsWith(`${DOCS_PATH}/`);
    (isDocs ? docs : api)(req, res, next);
  };
}

/**
 * CORS for the allowed origins only, matched exactly; undefined when none are allowed, so no response carries
 * CORS headers. Tokens travel in the Authorization header, not cookies, so credentials stay off.
 */
export function corsPolicy(allowedOrigins: readonly string[]): RequestHandler | undefined {
  if (allowedOrigins.length === 0) return undefined;
  const allowed = new Set(allowedOrigins);
  const policy = cors({
    // `false` for any other origin makes cors add no header at all, not even to a preflight.
    origin: (origin, callback) => {
      callback(null, origin !== undefined && allowed.has(origin) ? origin : false);
    },
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
    exposedHeaders: ['X-Request-Id', 'Retry-After'],
    credentials: false,
    // Browsers cache a preflight this long (seconds), saving a round trip per call.
    maxAge: 600,
  });
  return (req, res, next) => {
    // Answers differ by Origin, so a shared cache must not hand one origin's answer to another.
    res.vary('Origin');
    policy(req, res, next);
  };
}

/** body-parser's 413 error: `length` is the declared body size, when the client declared one. */
interface BodyTooLarge {
  readonly type: 'entity.too.large';
  readonly length?: number;
}

function isBodyTooLarge(error: unknown): error is BodyTooLarge {
  return error instanceof Error && (error as { type?: unknown }).type === 'entity.too.large';
}

/** JSON body parsing with the configured limit; a bigger body is a 413 PAYLOAD_TOO_LARGE that says both sizes. */
export function jsonBody(limitBytes: number): [RequestHandler, ErrorRequestHandler, RequestHandler] {
  const tooLarge: ErrorRequestHandler = (error: unknown, _req, _res, next) => {
    if (!isBodyTooLarge(error)) {
      next(error);
      return;
    }
    const size = typeof error.length === 'number' ? `is ${error.length} bytes` : 'is larger than that';
    next(
      new BadRequestError(
        'PAYLOAD_TOO_LARGE',
        `request body ${size}; the limit is ${limitBytes} bytes: send a smaller body or split it over several requests`,
        { cause: error },
      ),
    );
  };
  // Invalid UTF-8 would otherwise be decoded to U+FFFD and stored as if the client had sent it.
  const verify = (_req: unknown, _res: unknown, buffer: Buffer): void => {
    if (!isUtf8(buffer)) {
      throw new ValidationError('the request body is not valid UTF-8; send JSON encoded as UTF-8', {
        body: ['is not valid UTF-8'],
      });
    }
  };
  return [express.json({ limit: limitBytes, verify }), tooLarge, wellFormedText()];
}

/** At most this many offending paths are named; one is enough to fix the client. */
const MAX_MALFORMED_PATHS = 10;
// With the u flag a valid surrogate pair is one code point, so only an unpaired surrogate is category Cs.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The paths of keys and strings in a parsed body that are not well-formed Unicode: a `\ud800` escape decodes to a
 * lone surrogate, which PostgreSQL would silently replace. Iterative, so a deeply nested body cannot overflow the stack.
 */
export function malformedTextPaths(body: unknown): string[] {
  const found: string[] = [];
  const pending: [unknown, string][] = [[body, 'body']];
  for (let next = pending.pop(); next !== undefined && found.length < MAX_MALFORMED_PATHS; next = pending.pop()) {
    const [value, path] = next;
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) found.push(path);
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => pending.push([item, `${path}.${index}`]));
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) {
        if (LONE_SURROGATE.test(key)) found.push(`${path} (a key)`);
        else pending.push([item, `${path}.${key}`]);
      }
    }
  }
  return found;
}

/** 400 VALIDATION_ERROR naming every text of the body that is not well-formed Unicode. */
function wellFormedText(): RequestHandler {
  return (req, _res, next) => {
    const paths = malformedTextPaths(req.body);
    if (paths.length === 0) {
      next();
      return;
    }
    const fields = Object.fromEntries(paths.map((path) => [path, ['must be well-formed Unicode text']]));
    next(
      new ValidationError(
        'the request body holds text that is not well-formed Unicode (an unpaired surrogate)',
        fields,
      ),
    );
  };
}

export interface GeneralRateLimitOptions {
  /** Where the per-client counters live; the app's Redis unless a test passes another client. */
  readonly store: Redis;
  /** Supplies the limit and its changes on SIGHUP. */
  readonly settings: RuntimeSettings;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

function clientKey(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/**
 * The general per-client-IP limit: RATE_LIMIT_PER_MINUTE requests per minute, counted in Redis across replicas.
 * While Redis is away an in-memory limiter of the same size takes over in each process, so clients stay limited
 * (per replica) instead of unlimited. Over the limit: 429 RATE_LIMITED with Retry-After. Mount it after the
 * health and metrics endpoints, which are exempt.
 */
export function generalRateLimit({ store, settings, metrics, logger }: GeneralRateLimitOptions): RequestHandler {
  const points = settings.current.rateLimitPerMinute;
  const insurance = new RateLimiterMemory({
    keyPrefix: GENERAL_RATE_LIMIT_KEY_PREFIX,
    points,
    duration: RATE_LIMIT_WINDOW_SECONDS,
  });
  const limiter = new RateLimiterRedis({
    storeClient: store,
    keyPrefix: GENERAL_RATE_LIMIT_KEY_PREFIX,
    points,
    duration: RATE_LIMIT_WINDOW_SECONDS,
    // Straight to the in-memory limiter while the client reconnects, instead of waiting on a dead connection.
    rejectIfRedisNotReady: true,
    insuranceLimiter: insurance,
  });
  // Points taken from Redis at once per client and spent here: at most 1 % of the limit, so a client is never
  // limited more than 1 % early, and a busy client costs Redis one round trip per lease, not one per request.
  let leaseSize = rateLimitLeaseSize(points);
  const leases = new Map<string, RateLimitLease>();
  settings.onChange((next) => {
    limiter.points = next.rateLimitPerMinute;
    insurance.points = next.rateLimitPerMinute;
    leaseSize = rateLimitLeaseSize(next.rateLimitPerMinute);
    leases.clear();
  });

  let perProcess = false;
  return async (req, _res, next) => {
    if (store.status !== 'ready' && !perProcess) {
      perProcess = true;
      logger.warn(
        { redisStatus: store.status },
        'rate limiting per process while Redis is away: each replica allows the full limit',
      );
    } else if (store.status === 'ready' && perProcess) {
      perProcess = false;
      logger.info('rate limiting shared through Redis again');
    }

    const key = clientKey(req);
    const now = Date.now();
    const lease = leases.get(key);
    if (lease !== undefined && lease.remaining > 0 && now < lease.expiresAt) {
      lease.remaining -= 1;
      next();
      return;
    }
    try {
      const granted = await limiter.consume(key, leaseSize);
      if (leaseSize > 1) {
        rememberLease(leases, key, { remaining: leaseSize - 1, expiresAt: now + granted.msBeforeNext }, now);
      }
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) {
        // A limiter fault must not take the API down with it: let the request through and say so.
        logger.error({ err: rejection }, 'rate limiter failed; request let through unlimited');
        next();
        return;
      }
      metrics.rateLimitBlock('general');
      const retryAfter = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
      next(
        new RateLimitError(
          `too many requests from ${key}: the limit is ${limiter.points} per minute; retry after ${retryAfter} s`,
          retryAfter,
        ),
      );
      return;
    }
    next();
  };
}

/** Bound on the clients whose leases are kept; past it the expired ones are dropped. */
const MAX_RATE_LIMIT_LEASES = 10_000;

/** Points one Redis call takes for a client: 1 % of the per-minute limit, at least 1 (every request counted). */
export function rateLimitLeaseSize(pointsPerMinute: number): number {
  return Math.max(1, Math.floor(pointsPerMinute / 100));
}

export interface RateLimitLease {
  remaining: number;
  expiresAt: number;
}

/**
 * Keeps a client's lease, never more than `max` of them: past it the spent and expired ones go, and when every one is
 * still live, the oldest (a lease dropped early only sends that client back to Redis sooner).
 */
export function rememberLease(
  leases: Map<string, RateLimitLease>,
  key: string,
  lease: RateLimitLease,
  now: number,
  max = MAX_RATE_LIMIT_LEASES,
): void {
  leases.delete(key);
  if (leases.size >= max) {
    for (const [client, held] of leases) if (held.remaining === 0 || held.expiresAt <= now) leases.delete(client);
    for (const client of leases.keys()) {
      if (leases.size < max) break;
      leases.delete(client);
    }
  }
  leases.set(key, lease);
}
