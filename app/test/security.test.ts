import { randomBytes } from 'node:crypto';

import { Router } from 'express';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

import { createApp } from '../src/app.js';
import { RuntimeSettings } from '../src/config-reload.js';
import { loadConfig } from '../src/config.js';
import { createDatabase, databaseSettings } from '../src/db/pool.js';
import type { ErrorBody } from '../src/http/errors.js';
import {
  GENERAL_RATE_LIMIT_KEY_PREFIX,
  rateLimitLeaseSize,
  rememberLease,
  type RateLimitLease,
} from '../src/http/security.js';
import { Lifecycle } from '../src/lifecycle.js';
import { createLogger } from '../src/logger.js';
import { Metrics } from '../src/observability/metrics.js';
import { startTestApp, testEnv } from './support/app.js';
import type { TestApp } from './support/app.js';
import { migrateSharedDatabase } from './support/database.js';
import { CapturedLogs } from './support/logs.js';
import { freePort, serve } from './support/net.js';
import { sampleValue, scrape } from './support/prometheus.js';

const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup()));
});

async function start(options: Parameters<typeof startTestApp>[0] = {}): Promise<TestApp> {
  const app = await startTestApp(options);
  cleanups.push(() => app.close());
  return app;
}

/**
 * A client address of its own (from the documentation prefix 2001:db8::/32), sent as X-Forwarded-For behind
 * TRUST_PROXY=1: test files share one Redis and one loopback address, so each limit test needs its own key.
 */
function clientIp(): string {
  const group = () => randomBytes(2).toString('hex');
  return `2001:db8:${group()}:${group()}::${group()}`;
}

function from(ip: string, init: RequestInit = {}): RequestInit {
  return { ...init, headers: { ...(init.headers as Record<string, string> | undefined), 'X-Forwarded-For': ip } };
}

/** Sends `count` requests at once and returns their statuses. */
async function burst(url: string, count: number, init: RequestInit): Promise<number[]> {
  const responses = await Promise.all(Array.from({ length: count }, () => fetch(url, init)));
  await Promise.all(responses.map((response) => response.arrayBuffer()));
  return responses.map((response) => response.status);
}

function echoRoutes(): Router {
  const router = Router();
  router.get('/whoami', (req, res) => {
    res.json({ ip: req.ip });
  });
  router.post('/echo', (req, res) => {
    res.json({ received: req.body as unknown });
  });
  return router;
}

