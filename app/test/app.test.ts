import { Router } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ValidationError } from '../src/errors.js';
import type { ErrorBody } from '../src/http/errors.js';
import type { ReadinessBody } from '../src/http/health-routes.js';
import { startTestApp } from './support/app.js';
import { parseExposition, sampleValue } from './support/prometheus.js';
import type { TestApp } from './support/app.js';
import { blackhole, freePort } from './support/net.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const started: TestApp[] = [];
const cleanups: (() => Promise<void>)[] = [];

async function start(options: Parameters<typeof startTestApp>[0] = {}): Promise<TestApp> {
  const app = await startTestApp(options);
  started.push(app);
  return app;
}

afterAll(async () => {
  await Promise.all(started.map((app) => app.close()));
  await Promise.all(cleanups.map((cleanup) => cleanup()));
});

/** Routes that fail on purpose, to see what the error handler makes of them. */
function failingRoutes(): Router {
  const router = Router();
  router.get('/boom', () => {
    throw new Error('password authentication failed for user "erp" at 10.0.0.5');
  });
  router.get('/boom-async', async () => {
    await Promise.resolve();
    throw new Error('pool exhausted: internal detail');
  });
  router.get('/teapot', () => {
    throw new ValidationError('quantity must be a positive integer, got -3', { 'query.quantity': ['must be ≥ 1'] });
  });
  router.get('/half', (_req, res) => {
    res.status(200).type('text/plain');
    res.write('first half');
    throw new Error('failed mid-stream');
  });
  router.post('/echo', (req, res) => {
    res.json({ received: req.body as unknown });
  });
  return router;
}

describe('health endpoints on real PostgreSQL and Redis', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await start();
  });

  it('GET /health/live answers 200 ok and is never cached', async () => {
    const response = await fetch(`${app.url}/health/live`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('GET /health/ready answers 200 with both checks up', async () => {
    const response = await fetch(`${app.url}/health/ready`);
    const body = (await response.json()) as ReadinessBody;
    expect(response.status).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.shutting_down).toBe(false);
    expect(body.checks.postgres).toMatchObject({ status: 'up' });
    expect(body.checks.redis).toMatchObject({ status: 'up' });
    expect(typeof body.checks.postgres?.duration_ms).toBe('number');
  });

  it('answers without an X-Powered-By header', async () => {
    const response = await fetch(`${app.url}/health/live`);
    expect(response.headers.has('x-powered-by')).toBe(false);
  });
});

describe('readiness when a dependency is away', () => {
  it('is 503 quickly when nothing listens on the database port', async () => {
    const port = await freePort();
    const app = await start({ env: { DATABASE_URL: `postgres://erp:pw@127.0.0.1:${port}/erp` } });
    const startedAt = performance.now();
    const response = await fetch(`${app.url}/health/ready`);
    const elapsed = performance.now() - startedAt;
    const body = (await response.json()) as ReadinessBody;
    expect(response.status).toBe(503);
    expect(elapsed).toBeLessThan(1_500);
    expect(body).toMatchObject({ status: 'not_ready', shutting_down: false });
    const samples = parseExposition(await (await fetch(`${app.url}/metrics`)).text());
    expect(sampleValue(samples, 'health_check_up', { check: 'postgres' })).toBe(0);
    expect(body.checks.postgres).toMatchObject({ status: 'down' });
    expect(body.checks.postgres?.error).toMatch(/ECONNREFUSED/);
    expect(body.checks.redis).toMatchObject({ status: 'up' });
  });

  it('is 503 within the check timeout when the database accepts connections but never answers', async () => {
    const hung = await blackhole();
    cleanups.push(() => hung.close());
    const app = await start({ env: { DATABASE_URL: `postgres://erp:pw@127.0.0.1:${hung.port}/erp` } });
    const startedAt = performance.now();
    const response = await fetch(`${app.url}/health/ready`);
    const elapsed = performance.now() - startedAt;
    const body = (await response.json()) as ReadinessBody;
    expect(response.status).toBe(503);
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(1_500);
    expect(body.checks.postgres).toMatchObject({ status: 'down', error: 'no answer within 1000 ms' });
  });

  it('stays 200 when Redis is unreachable, reports degraded, and says so in the check and the gauge', async () => {
    const port = await freePort();
    const app = await start({ env: { REDIS_URL: `redis://127.0.0.1:${port}` }, waitForRedis: false });
    const response = await fetch(`${app.url}/health/ready`);
    const body = (await response.json()) as ReadinessBody;
    // Every cache falls back to PostgreSQL: leaving rotation would turn a slower API into no API.
    expect(response.status).toBe(200);
    expect(body.status).toBe('degraded');
    const samples = parseExposition(await (await fetch(`${app.url}/metrics`)).text());
    expect(sampleValue(samples, 'health_check_up', { check: 'redis' })).toBe(0);
    expect(sampleValue(samples, 'health_check_up', { check: 'postgres' })).toBe(1);
    expect(body.checks.redis).toMatchObject({
      status: 'down',
      error: expect.stringMatching(/^not connected/) as unknown,
    });
    expect(body.checks.postgres).toMatchObject({ status: 'up' });
  });

  it('is 503 once a shutdown began, even with every dependency up, and asks clients to close', async () => {
    const app = await start();
    expect((await fetch(`${app.url}/health/ready`)).status).toBe(200);
    app.lifecycle.beginShutdown();
    const response = await fetch(`${app.url}/health/ready`);
    const body = (await response.json()) as ReadinessBody;
    expect(response.status).toBe(503);
    expect(body).toMatchObject({ status: 'not_ready', shutting_down: true });
    expect(body.checks.postgres?.status).toBe('up');
    expect(response.headers.get('connection')).toBe('close');
    expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
  });
});

