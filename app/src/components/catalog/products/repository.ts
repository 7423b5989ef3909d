import type { Queryable } from '../../../db/pool.js';
import { pageWindow } from '../../../http/pagination.js';
import type { PageRequest, SortKey } from '../../../http/pagination.js';
import type { Page } from '../../../http/pagination.js';
import { productSort } from './schemas.js';
import type { ProductSortField } from './schemas.js';

export interface Product {
  readonly id: string;
  readonly sku: string;
  readonly name: string;
  readonly description: string;
  readonly priceCents: number;
  readonly stock: number;
  readonly isActive: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface NewProduct {
  readonly sku: string;
  readonly name: string;
  readonly description?: string | undefined;
  readonly priceCents: number;
  readonly stock: number;
}

/** Fields to change; absent ones keep their value. Stock moves by `stockDelta` units (negative removes). */
export interface ProductChanges {
  readonly sku?: string | undefined;
  readonly name?: string | undefined;
  readonly description?: string | undefined;
  readonly priceCents?: number | undefined;
  readonly stockDelta?: number | undefined;
}

export interface ProductFilter {
  /** Case-insensitive substring of the name; `%`, `_` and `\` match themselves. */
  readonly nameContains?: string | undefined;
  readonly minPriceCents?: number | undefined;
  readonly maxPriceCents?: number | undefined;
}

export interface ProductListQuery extends PageRequest {
  readonly sort: readonly SortKey<ProductSortField>[];
  readonly filter: ProductFilter;
}

interface ProductRow {
  id: string;
  sku: string;
  name: string;
  description: string;
  price_cents: number;
  stock: number;
  is_active: boolean;
  created_at: Date;
  updated_at: Date;
}

type ListedRow = Omit<ProductRow, 'id'> & { id: string | null; total: number };

const PRODUCT_COLUMNS = 'id, sku, name, description, price_cents, stock, is_active, created_at, updated_at';

function toProduct(row: ProductRow): Product {
  return {
    id: row.id,
    sku: row.sku,
    name: row.name,
    description: row.description,
    priceCents: row.price_cents,
    stock: row.stock,
    isActive: row.is_active,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** `text` as a LIKE pattern that matches exactly itself: the wildcards and the escape character are escaped. */
export function escapeLikePattern(text: string): string {
  return text.replace(/[\\%_]/g, '\\$&');
}

export async function insertProduct(db: Queryable, product: NewProduct): Promise<Product> {
  const { rows } = await db.query<ProductRow>(
    'products.create',
    `INSERT INTO products (sku, name, description, price_cents, stock)
     VALUES ($1, $2, $3, $4, $5)
     RETURNING ${PRODUCT_COLUMNS}`,
    [product.sku, product.name, product.description ?? '', product.priceCents, product.stock],
  );
  const [row] = rows;
  if (row === undefined) throw new Error('products.create: INSERT … RETURNING gave no row');
  return toProduct(row);
}

export async function findProductById(db: Queryable, id: string): Promise<Product | undefined> {
  const { rows } = await db.query<ProductRow>('products.get', `SELECT ${PRODUCT_COLUMNS} FROM products WHERE id = $1`, [
    id,
  ]);
  return rows[0] === undefined ? undefined : toProduct(rows[0]);
}

/**
 * The listing statement and its parameters. The SQL text depends only on the sort keys (from the whitelist);
 * filters travel as parameters, so no request text ever becomes SQL.
 */
export function productListStatement(query: ProductListQuery): { readonly sql: string; readonly params: unknown[] } {
  const { limit, offset } = pageWindow(query);
  const orderBy = productSort.orderBy(query.sort);
  const { nameContains, minPriceCents, maxPriceCents } = query.filter;
  // The count comes from the same filtered set and survives an empty page, so a listing is always one query.
  const sql = `WITH filtered AS (
      SELECT ${PRODUCT_COLUMNS} FROM products
      WHERE ($1::text IS NULL OR name ILIKE '%' || $1::text || '%' ESCAPE '\\')
        AND ($2::integer IS NULL OR price_cents >= $2::integer)
        AND ($3::integer IS NULL OR price_cents <= $3::integer)
    )
    SELECT total.n AS total, p.*
    FROM (SELECT count(*) AS n FROM filtered) total
    LEFT JOIN LATERAL (SELECT * FROM filtered p ${orderBy} LIMIT $4 OFFSET $5) p ON true
    ${orderBy}`;
  const params = [
    nameContains === undefined ? null : escapeLikePattern(nameContains),
    minPriceCents ?? null,
    maxPriceCents ?? null,
    limit,
    offset,
  ];
  return { sql, params };
}

export async function listProducts(db: Queryable, query: ProductListQuery): Promise<Page<Product>> {
  const { sql, params } = productListStatement(query);
  // An empty page still yields the one row with the total, its product columns all NULL.
  const { rows } = await db.query<ListedRow>('products.list', sql, params);
  return {
    items: rows.filter((row): row is ListedRow & ProductRow => row.id !== null).map(toProduct),
    page: query.page,
    limit: query.limit,
    total: rows[0]?.total ?? 0,
  };
}

/** Applies `changes` in one statement; stock moves relative to its current value. Undefined when no such product. */
export async function updateProduct(db: Queryable, id: string, changes: ProductChanges): Promise<Product | undefined> {
  const { rows } = await db.query<ProductRow>(
    'products.update',
    `UPDATE products SET
       sku = COALESCE($2, sku),
       name = COALESCE($3, name),
       description = COALESCE($4, description),
       price_cents = COALESCE($5, price_cents),
       stock = stock + COALESCE($6, 0)
     WHERE id = $1
     RETURNING ${PRODUCT_COLUMNS}`,
    [
      id,
      changes.sku ?? null,
      changes.name ?? null,
      changes.description ?? null,
      changes.priceCents ?? null,
      changes.stockDelta ?? null,
    ],
  );
  return rows[0] === undefined ? undefined : toProduct(rows[0]);
}