describe('general rate limit on real Redis', () => {
  it('answers the 101st request in a minute with 429 RATE_LIMITED and Retry-After', async () => {
    const app = await start({ env: { RATE_LIMIT_PER_MINUTE: '100', TRUST_PROXY: '1' } });
    const ip = clientIp();
    const statuses = await burst(`${app.url}/no-such-route`, 100, from(ip));
    expect(statuses.every((status) => status === 404)).toBe(true);

    const response = await fetch(`${app.url}/no-such-route`, from(ip, { headers: { 'X-Request-Id': 'req-429' } }));
    expect(response.status).toBe(429);
    const retryAfter = Number(response.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = (await response.json()) as ErrorBody;
    expect(body.error.code).toBe('RATE_LIMITED');
    expect(body.error.requestId).toBe('req-429');
    expect(body.error.message).toContain(`too many requests from ${ip}: the limit is 100 per minute`);
    expect(body.error.message).toContain(`retry after ${retryAfter} s`);

    const counters = await scrape(app.url);
    expect(sampleValue(counters, 'rate_limit_blocks_total', { limiter: 'general' })).toBe(1);
    expect(sampleValue(counters, 'http_requests_total', { route: 'unmatched', status: '429' })).toBe(1);
  });

  it('takes points from Redis in leases of 1 % of a large limit, and counts every request under a small one', async () => {
    const redis = new Redis(loadConfig(testEnv()).redisUrl, { maxRetriesPerRequest: 1 });
    cleanups.push(async () => {
      redis.disconnect();
      await Promise.resolve();
    });
    const counted = async (ip: string): Promise<number> =>
      Number(await redis.get(`${GENERAL_RATE_LIMIT_KEY_PREFIX}:${ip}`));
    const large = await start({ env: { RATE_LIMIT_PER_MINUTE: '1000', TRUST_PROXY: '1' } });
    const busy = clientIp();
    for (let i = 0; i < 12; i++) expect((await fetch(`${large.url}/nowhere`, from(busy))).status).toBe(404);
    // two leases of 10: 20 points taken for 12 requests, in two Redis calls instead of twelve
    expect(await counted(busy)).toBe(20);
    expect(rateLimitLeaseSize(1000)).toBe(10);
    expect(rateLimitLeaseSize(199)).toBe(1);

    const small = await start({ env: { RATE_LIMIT_PER_MINUTE: '100', TRUST_PROXY: '1' } });
    const careful = clientIp();
    for (let i = 0; i < 3; i++) await fetch(`${small.url}/nowhere`, from(careful));
    expect(await counted(careful)).toBe(3);
  });

  it('keeps at most a bounded number of leases: spent and expired ones go first, then the oldest live one', () => {
    const leases = new Map<string, RateLimitLease>();
    const now = 1_000;
    rememberLease(leases, 'a', { remaining: 5, expiresAt: now + 60_000 }, now, 2);
    rememberLease(leases, 'b', { remaining: 0, expiresAt: now + 60_000 }, now, 2);
    rememberLease(leases, 'c', { remaining: 5, expiresAt: now + 60_000 }, now, 2);
    expect([...leases.keys()]).toEqual(['a', 'c']);
    // every lease still live: the oldest makes room, so many clients in one minute cannot grow the map without end
    rememberLease(leases, 'd', { remaining: 5, expiresAt: now + 60_000 }, now, 2);
    expect([...leases.keys()]).toEqual(['c', 'd']);
    rememberLease(leases, 'c', { remaining: 9, expiresAt: now + 60_000 }, now, 2);
    expect(leases.size).toBe(2);
    expect(leases.get('c')?.remaining).toBe(9);
  });

  it('keeps counting in Redis, so a second replica sees the same client over its limit', async () => {
    const first = await start({ env: { RATE_LIMIT_PER_MINUTE: '3', TRUST_PROXY: '1' } });
    const second = await start({ env: { RATE_LIMIT_PER_MINUTE: '3', TRUST_PROXY: '1' } });
    const ip = clientIp();
    expect(await burst(`${first.url}/nowhere`, 3, from(ip))).toEqual([404, 404, 404]);
    expect((await fetch(`${second.url}/nowhere`, from(ip))).status).toBe(429);
  });

  it('does not let one blocked client block another', async () => {
    const app = await start({ env: { RATE_LIMIT_PER_MINUTE: '2', TRUST_PROXY: '1' } });
    const blocked = clientIp();
    await burst(`${app.url}/nowhere`, 3, from(blocked));
    expect((await fetch(`${app.url}/nowhere`, from(blocked))).status).toBe(429);
    expect((await fetch(`${app.url}/nowhere`, from(clientIp()))).status).toBe(404);
  });

  it('exempts the health and metrics endpoints', async () => {
    const app = await start({ env: { RATE_LIMIT_PER_MINUTE: '1', TRUST_PROXY: '1' } });
    const ip = clientIp();
    await burst(`${app.url}/nowhere`, 2, from(ip));
    expect((await fetch(`${app.url}/nowhere`, from(ip))).status).toBe(429);
    expect(await burst(`${app.url}/health/live`, 5, from(ip))).toEqual([200, 200, 200, 200, 200]);
    expect((await fetch(`${app.url}/health/ready`, from(ip))).status).toBe(200);
    expect(await burst(`${app.url}/metrics`, 3, from(ip))).toEqual([200, 200, 200]);
  });

  it('still limits with the in-memory insurance limiter while Redis is down, and says so once', async () => {
    const deadRedis = `redis://127.0.0.1:${await freePort()}`;
    const app = await start({
      env: { REDIS_URL: deadRedis, RATE_LIMIT_PER_MINUTE: '5', TRUST_PROXY: '1' },
      waitForRedis: false,
    });
    const ip = clientIp();
    expect(await burst(`${app.url}/nowhere`, 5, from(ip))).toEqual([404, 404, 404, 404, 404]);
    const response = await fetch(`${app.url}/nowhere`, from(ip));
    expect(response.status).toBe(429);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await response.json()) as ErrorBody).error.code).toBe('RATE_LIMITED');
    expect(
      app.logs.withMessage('rate limiting per process while Redis is away: each replica allows the full limit'),
    ).toHaveLength(1);
  });

  it('applies a new limit from the runtime settings at once, without a restart', async () => {
    await migrateSharedDatabase();
    const config = loadConfig(testEnv({ RATE_LIMIT_PER_MINUTE: '50', TRUST_PROXY: '1' }));
    const logger = createLogger(config, new CapturedLogs());
    const db = createDatabase(databaseSettings(config), logger);
    const redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    await new Promise((resolve) => redis.once('ready', resolve));
    const settings = new RuntimeSettings(config);
    const app = createApp({ config, logger, db, redis, lifecycle: new Lifecycle(), settings, metrics: new Metrics() });
    const listening = await serve(app);
    cleanups.push(async () => {
      await listening.close();
      await db.end();
      redis.disconnect();
    });

    const ip = clientIp();
    expect(await burst(`${listening.url}/nowhere`, 3, from(ip))).toEqual([404, 404, 404]);
    settings.update({ ...settings.current, rateLimitPerMinute: 3, logLevel: 'warn' });
    expect((await fetch(`${listening.url}/nowhere`, from(ip))).status).toBe(429);
    expect(logger.level).toBe('warn');
    settings.update({ ...settings.current, rateLimitPerMinute: 50 });
    expect((await fetch(`${listening.url}/nowhere`, from(ip))).status).toBe(404);
  });
});

