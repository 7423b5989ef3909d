import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createComponents } from '../src/components/index.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';
import { call, grantAccountRole, registerAccount, signIn } from './support/auth.js';
import { unique } from './support/db.js';

// The service as server.ts wires it (createComponents): the real authenticate guard in front of the catalog.
let service: TestApp;

beforeAll(async () => {
  service = await startTestApp({
    env: { TRUST_PROXY: '1' },
    routers: (deps) => createComponents(deps).routers,
  });
});

afterAll(async () => {
  await service.close();
});

/** A signed-in manager, who may add products (customers may not). */
async function managerToken(): Promise<string> {
  const manager = await registerAccount(service.url);
  await grantAccountRole(service.db, manager.id, 'manager');
  return (await signIn(service.url, manager)).accessToken;
}

describe('a customer buys through the wired service', () => {
  it('registers, signs in, orders the last units, reads the order back and cancels it', async () => {
    const account = await registerAccount(service.url);
    const { accessToken } = await signIn(service.url, account);
    const token = accessToken;

    const created = await call(service.url, 'POST', '/api/v1/products', {
      token: await managerToken(),
      body: { sku: unique('SKU').slice(0, 60), name: 'Slipway mug', price_cents: 1250, stock: 2 },
    });
    expect(created.status).toBe(201);
    const productId = created.body.id as string;

    const ordered = await call(service.url, 'POST', '/api/v1/orders', {
      token,
      body: { items: [{ product_id: productId, quantity: 2 }] },
    });
    expect(ordered.status).toBe(201);
    expect(ordered.body.total_cents).toBe(2500);
    const orderId = ordered.body.id as string;

    const soldOut = await call(service.url, 'POST', '/api/v1/orders', {
      token,
      body: { items: [{ product_id: productId, quantity: 1 }] },
    });
    expect(soldOut.status).toBe(409);
    expect((soldOut.body.error as { code: string }).code).toBe('CONFLICT');

    const read = await call(service.url, 'GET', `/api/v1/orders/${orderId}`, { token });
    expect(read.status).toBe(200);
    expect(read.body.items).toEqual([expect.objectContaining({ product_id: productId, quantity: 2 })]);

    const cancelled = await call(service.url, 'POST', `/api/v1/orders/${orderId}/cancel`, { token });
    expect(cancelled.status).toBe(200);
    const product = await call(service.url, 'GET', `/api/v1/products/${productId}`, { token });
    expect(product.body.stock).toBe(2);
  });

  it("keeps one customer's order from another, and shows every order to a manager (orders:read)", async () => {
    const owner = await registerAccount(service.url);
    const other = await registerAccount(service.url);
    const ownerToken = (await signIn(service.url, owner)).accessToken;
    const otherToken = (await signIn(service.url, other)).accessToken;
    const manager = await managerToken();
    const product = await call(service.url, 'POST', '/api/v1/products', {
      token: manager,
      body: { sku: unique('SKU').slice(0, 60), name: 'Deck brush', price_cents: 900, stock: 5 },
    });
    const order = await call(service.url, 'POST', '/api/v1/orders', {
      token: ownerToken,
      body: { items: [{ product_id: product.body.id, quantity: 1 }] },
    });
    const path = `/api/v1/orders/${String(order.body.id)}`;
    expect((await call(service.url, 'GET', path, { token: otherToken })).status).toBe(404);
    const othersList = await call(service.url, 'GET', '/api/v1/orders?limit=1000', { token: otherToken });
    expect((othersList.body.items as { id: string }[]).map((o) => o.id)).not.toContain(order.body.id);

    const seen = await call(service.url, 'GET', path, { token: manager });
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ id: order.body.id, user_id: owner.id });
    const managersList = await call(service.url, 'GET', '/api/v1/orders?limit=1000&sort=-created_at', {
      token: manager,
    });
    expect((managersList.body.items as { id: string }[]).map((o) => o.id)).toContain(order.body.id);
  });

  it('refuses the catalog without a valid access token, and after logout', async () => {
    const anonymous = await call(service.url, 'GET', '/api/v1/products');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');

    const account = await registerAccount(service.url);
    const { accessToken } = await signIn(service.url, account);
    expect((await call(service.url, 'GET', '/api/v1/products', { token: accessToken })).status).toBe(200);
    expect((await call(service.url, 'POST', '/api/v1/auth/logout', { token: accessToken })).status).toBe(204);
    expect((await call(service.url, 'GET', '/api/v1/products', { token: accessToken })).status).toBe(401);
  });
});
