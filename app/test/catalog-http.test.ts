import { randomUUID } from 'node:crypto';

import type { RequestHandler } from 'express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { createAccessComponent } from '../src/components/access/index.js';
import { createCatalogRouter } from '../src/components/catalog/routes.js';
import type { Database } from '../src/db/pool.js';
import { UnauthorizedError } from '../src/errors.js';
import type { ErrorBody } from '../src/http/errors.js';
import { setRequestUser } from '../src/http/request-context.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { grantAccountRole } from './support/auth.js';
import { insertUser, testDb } from './support/db.js';

// TEST DOUBLE ONLY: trusts a header for the caller's id. The real authenticate guard replaces it when wired.
const TEST_USER_HEADER = 'x-test-user-id';
const headerAuthenticate: RequestHandler = (req, _res, next) => {
  const userId = req.get(TEST_USER_HEADER);
  if (userId === undefined) {
    next(new UnauthorizedError());
    return;
  }
  setRequestUser(req, userId);
  next();
};

let database: TestDatabase;
let db: Database;
let app: TestApp;

beforeAll(async () => {
  database = await createMigratedDatabase();
  ({ db } = testDb(database.url));
  app = await startTestApp({
    env: { DATABASE_URL: database.url },
    // The real permission guard behind the header double: every test user is an admin (see newUser).
    routers: (deps) => {
      const access = createAccessComponent({ ...deps, authenticate: headerAuthenticate });
      return [createCatalogRouter({ db, authenticate: headerAuthenticate, ...access })];
    },
  });
});

afterAll(async () => {
  await app.close();
  await db.end();
  await database.drop();
});

interface Reply<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

async function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: { user?: string; body?: unknown } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  if (options.user !== undefined) headers[TEST_USER_HEADER] = options.user;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${app.url}${path}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  return { status: response.status, body: (await response.json()) as T, headers: response.headers };
}

let counter = 0;
async function newUser(role: Parameters<typeof grantAccountRole>[2] = 'admin'): Promise<string> {
  const userId = await insertUser(db, 'http');
  await grantAccountRole(db, userId, role);
  return userId;
}

interface ProductJson {
  id: string;
  sku: string;
  name: string;
  price_cents: number;
  stock: number;
}

interface OrderJson {
  id: string;
  status: string;
  total_cents: number;
  items: { product_id: string; sku: string; quantity: number; unit_price_cents: number }[];
}

async function newProduct(user: string, stock: number, priceCents = 500): Promise<ProductJson> {
  counter += 1;
  const reply = await call<ProductJson>('POST', '/api/v1/products', {
    user,
    body: { sku: `HTTP-${counter}`, name: `Widget ${counter}`, price_cents: priceCents, stock },
  });
  expect(reply.status).toBe(201);
  return reply.body;
}

function fieldsOf(reply: Reply): Record<string, readonly string[]> {
  const { error } = reply.body as unknown as ErrorBody;
  expect(error.code).toBe('VALIDATION_ERROR');
  return error.fields ?? {};
}

/** The `queries` of the access-log line for a request id: the request context's query count. */
async function queriesOf(requestId: string): Promise<unknown> {
  return vi.waitFor(() => {
    const line = app.logs.lines.find((entry) => entry.msg === 'request' && entry.requestId === requestId);
    if (line === undefined) throw new Error(`no access-log line yet for ${requestId}`);
    return line.queries;
  });
}