describe('client address behind proxies (TRUST_PROXY)', () => {
  it('ignores X-Forwarded-For by default, so a client cannot choose its own address', async () => {
    const app = await start({ routers: [echoRoutes()] });
    const response = await fetch(`${app.url}/whoami`, from('203.0.113.7'));
    expect(((await response.json()) as { ip: string }).ip).toMatch(/127\.0\.0\.1$/);
  });

  it('takes the address the one trusted proxy saw with TRUST_PROXY=1', async () => {
    const app = await start({ env: { TRUST_PROXY: '1' }, routers: [echoRoutes()] });
    const response = await fetch(`${app.url}/whoami`, from('198.51.100.1, 203.0.113.7'));
    expect(((await response.json()) as { ip: string }).ip).toBe('203.0.113.7');
  });

  it('trusts a listed proxy subnet such as loopback', async () => {
    const app = await start({ env: { TRUST_PROXY: 'loopback' }, routers: [echoRoutes()] });
    const response = await fetch(`${app.url}/whoami`, from('203.0.113.9'));
    expect(((await response.json()) as { ip: string }).ip).toBe('203.0.113.9');
  });
});

describe('CORS allow-list', () => {
  const allowed = 'https://erp.example.com';

  it('answers an allowed origin with its own origin, and exposes the request id', async () => {
    const app = await start({ env: { CORS_ORIGINS: `${allowed}, https://admin.example.com` } });
    const response = await fetch(`${app.url}/nowhere`, { headers: { Origin: allowed } });
    expect(response.headers.get('access-control-allow-origin')).toBe(allowed);
    expect(response.headers.get('access-control-expose-headers')).toContain('X-Request-Id');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    expect(response.headers.get('vary')).toContain('Origin');
  });

  it('answers a preflight from an allowed origin with the allowed methods and headers', async () => {
    const app = await start({ env: { CORS_ORIGINS: allowed } });
    const response = await fetch(`${app.url}/api/v1/orders`, {
      method: 'OPTIONS',
      headers: {
        Origin: allowed,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type',
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(allowed);
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    expect(response.headers.get('access-control-allow-headers')).toContain('Authorization');
    expect(response.headers.get('access-control-max-age')).toBe('600');
  });

  it.each(['https://evil.example', 'https://erp.example.com.evil.example', 'http://erp.example.com'])(
    'gives the disallowed origin %s no CORS headers',
    async (origin) => {
      const app = await start({ env: { CORS_ORIGINS: allowed } });
      const simple = await fetch(`${app.url}/nowhere`, { headers: { Origin: origin } });
      expect(simple.headers.get('access-control-allow-origin')).toBeNull();
      const preflight = await fetch(`${app.url}/nowhere`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'DELETE' },
      });
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
      expect(preflight.headers.get('access-control-allow-methods')).toBeNull();
    },
  );

  it('sends no CORS headers at all when CORS_ORIGINS is empty', async () => {
    const app = await start();
    const response = await fetch(`${app.url}/nowhere`, { headers: { Origin: allowed } });
    expect([...response.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
  });
});

describe('security headers', () => {
  it('gives API responses a CSP that allows nothing, and the usual helmet headers', async () => {
    const app = await start();
    const response = await fetch(`${app.url}/nowhere`);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(response.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    expect(response.headers.has('x-powered-by')).toBe(false);
  });

  it('lets the API docs page load its own scripts, styles and images', async () => {
    const app = await start();
    const csp = (await fetch(`${app.url}/api/docs/`)).headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("img-src 'self' data:");
    expect(csp).not.toContain("default-src 'none'");
  });
});

describe('JSON body limit', () => {
  it('answers a body over JSON_BODY_LIMIT with a structured 413 that gives both sizes', async () => {
    const app = await start({ env: { JSON_BODY_LIMIT: '1kb' }, routers: [echoRoutes()] });
    const body = JSON.stringify({ note: 'x'.repeat(2_000) });
    const response = await fetch(`${app.url}/echo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'req-413' },
      body,
    });
    expect(response.status).toBe(413);
    const error = ((await response.json()) as ErrorBody).error;
    expect(error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', requestId: 'req-413' });
    expect(error.message).toBe(
      `request body is ${Buffer.byteLength(body)} bytes; the limit is 1024 bytes: send a smaller body or split it over several requests`,
    );
  });

  it('accepts a body just under the limit', async () => {
    const app = await start({ env: { JSON_BODY_LIMIT: '1kb' }, routers: [echoRoutes()] });
    const response = await fetch(`${app.url}/echo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ note: 'x'.repeat(900) }),
    });
    expect(response.status).toBe(200);
  });
});

describe('text a JSON body may carry', () => {
  const post = (app: TestApp, body: string | Buffer) =>
    fetch(`${app.url}/echo`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });

  it('refuses bytes that are not UTF-8 with 400 VALIDATION_ERROR instead of storing U+FFFD', async () => {
    const app = await start({ routers: [echoRoutes()] });
    const bytes = Buffer.concat([Buffer.from('{"name":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const response = await post(app, bytes);
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { code: string; fields: Record<string, string[]> } };
    expect(error.code).toBe('VALIDATION_ERROR');
    expect(error.fields).toEqual({ body: ['is not valid UTF-8'] });
  });

  it('refuses an unpaired surrogate escape, naming each path, in values and keys', async () => {
    const app = await start({ routers: [echoRoutes()] });
    const response = await post(app, '{"name":"a\\ud800b","lines":[{"sku":"ok"},{"sku":"\\udfff"}],"\\ud83d":1}');
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { code: string; fields: Record<string, string[]> } };
    expect(error.code).toBe('VALIDATION_ERROR');
    expect(Object.keys(error.fields).sort()).toEqual(['body (a key)', 'body.lines.1.sku', 'body.name']);
  });

  it('accepts well-formed text outside the BMP, escaped or not', async () => {
    const app = await start({ routers: [echoRoutes()] });
    const response = await post(app, '{"a":"\\ud83d\\ude80","b":"🚀 ünïcödé"}');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: { a: '🚀', b: '🚀 ünïcödé' } });
  });
});
