import { Router } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitUntil } from '@slipway/pipelines/testing/wait';
import { withTransaction } from '../src/db/transaction.js';
import { LockedError, RateLimitError, ServiceUnavailableError } from '../src/errors.js';
import { requestSignal } from '../src/http/abort.js';
import type { ErrorBody } from '../src/http/errors.js';
import { requestContext, setRequestUser } from '../src/http/request-context.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';
import { unique } from './support/db.js';

let app: TestApp;
const abortOutcome: { settled?: Promise<string> } = {};

function routes(): Router {
  const router = Router();
  router.get('/limited', () => {
    throw new RateLimitError('too many requests from this address; wait and retry', 42);
  });
  router.get('/locked', () => {
    throw new LockedError('account locked after 5 failed sign-ins', new Date(Date.now() + 120_000));
  });
  router.get('/db-down', (req) => {
    setRequestUser(req, 'user-123');
    throw new ServiceUnavailableError('the database is unreachable right now; retry in a few seconds', {
      cause: new Error('connect ECONNREFUSED 10.1.2.3:5432', { cause: new Error('socket hang up') }),
    });
  });
  router.post('/products', async (req, res) => {
    const sku = (req.body as { sku: string }).sku;
    await app.db.query('products.create', 'INSERT INTO products (sku, name, price_cents) VALUES ($1, $2, $3)', [
      sku,
      'Pen',
      100,
    ]);
    res.status(201).json({ sku });
  });
  router.post('/products-raw', async (req, res) => {
    const sku = (req.body as { sku: string }).sku;
    // Straight to pg, bypassing the wrapper: the error handler still classifies the SQLSTATE.
    await app.db.pool.query('INSERT INTO products (sku, name, price_cents) VALUES ($1, $2, $3)', [sku, 'Pen', 100]);
    res.status(201).json({ sku });
  });
  router.get('/three-queries', async (req, res) => {
    await app.db.query('test.one', 'SELECT 1');
    await Promise.all([app.db.query('test.two', 'SELECT 2'), app.db.query('test.three', 'SELECT 3')]);
    res.json({ queries: requestContext(req)?.queryCount });
  });
  router.get('/slow-transaction', async (req, res) => {
    const batch = typeof req.query.batch === 'string' ? req.query.batch : '';
    const work = withTransaction(
      app.db,
      async (tx) => {
        await tx.query('products.create', 'INSERT INTO products (sku, name, price_cents) VALUES ($1, $2, $3)', [
          batch,
          'Slow',
          1,
        ]);
        await tx.query('test.sleep', 'SELECT pg_sleep(5)');
      },
      { name: 'test.slowTransaction', signal: requestSignal(req) },
    );
    abortOutcome.settled = work.then(
      () => 'committed',
      (error: unknown) => (error as Error).name,
    );
    await work;
    res.json({ ok: true });
  });
  return router;
}

beforeAll(async () => {
  app = await startTestApp({ routers: [routes()] });
});

afterAll(async () => {
  await app.close();
});

async function get(path: string, init: RequestInit = {}): Promise<{ response: Response; body: ErrorBody }> {
  const response = await fetch(`${app.url}${path}`, init);
  return { response, body: (await response.json()) as ErrorBody };
}

function postJson(path: string, body: unknown, requestId: string): Promise<{ response: Response; body: ErrorBody }> {
  return get(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Request-Id': requestId },
    body: JSON.stringify(body),
  });
}