describe('products over HTTP', () => {
  let user: string;
  beforeAll(async () => {
    user = await newUser();
  });

  it('answers 401 without an authenticated caller', async () => {
    expect((await call('GET', '/api/v1/products')).status).toBe(401);
  });

  it('creates, reads, updates and lists a product', async () => {
    const created = await call<ProductJson>('POST', '/api/v1/products', {
      user,
      body: { sku: 'CHAIR-1', name: 'Oak chair', description: 'Solid oak', price_cents: 4_999, stock: 3 },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/v1/products/${created.body.id}`);
    expect(created.body).toMatchObject({ sku: 'CHAIR-1', name: 'Oak chair', price_cents: 4_999, stock: 3 });

    const read = await call<ProductJson>('GET', `/api/v1/products/${created.body.id}`, { user });
    expect(read).toMatchObject({ status: 200, body: created.body });

    const patched = await call<ProductJson>('PATCH', `/api/v1/products/${created.body.id}`, {
      user,
      body: { price_cents: 5_499, stock_delta: -1 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Oak chair', price_cents: 5_499, stock: 2 });

    const listed = await call<{ items: ProductJson[]; total: number; page: number; limit: number }>(
      'GET',
      '/api/v1/products?name=oak%20ch&max_price_cents=6000&sort=-price_cents,name&limit=5',
      { user },
    );
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ total: 1, page: 1, limit: 5 });
    expect(listed.body.items.map((p) => p.sku)).toEqual(['CHAIR-1']);
  });

  it('answers 409 naming sku for a duplicate sku', async () => {
    const first = await newProduct(user, 1);
    const reply = await call('POST', '/api/v1/products', {
      user,
      body: { sku: first.sku, name: 'Copy', price_cents: 1, stock: 0 },
    });
    expect(reply.status).toBe(409);
    expect((reply.body as unknown as ErrorBody).error.details).toMatchObject({ fields: ['sku'] });
  });

  it('answers 409 when a stock delta would go below zero', async () => {
    const product = await newProduct(user, 1);
    const reply = await call('PATCH', `/api/v1/products/${product.id}`, { user, body: { stock_delta: -2 } });
    expect(reply.status).toBe(409);
  });

  it('answers 404 for an unknown product id and 400 for a malformed one', async () => {
    expect((await call('GET', `/api/v1/products/${randomUUID()}`, { user })).status).toBe(404);
    expect(fieldsOf(await call('GET', '/api/v1/products/42', { user }))).toHaveProperty(['params.id']);
  });

  it.each([
    ['limit 0', '?limit=0', 'query.limit'],
    ['limit above 1000', '?limit=1001', 'query.limit'],
    ['page 0', '?page=0', 'query.page'],
    ['an unknown sort column', '?sort=stock', 'query.sort'],
    ['an SQL sort', '?sort=name;DROP%20TABLE%20products', 'query.sort'],
    ['an unknown filter', '?colour=red', 'query.colour'],
    ['a huge name filter', `?name=${'a'.repeat(5_000)}`, 'query.name'],
    ['a price above the largest stored', '?max_price_cents=2147483648', 'query.max_price_cents'],
    ['a negative price', '?min_price_cents=-1', 'query.min_price_cents'],
  ])('refuses a listing with %s with a structured 400', async (_what, search, field) => {
    const reply = await call('GET', `/api/v1/products${search}`, { user });
    expect(reply.status).toBe(400);
    expect(fieldsOf(reply)).toHaveProperty([field]);
  });

  it.each([
    ['an unknown field', { sku: 'X-1', name: 'x', price_cents: 1, stock: 0, admin: true }, 'body.admin'],
    ['a zero price', { sku: 'X-2', name: 'x', price_cents: 0, stock: 0 }, 'body.price_cents'],
    ['a fractional price', { sku: 'X-3', name: 'x', price_cents: 1.5, stock: 0 }, 'body.price_cents'],
    ['a negative stock', { sku: 'X-4', name: 'x', price_cents: 1, stock: -1 }, 'body.stock'],
    ['a bad sku', { sku: '-nope', name: 'x', price_cents: 1, stock: 0 }, 'body.sku'],
    ['a huge name', { sku: 'X-5', name: 'n'.repeat(50_000), price_cents: 1, stock: 0 }, 'body.name'],
    [
      'a huge description',
      { sku: 'X-6', name: 'x', description: 'd'.repeat(50_000), price_cents: 1, stock: 0 },
      'body.description',
    ],
    ['a NUL in the name', { sku: 'X-7', name: 'a\u0000b', price_cents: 1, stock: 0 }, 'body.name'],
  ])('refuses a product with %s with a structured 400', async (_what, body, field) => {
    const reply = await call('POST', '/api/v1/products', { user, body });
    expect(reply.status).toBe(400);
    expect(fieldsOf(reply)).toHaveProperty([field]);
  });

  it('refuses an empty PATCH', async () => {
    const product = await newProduct(user, 1);
    const reply = await call('PATCH', `/api/v1/products/${product.id}`, { user, body: {} });
    expect(reply.status).toBe(400);
    expect(fieldsOf(reply)).toHaveProperty(['body']);
  });
});

describe('orders over HTTP', () => {
  let buyer: string;
  let stranger: string;
  beforeAll(async () => {
    // a customer: an administrator holds orders:read and would see every order
    [buyer, stranger] = await Promise.all([newUser(), newUser('customer')]);
  });

  it('places an order (201), reads it in one query, lists and cancels it', async () => {
    const a = await newProduct(buyer, 5, 300);
    const b = await newProduct(buyer, 5, 125);
    const placed = await call<OrderJson>('POST', '/api/v1/orders', {
      user: buyer,
      body: {
        items: [
          { product_id: a.id, quantity: 2 },
          { product_id: b.id, quantity: 1 },
        ],
      },
    });
    expect(placed.status).toBe(201);
    expect(placed.body).toMatchObject({ status: 'pending', total_cents: 2 * 300 + 125 });
    expect(placed.body.items.map((i) => [i.sku, i.quantity, i.unit_price_cents])).toEqual([
      [a.sku, 2, 300],
      [b.sku, 1, 125],
    ]);

    const requestId = `order-read-${randomUUID()}`;
    const response = await fetch(`${app.url}/api/v1/orders/${placed.body.id}`, {
      headers: { [TEST_USER_HEADER]: buyer, 'x-request-id': requestId },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(placed.body);
    expect(await queriesOf(requestId)).toBe(1);

    const listed = await call<{ items: { id: string; item_count: number }[]; total: number }>(
      'GET',
      '/api/v1/orders?sort=-total_cents&limit=10',
      { user: buyer },
    );
    expect(listed.status).toBe(200);
    expect(listed.body.items.find((o) => o.id === placed.body.id)?.item_count).toBe(2);

    const cancelled = await call<OrderJson>('POST', `/api/v1/orders/${placed.body.id}/cancel`, { user: buyer });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    const restored = await call<ProductJson>('GET', `/api/v1/products/${a.id}`, { user: buyer });
    expect(restored.body.stock).toBe(5);

    const again = await call('POST', `/api/v1/orders/${placed.body.id}/cancel`, { user: buyer });
    expect(again.status).toBe(409);
  });

  it("answers 404, not 403, for another user's order, and lists only the caller's", async () => {
    const part = await newProduct(buyer, 3);
    const placed = await call<OrderJson>('POST', '/api/v1/orders', {
      user: buyer,
      body: { items: [{ product_id: part.id, quantity: 1 }] },
    });
    const theirs = await call('GET', `/api/v1/orders/${placed.body.id}`, { user: stranger });
    const missing = await call('GET', `/api/v1/orders/${randomUUID()}`, { user: stranger });
    expect(theirs.status).toBe(404);
    expect(missing.status).toBe(404);
    expect((await call('POST', `/api/v1/orders/${placed.body.id}/cancel`, { user: stranger })).status).toBe(404);
    const listed = await call<{ items: unknown[]; total: number }>('GET', '/api/v1/orders', { user: stranger });
    expect(listed.body).toMatchObject({ items: [], total: 0 });
  });

  it('answers 409 naming the sku on insufficient stock, and 404 naming a missing product', async () => {
    const part = await newProduct(buyer, 1);
    const short = await call('POST', '/api/v1/orders', {
      user: buyer,
      body: { items: [{ product_id: part.id, quantity: 2 }] },
    });
    expect(short.status).toBe(409);
    expect((short.body as unknown as ErrorBody).error.message).toContain(part.sku);

    const ghost = randomUUID();
    const missing = await call('POST', '/api/v1/orders', {
      user: buyer,
      body: { items: [{ product_id: ghost, quantity: 1 }] },
    });
    expect(missing.status).toBe(404);
    expect((missing.body as unknown as ErrorBody).error.message).toContain(ghost);
    expect((await call<ProductJson>('GET', `/api/v1/products/${part.id}`, { user: buyer })).body.stock).toBe(1);
  });

  it.each([
    ['a negative quantity', [{ product_id: randomUUID(), quantity: -1 }], 'body.items.0.quantity'],
    ['a zero quantity', [{ product_id: randomUUID(), quantity: 0 }], 'body.items.0.quantity'],
    ['a malformed product id', [{ product_id: 'abc', quantity: 1 }], 'body.items.0.product_id'],
    ['an unknown line field', [{ product_id: randomUUID(), quantity: 1, price_cents: 1 }], 'body.items.0.price_cents'],
    ['no lines', [], 'body.items'],
  ])('refuses an order with %s with a structured 400', async (_what, items, field) => {
    const reply = await call('POST', '/api/v1/orders', { user: buyer, body: { items } });
    expect(reply.status).toBe(400);
    expect(fieldsOf(reply)).toHaveProperty([field]);
  });

  it('refuses a product listed twice rather than merging the lines', async () => {
    const id = randomUUID();
    const reply = await call('POST', '/api/v1/orders', {
      user: buyer,
      body: {
        items: [
          { product_id: id, quantity: 1 },
          { product_id: id, quantity: 1 },
        ],
      },
    });
    expect(reply.status).toBe(400);
    expect(fieldsOf(reply)).toHaveProperty(['body.items.1.product_id']);
  });

  it('refuses bad order listing and id input with structured 400s', async () => {
    expect(fieldsOf(await call('GET', '/api/v1/orders?limit=0', { user: buyer }))).toHaveProperty(['query.limit']);
    expect(fieldsOf(await call('GET', '/api/v1/orders?sort=user_id', { user: buyer }))).toHaveProperty(['query.sort']);
    expect(fieldsOf(await call('GET', '/api/v1/orders/not-a-uuid', { user: buyer }))).toHaveProperty(['params.id']);
  });
});
