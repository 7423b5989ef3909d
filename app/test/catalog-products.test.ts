import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { escapeLikePattern, productListStatement } from '../src/components/catalog/products/repository.js';
import type { ProductListQuery } from '../src/components/catalog/products/repository.js';
import { listProductsQuery, productSort } from '../src/components/catalog/products/schemas.js';
import { createProductService } from '../src/components/catalog/products/service.js';
import type { ProductService } from '../src/components/catalog/products/service.js';
import type { Database } from '../src/db/pool.js';
import { ConflictError, NotFoundError, ValidationError } from '../src/errors.js';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { testDb } from './support/db.js';

let database: TestDatabase;
let db: Database;
let products: ProductService;

beforeAll(async () => {
  database = await createMigratedDatabase();
  ({ db } = testDb(database.url));
  products = createProductService(db);
});

afterAll(async () => {
  await db.end();
  await database.drop();
});

let skuCounter = 0;
function nextSku(prefix = 'SKU'): string {
  skuCounter += 1;
  return `${prefix}-${skuCounter}`;
}

function listQuery(overrides: Partial<ProductListQuery> = {}): ProductListQuery {
  return { page: 1, limit: 1000, sort: [{ field: 'sku', direction: 'asc' }], filter: {}, ...overrides };
}

describe('products service', () => {
  it('creates a product and reads it back by id', async () => {
    const created = await products.create({ sku: nextSku(), name: 'Brass hinge', priceCents: 1250, stock: 7 });
    expect(created).toMatchObject({ name: 'Brass hinge', description: '', priceCents: 1250, stock: 7, isActive: true });
    expect(await products.get(created.id)).toEqual(created);
  });

  it('refuses a second product with the same sku with a ConflictError naming sku', async () => {
    const sku = nextSku();
    await products.create({ sku, name: 'First', priceCents: 100, stock: 1 });
    const error = await products.create({ sku, name: 'Second', priceCents: 100, stock: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).message).toContain(`sku "${sku}" is already used`);
    expect((error as ConflictError).details).toMatchObject({ constraint: 'products_sku_key', fields: ['sku'] });
  });

  it('answers NotFoundError for an unknown id', async () => {
    await expect(products.get('6f1c2a8e-0b6d-4c1e-9a57-3d2b8c9e0f11')).rejects.toBeInstanceOf(NotFoundError);
    await expect(products.update('6f1c2a8e-0b6d-4c1e-9a57-3d2b8c9e0f11', { name: 'x' })).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('updates only the fields given', async () => {
    const created = await products.create({
      sku: nextSku(),
      name: 'Bolt',
      description: 'M8',
      priceCents: 40,
      stock: 3,
    });
    const updated = await products.update(created.id, { priceCents: 45 });
    expect(updated).toMatchObject({ name: 'Bolt', description: 'M8', priceCents: 45, stock: 3 });
  });

  it('refuses to take a sku another product uses', async () => {
    const taken = await products.create({ sku: nextSku(), name: 'A', priceCents: 1, stock: 0 });
    const other = await products.create({ sku: nextSku(), name: 'B', priceCents: 1, stock: 0 });
    await expect(products.update(other.id, { sku: taken.sku })).rejects.toThrow(ConflictError);
  });

  it('adjusts stock by a delta and never below zero', async () => {
    const created = await products.create({ sku: nextSku(), name: 'Nut', priceCents: 5, stock: 2 });
    expect((await products.adjustStock(created.id, 3)).stock).toBe(5);
    expect((await products.adjustStock(created.id, -5)).stock).toBe(0);
    const error = await products.adjustStock(created.id, -1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).details).toMatchObject({ constraint: 'products_stock_check' });
    expect((await products.get(created.id)).stock).toBe(0);
  });

  it('turns a price the database refuses into a ValidationError naming price_cents', async () => {
    const error = await products
      .create({ sku: nextSku(), name: 'Free', priceCents: 0, stock: 0 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields).toHaveProperty('price_cents');
  });
});

describe('products listing', () => {
  const prefix = 'LST';
  beforeAll(async () => {
    for (const [name, price] of [
      ['Oak table', 30_000],
      ['oak chair', 9_000],
      ['Pine shelf', 4_500],
      ['Birch stool', 2_000],
    ] as const) {
      await products.create({ sku: nextSku(prefix), name, priceCents: price, stock: 1 });
    }
  });

  it('pages with a total, sorts by a whitelisted field and filters by name and price', async () => {
    const byPrice = await products.list(
      listQuery({ limit: 2, sort: [{ field: 'price_cents', direction: 'desc' }], filter: { minPriceCents: 2_000 } }),
    );
    expect(byPrice.total).toBeGreaterThanOrEqual(4);
    expect(byPrice.items.map((p) => p.priceCents)).toEqual([30_000, 9_000]);

    const oak = await products.list(listQuery({ filter: { nameContains: 'OAK', maxPriceCents: 10_000 } }));
    expect(oak.items.map((p) => p.name)).toEqual(['oak chair']);
    expect(oak.total).toBe(1);
  });

  it('reports the total on a page past the end', async () => {
    const past = await products.list(listQuery({ page: 500, limit: 10, filter: { nameContains: 'shelf' } }));
    expect(past).toEqual({ items: [], page: 500, limit: 10, total: 1 });
  });

  it('parses the HTTP query into the listing query, refusing unknown sort fields and inverted price ranges', () => {
    expect(listProductsQuery.parse({ sort: '-price_cents,name', name: 'oak' })).toEqual({
      page: 1,
      limit: 20,
      sort: [
        { field: 'price_cents', direction: 'desc' },
        { field: 'name', direction: 'asc' },
      ],
      name: 'oak',
    });
    expect(listProductsQuery.safeParse({ sort: 'stock' }).success).toBe(false);
    // an inverted range is an empty listing, not an error (a JSON Schema cannot compare two parameters)
    expect(listProductsQuery.safeParse({ min_price_cents: '10', max_price_cents: '5' }).success).toBe(true);
    expect(listProductsQuery.safeParse({ max_price_cents: '2147483648' }).success).toBe(false);
    expect(productSort.fields).toEqual(['sku', 'name', 'price_cents', 'created_at']);
  });
});

describe('name filter is data, never SQL or a pattern', () => {
  // Names built from LIKE's special characters, so a filter that leaks into the pattern would over-match.
  const alphabet = ['a', 'B', '%', '_', '\\', ' ', "'", '!'];
  const names = ['100% cotton', 'a_b', 'aXb', 'back\\slash', 'back slash', "O'Brien", '%_\\', 'plain', 'B!a', 'ab'];
  const filterPrefix = 'PROP';

  beforeAll(async () => {
    for (const name of names) await products.create({ sku: nextSku(filterPrefix), name, priceCents: 1, stock: 0 });
  });

  it('escapes the wildcards and the escape character', () => {
    expect(escapeLikePattern('50%_off\\')).toBe('50\\%\\_off\\\\');
  });

  it('keeps the SQL text fixed and matches exactly what an in-memory substring filter matches', async () => {
    const baseline = productListStatement(listQuery()).sql;
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: fc.constantFrom(...alphabet), minLength: 1, maxLength: 6 }), async (text) => {
        const query = listQuery({ filter: { nameContains: text } });
        expect(productListStatement(query).sql).toBe(baseline);
        const page = await products.list(query);
        const found = page.items
          .filter((p) => p.sku.startsWith(`${filterPrefix}-`))
          .map((p) => p.name)
          .sort();
        const expected = names.filter((name) => name.toLowerCase().includes(text.toLowerCase())).sort();
        expect(found).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });
});
