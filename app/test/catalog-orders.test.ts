import { randomUUID } from 'node:crypto';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createOrderService } from '../src/components/catalog/orders/service.js';
import type { OrderService } from '../src/components/catalog/orders/service.js';
import { createProductService } from '../src/components/catalog/products/service.js';
import type { Product, ProductService } from '../src/components/catalog/products/service.js';
import type { Database } from '../src/db/pool.js';
import { newQueryScope, runInQueryScope } from '../src/db/query-scope.js';
import { ConflictError, NotFoundError, ValidationError } from '../src/errors.js';
import { createMigratedDatabase } from './support/database.js';
import type { CapturedLogs } from './support/logs.js';
import type { TestDatabase } from './support/database.js';
import { insertUser, testDb } from './support/db.js';

let database: TestDatabase;
let db: Database;
let logs: CapturedLogs;
let products: ProductService;
let orders: OrderService;

beforeAll(async () => {
  database = await createMigratedDatabase();
  // More connections than the default 10, so the concurrent orders really run side by side.
  ({ db, logs } = testDb(database.url, { maxConnections: 20 }));
  products = createProductService(db);
  orders = createOrderService(db);
});

afterAll(async () => {
  await db.end();
  await database.drop();
});

const RETRY_MESSAGE = 'transaction conflict (deadlock or serialization failure); retrying';
let counter = 0;
function newUser(): Promise<string> {
  return insertUser(db, 'buyer');
}

async function newProduct(stock: number, priceCents = 250): Promise<Product> {
  counter += 1;
  return products.create({ sku: `ORD-${counter}`, name: `Part ${counter}`, priceCents, stock });
}

async function stockOf(ids: readonly string[]): Promise<number[]> {
  return Promise.all(ids.map(async (id) => (await products.get(id)).stock));
}

async function orderCount(userId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'test.countOrders',
    'SELECT count(*) AS n FROM orders WHERE user_id = $1',
    [userId],
  );
  return rows[0]?.n ?? -1;
}

describe('placing an order', () => {
  it('takes the stock, copies unit prices and totals the lines', async () => {
    const user = await newUser();
    const bolt = await newProduct(10, 125);
    const nut = await newProduct(5, 40);
    const order = await orders.createOrder(user, [
      { productId: bolt.id, quantity: 4 },
      { productId: nut.id, quantity: 5 },
    ]);
    expect(order).toMatchObject({ userId: user, status: 'pending', totalCents: 4 * 125 + 5 * 40 });
    expect(order.items).toEqual([
      { productId: bolt.id, sku: bolt.sku, name: bolt.name, quantity: 4, unitPriceCents: 125 },
      { productId: nut.id, sku: nut.sku, name: nut.name, quantity: 5, unitPriceCents: 40 },
    ]);
    expect(await stockOf([bolt.id, nut.id])).toEqual([6, 0]);
    // A later price change leaves the order as it was placed.
    await products.update(bolt.id, { priceCents: 999 });
    expect(await orders.getOrder(user, order.id)).toEqual(order);
  });

  it('refuses a missing product, naming it, and changes nothing', async () => {
    const user = await newUser();
    const bolt = await newProduct(3);
    const ghost = randomUUID();
    const error = await orders
      .createOrder(user, [
        { productId: bolt.id, quantity: 1 },
        { productId: ghost, quantity: 1 },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).message).toContain(ghost);
    expect(await stockOf([bolt.id])).toEqual([3]);
    expect(await orderCount(user)).toBe(0);
  });

  it('refuses insufficient stock with a ConflictError naming the sku, and changes nothing', async () => {
    const user = await newUser();
    const plenty = await newProduct(10);
    const scarce = await newProduct(1);
    const error = await orders
      .createOrder(user, [
        { productId: plenty.id, quantity: 2 },
        { productId: scarce.id, quantity: 2 },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).message).toContain(`sku ${scarce.sku}: 2 requested, 1 in stock`);
    expect((error as ConflictError).details).toEqual({
      insufficientStock: [{ sku: scarce.sku, productId: scarce.id, requested: 2, available: 1 }],
    });
    expect(await stockOf([plenty.id, scarce.id])).toEqual([10, 1]);
    expect(await orderCount(user)).toBe(0);
  });

  it('refuses a product that is no longer sold', async () => {
    const user = await newUser();
    const retired = await newProduct(5);
    await db.query('test.retire', 'UPDATE products SET is_active = false WHERE id = $1', [retired.id]);
    await expect(orders.createOrder(user, [{ productId: retired.id, quantity: 1 }])).rejects.toThrow(
      /is no longer sold/,
    );
  });

  it('refuses duplicate products and empty carts instead of merging them', async () => {
    const user = await newUser();
    const bolt = await newProduct(5);
    const duplicate = await orders
      .createOrder(user, [
        { productId: bolt.id, quantity: 1 },
        { productId: bolt.id, quantity: 2 },
      ])
      .catch((e: unknown) => e);
    expect(duplicate).toBeInstanceOf(ValidationError);
    expect((duplicate as ValidationError).fields).toHaveProperty(['items.1.productId']);
    await expect(orders.createOrder(user, [])).rejects.toBeInstanceOf(ValidationError);
    await expect(orders.createOrder(user, [{ productId: bolt.id, quantity: 0 }])).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(await stockOf([bolt.id])).toEqual([5]);
  });
});