describe('error responses', () => {
  it('sends Retry-After with a 429 RATE_LIMITED', async () => {
    const { response, body } = await get('/limited');
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('42');
    expect(body.error).toMatchObject({
      code: 'RATE_LIMITED',
      message: 'too many requests from this address; wait and retry',
    });
  });

  it('sends the unlock time with a 423 ACCOUNT_LOCKED', async () => {
    const { response, body } = await get('/locked');
    expect(response.status).toBe(423);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(119);
    expect(body.error.code).toBe('ACCOUNT_LOCKED');
    expect(Date.parse(String(body.error.details?.unlock_at))).toBeGreaterThan(Date.now());
  });

  it('shows a 503 its safe message and the support reference, and logs the user, path and cause chain', async () => {
    const { response, body } = await get('/db-down', { headers: { 'X-Request-Id': 'req-503' } });
    expect(response.status).toBe(503);
    expect(body).toEqual({
      error: {
        code: 'SERVICE_UNAVAILABLE',
        message:
          'the database is unreachable right now; retry in a few seconds; if it persists, contact support and quote reference req-503',
        requestId: 'req-503',
      },
    });
    expect(JSON.stringify(body)).not.toMatch(/10\.1\.2\.3|ECONNREFUSED|hang up/);
    const logged = app.logs.lines.find((line) => line.msg === 'request failed' && line.requestId === 'req-503');
    expect(logged).toMatchObject({
      level: 'error',
      path: '/db-down',
      method: 'GET',
      userId: 'user-123',
      code: 'SERVICE_UNAVAILABLE',
    });
    expect(logged?.causes).toEqual([
      expect.objectContaining({ name: 'ServiceUnavailableError' }),
      { name: 'Error', message: 'connect ECONNREFUSED 10.1.2.3:5432' },
      { name: 'Error', message: 'socket hang up' },
    ]);
  });

  it.each(['/products', '/products-raw'])(
    'turns a unique violation on %s into 409 CONFLICT naming the column, not the value',
    async (path) => {
      const sku = unique('DUP');
      expect((await postJson(path, { sku }, unique('req'))).response.status).toBe(201);
      const { response, body } = await postJson(path, { sku }, 'req-dup');
      expect(response.status).toBe(409);
      expect(body.error).toEqual({
        code: 'CONFLICT',
        message: 'sku is already in use in products (constraint products_sku_key); choose a different value',
        details: { constraint: 'products_sku_key', fields: ['sku'] },
        requestId: 'req-dup',
      });
    },
  );
});

describe('per-request query count', () => {
  it('counts the queries a request ran and writes them on the access-log line', async () => {
    const response = await fetch(`${app.url}/three-queries`, { headers: { 'X-Request-Id': 'req-count' } });
    expect(await response.json()).toEqual({ queries: 3 });
    const line = app.logs.lines.find((entry) => entry.msg === 'request' && entry.requestId === 'req-count');
    expect(line).toMatchObject({ path: '/three-queries', status: 200, queries: 3 });
  });

  it('counts a request that parsed a JSON body too', async () => {
    await postJson('/products', { sku: unique('CNT') }, 'req-count-post');
    const line = app.logs.lines.find((entry) => entry.msg === 'request' && entry.requestId === 'req-count-post');
    expect(line).toMatchObject({ status: 201, queries: 1 });
  });
});

describe('client aborts', () => {
  it('rolls back the transaction of a request whose client went away, and cancels its query', async () => {
    const batch = unique('ABORT');
    const controller = new AbortController();
    const request = fetch(`${app.url}/slow-transaction?batch=${batch}`, {
      signal: controller.signal,
      headers: { 'X-Request-Id': 'req-abort' },
    }).catch((error: unknown) => error);
    // abort while the transaction, having written, sleeps in PostgreSQL
    await waitUntil('the slow transaction to be in its pg_sleep', async () => {
      const { rows } = await app.db.query(
        'test.activity',
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND state = 'active' AND backend_xid IS NOT NULL
            AND query = 'SELECT pg_sleep(5)'`,
      );
      return rows.length > 0;
    });
    const started = performance.now();
    controller.abort();
    await request;
    await expect.poll(() => abortOutcome.settled, { timeout: 2_000 }).toBeDefined();
    expect(await abortOutcome.settled).toBe('AbortedError');
    expect(performance.now() - started).toBeLessThan(2_000);
    const { rows } = await app.db.query('products.find', 'SELECT 1 FROM products WHERE sku = $1', [batch]);
    expect(rows).toEqual([]);
    await expect
      .poll(() =>
        app.logs.lines.find(
          (line) => line.requestId === 'req-abort' && line.msg === 'request work stopped: the client went away',
        ),
      )
      .toMatchObject({ level: 'info', path: '/slow-transaction' });
  });
});