describe('request ids', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await start();
  });

  it('echoes a well-formed incoming X-Request-Id', async () => {
    const id = 'lb-7f3a.9_c-01';
    const response = await fetch(`${app.url}/health/live`, { headers: { 'X-Request-Id': id } });
    expect(response.headers.get('x-request-id')).toBe(id);
  });

  it.each([
    ['too long', 'a'.repeat(129)],
    ['with a space', 'abc def'],
    ['with a slash', '../etc/passwd'],
    ['with a quote', 'abc"}'],
  ])('replaces an id %s with a fresh UUID', async (_why, id) => {
    const response = await fetch(`${app.url}/health/live`, { headers: { 'X-Request-Id': id } });
    expect(response.headers.get('x-request-id')).toMatch(UUID);
  });

  it('accepts the longest allowed id', async () => {
    const id = 'a'.repeat(128);
    const response = await fetch(`${app.url}/health/live`, { headers: { 'X-Request-Id': id } });
    expect(response.headers.get('x-request-id')).toBe(id);
  });

  it('generates a different UUID for each request without one', async () => {
    const first = (await fetch(`${app.url}/health/live`)).headers.get('x-request-id');
    const second = (await fetch(`${app.url}/health/live`)).headers.get('x-request-id');
    expect(first).toMatch(UUID);
    expect(second).toMatch(UUID);
    expect(first).not.toBe(second);
  });

  it('writes the id on the access-log line', async () => {
    await fetch(`${app.url}/health/live`, { headers: { 'X-Request-Id': 'trace-me-42' } });
    const line = app.logs.lines.find((entry) => entry.requestId === 'trace-me-42' && entry.msg === 'request');
    expect(line).toMatchObject({ method: 'GET', path: '/health/live', status: 200 });
  });
});

describe('errors', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await start({ routers: [failingRoutes()] });
  });

  it('answers unknown routes with a JSON 404 carrying the request id', async () => {
    const response = await fetch(`${app.url}/no/such/route?token=abc`, { headers: { 'X-Request-Id': 'req-404' } });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await response.json()) as ErrorBody;
    expect(body).toEqual({
      error: {
        code: 'NOT_FOUND',
        message: expect.stringContaining('GET /no/such/route') as unknown,
        requestId: 'req-404',
      },
    });
    expect(body.error.message).not.toContain('token');
  });

  it('answers a malformed JSON body with a structured 400 VALIDATION_ERROR', async () => {
    const response = await fetch(`${app.url}/echo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'req-bad-json' },
      body: '{"sku": "A-1",',
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as ErrorBody;
    expect(body.error.code).toBe('VALIDATION_ERROR');
    expect(body.error.requestId).toBe('req-bad-json');
    expect(body.error.message).toMatch(/^request body is not valid JSON/);
  });

  it('rejects malformed JSON before routing, even on paths that do not exist', async () => {
    const response = await fetch(`${app.url}/nowhere`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{',
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as ErrorBody).error.code).toBe('VALIDATION_ERROR');
  });

  it('parses well-formed JSON for the routes', async () => {
    const response = await fetch(`${app.url}/echo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ sku: 'A-1' }),
    });
    expect(await response.json()).toEqual({ received: { sku: 'A-1' } });
  });

  it('answers a body over the limit with 413 PAYLOAD_TOO_LARGE', async () => {
    const response = await fetch(`${app.url}/echo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ blob: 'x'.repeat(200_000) }),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as ErrorBody).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('passes a thrown AppError through with its status, code, message and fields', async () => {
    const response = await fetch(`${app.url}/teapot`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as ErrorBody).error).toMatchObject({
      code: 'VALIDATION_ERROR',
      message: 'quantity must be a positive integer, got -3',
      fields: { 'query.quantity': ['must be ≥ 1'] },
    });
  });

  it.each(['/boom', '/boom-async'])(
    'turns an unexpected error on %s into a generic 500 and logs the whole error',
    async (path) => {
      const requestId = `req-500${path.replace('/', '-')}`;
      const response = await fetch(`${app.url}${path}`, { headers: { 'X-Request-Id': requestId } });
      expect(response.status).toBe(500);
      const body = (await response.json()) as ErrorBody;
      expect(body.error.code).toBe('INTERNAL');
      expect(body.error.requestId).toBe(requestId);
      expect(body.error.message).toContain(`reference ${requestId}`);
      expect(JSON.stringify(body)).not.toMatch(/password|10\.0\.0\.5|pool exhausted|at .*\.ts/);

      const logged = app.logs.lines.find((line) => line.msg === 'request failed' && line.requestId === requestId);
      expect(logged).toMatchObject({ level: 'error', path });
      const err = logged?.err as { message?: string; stack?: string } | undefined;
      expect(err?.message).toMatch(/password authentication failed|pool exhausted/);
      expect(err?.stack).toContain('app.test.ts');
    },
  );

  it('cuts the connection when the error comes after the response started', async () => {
    const outcome = await fetch(`${app.url}/half`, { headers: { 'X-Request-Id': 'req-half' } })
      .then((response) => response.text())
      .then(
        () => 'complete',
        () => 'cut',
      );
    expect(outcome).toBe('cut');
    const logged = app.logs.withMessage('request failed after the response started');
    expect(logged).toEqual([expect.objectContaining({ level: 'error', requestId: 'req-half', path: '/half' })]);
  });
});