describe('reading, listing and cancelling orders', () => {
  it('reads an order with its items in one query, and only for its owner', async () => {
    const owner = await newUser();
    const stranger = await newUser();
    const a = await newProduct(5);
    const b = await newProduct(5);
    const placed = await orders.createOrder(owner, [
      { productId: a.id, quantity: 1 },
      { productId: b.id, quantity: 2 },
    ]);
    const scope = newQueryScope();
    const read = await runInQueryScope(scope, () => orders.getOrder(owner, placed.id));
    expect(scope.queryCount).toBe(1);
    expect(read).toEqual(placed);
    await expect(orders.getOrder(stranger, placed.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("lists the caller's orders only, paged and sorted, with the total", async () => {
    const user = await newUser();
    const other = await newUser();
    const part = await newProduct(100, 100);
    for (const quantity of [3, 1, 2]) await orders.createOrder(user, [{ productId: part.id, quantity }]);
    await orders.createOrder(other, [{ productId: part.id, quantity: 1 }]);

    const scope = newQueryScope();
    const page = await runInQueryScope(scope, () =>
      orders.listOrders(user, { page: 1, limit: 2, sort: [{ field: 'total_cents', direction: 'asc' }] }),
    );
    expect(scope.queryCount).toBe(1);
    expect(page.total).toBe(3);
    expect(page.items.map((o) => [o.totalCents, o.itemCount, o.userId])).toEqual([
      [100, 1, user],
      [200, 1, user],
    ]);
    const last = await orders.listOrders(user, {
      page: 2,
      limit: 2,
      sort: [{ field: 'total_cents', direction: 'asc' }],
    });
    expect(last.items.map((o) => o.totalCents)).toEqual([300]);
    const beyond = await orders.listOrders(user, {
      page: 9,
      limit: 2,
      sort: [{ field: 'created_at', direction: 'desc' }],
    });
    expect(beyond).toEqual({ items: [], page: 9, limit: 2, total: 3 });
  });

  it('cancels a pending order, restoring its stock, and refuses to cancel it twice', async () => {
    const user = await newUser();
    const a = await newProduct(4);
    const b = await newProduct(4);
    const order = await orders.createOrder(user, [
      { productId: b.id, quantity: 3 },
      { productId: a.id, quantity: 1 },
    ]);
    expect(await stockOf([a.id, b.id])).toEqual([3, 1]);
    const cancelled = await orders.cancelOrder(user, order.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.items).toEqual(order.items);
    expect(await stockOf([a.id, b.id])).toEqual([4, 4]);

    const again = await orders.cancelOrder(user, order.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ConflictError);
    expect((again as ConflictError).message).toContain('is cancelled; only pending orders can be cancelled');
    expect(await stockOf([a.id, b.id])).toEqual([4, 4]);
  });

  it("refuses to cancel another user's order as not found", async () => {
    const owner = await newUser();
    const part = await newProduct(2);
    const order = await orders.createOrder(owner, [{ productId: part.id, quantity: 1 }]);
    await expect(orders.cancelOrder(await newUser(), order.id)).rejects.toBeInstanceOf(NotFoundError);
    expect(await stockOf([part.id])).toEqual([1]);
  });

  it('refuses to cancel an order that has moved past pending', async () => {
    const user = await newUser();
    const part = await newProduct(2);
    const order = await orders.createOrder(user, [{ productId: part.id, quantity: 1 }]);
    await db.query('test.ship', "UPDATE orders SET status = 'shipped' WHERE id = $1", [order.id]);
    await expect(orders.cancelOrder(user, order.id)).rejects.toThrow(/is shipped/);
    expect(await stockOf([part.id])).toEqual([1]);
  });
});

describe('stock under concurrency (real PostgreSQL)', () => {
  it('sells exactly the last K units to N concurrent buyers, never below zero', async () => {
    const units = 5;
    const buyers = 30;
    const part = await newProduct(units);
    const users = await Promise.all(Array.from({ length: buyers }, () => newUser()));
    const results = await Promise.allSettled(
      users.map((user) => orders.createOrder(user, [{ productId: part.id, quantity: 1 }])),
    );
    const placed = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(placed).toHaveLength(units);
    expect(refused.every((r) => r.reason instanceof ConflictError)).toBe(true);
    expect(await stockOf([part.id])).toEqual([0]);
  });

  it('keeps initial − final stock equal to the units ordered, for random quantities', async () => {
    const initial = 20;
    const part = await newProduct(initial);
    const user = await newUser();
    const quantities = Array.from({ length: 25 }, (_, i) => (i % 3) + 1);
    const results = await Promise.allSettled(
      quantities.map((quantity) => orders.createOrder(user, [{ productId: part.id, quantity }])),
    );
    const [final] = await stockOf([part.id]);
    expect(final).toBeGreaterThanOrEqual(0);
    const sold = results.reduce((sum, r, i) => sum + (r.status === 'fulfilled' ? (quantities[i] ?? 0) : 0), 0);
    const { rows } = await db.query<{ units: number }>(
      'test.unitsOrdered',
      'SELECT COALESCE(sum(quantity), 0)::integer AS units FROM order_items WHERE product_id = $1',
      [part.id],
    );
    expect(rows[0]?.units).toBe(sold);
    expect(initial - (final ?? 0)).toBe(sold);
    // Every refusal was for stock, and it came only once too little was left for it.
    for (const [i, r] of results.entries()) {
      if (r.status === 'rejected') {
        expect(r.reason).toBeInstanceOf(ConflictError);
        expect(quantities[i]).toBeGreaterThan(final ?? 0);
      }
    }
  });

  it('completes orders that list the same two products in opposite order', async () => {
    const a = await newProduct(100);
    const b = await newProduct(100);
    const user = await newUser();
    const pairs = Array.from({ length: 10 }, () => [
      orders.createOrder(user, [
        { productId: a.id, quantity: 1 },
        { productId: b.id, quantity: 1 },
      ]),
      orders.createOrder(user, [
        { productId: b.id, quantity: 1 },
        { productId: a.id, quantity: 1 },
      ]),
    ]).flat();
    const retriesBefore = logs.withMessage(RETRY_MESSAGE).length;
    const results = await Promise.allSettled(pairs);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await stockOf([a.id, b.id])).toEqual([80, 80]);
    // Id-ordered locking alone prevents the deadlock: the retry helper never had to step in.
    expect(logs.withMessage(RETRY_MESSAGE).length).toBe(retriesBefore);
  });

  it('cancels and orders the same products concurrently without losing a unit', async () => {
    const a = await newProduct(50);
    const b = await newProduct(50);
    const user = await newUser();
    const first = await Promise.all(
      Array.from({ length: 5 }, () =>
        orders.createOrder(user, [
          { productId: b.id, quantity: 2 },
          { productId: a.id, quantity: 1 },
        ]),
      ),
    );
    await Promise.all([
      ...first.map((order) => orders.cancelOrder(user, order.id)),
      ...Array.from({ length: 5 }, () =>
        orders.createOrder(user, [
          { productId: a.id, quantity: 3 },
          { productId: b.id, quantity: 1 },
        ]),
      ),
    ]);
    expect(await stockOf([a.id, b.id])).toEqual([50 - 15, 50 - 5]);
  });

  it('leaves stock and orders unchanged for any cart with one line out of stock (property)', async () => {
    const user = await newUser();
    const shelf = await Promise.all(Array.from({ length: 6 }, (_, i) => newProduct(3 + i)));
    await fc.assert(
      fc.asyncProperty(
        fc
          .shuffledSubarray(shelf, { minLength: 1 })
          .chain((picked) =>
            fc.tuple(
              fc.constant(picked),
              fc.array(fc.integer({ min: 1, max: 3 }), { minLength: picked.length, maxLength: picked.length }),
              fc.nat({ max: picked.length - 1 }),
              fc.integer({ min: 1, max: 5 }),
            ),
          ),
        async ([picked, quantities, shortLine, excess]) => {
          const before = await stockOf(shelf.map((p) => p.id));
          const ordersBefore = await orderCount(user);
          const cart = picked.map((product, line) => {
            const available = before[shelf.indexOf(product)] ?? 0;
            // One line asks for more than is on the shelf; the others fit.
            const quantity = line === shortLine ? available + excess : Math.min(quantities[line] ?? 1, available);
            return { productId: product.id, quantity };
          });
          await expect(orders.createOrder(user, cart)).rejects.toBeInstanceOf(ConflictError);
          expect(await stockOf(shelf.map((p) => p.id))).toEqual(before);
          expect(await orderCount(user)).toBe(ordersBefore);
        },
      ),
      { numRuns: 40 },
    );
  });
});
