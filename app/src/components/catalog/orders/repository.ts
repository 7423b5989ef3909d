import type { Queryable } from '../../../db/pool.js';
import { pageWindow } from '../../../http/pagination.js';
import type { PageRequest, SortKey } from '../../../http/pagination.js';
import type { Page } from '../../../http/pagination.js';
import { orderSort } from './schemas.js';
import type { OrderSortField, OrderStatus } from './schemas.js';

export interface OrderItem {
  readonly productId: string;
  readonly sku: string;
  readonly name: string;
  readonly quantity: number;
  readonly unitPriceCents: number;
}

export interface OrderSummary {
  readonly id: string;
  readonly userId: string;
  readonly status: OrderStatus;
  readonly totalCents: number;
  readonly itemCount: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface Order extends Omit<OrderSummary, 'itemCount'> {
  readonly items: readonly OrderItem[];
}

export interface OrderListQuery extends PageRequest {
  readonly sort: readonly SortKey<OrderSortField>[];
}

/** A product row as an order sees it while holding its lock. */
export interface LockedProduct {
  readonly id: string;
  readonly sku: string;
  readonly name: string;
  readonly priceCents: number;
  readonly stock: number;
  readonly isActive: boolean;
}

/** One line to write: the product, how many, and the unit price copied from the product. */
export interface PricedLine {
  readonly productId: string;
  readonly quantity: number;
  readonly unitPriceCents: number;
}

interface OrderRow {
  id: string;
  user_id: string;
  status: OrderStatus;
  total_cents: number;
  created_at: Date;
  updated_at: Date;
}

const ORDER_COLUMNS = 'o.id, o.user_id, o.status, o.total_cents, o.created_at, o.updated_at';

function toOrder(row: OrderRow, items: readonly OrderItem[]): Order {
  return {
    id: row.id,
    userId: row.user_id,
    status: row.status,
    totalCents: row.total_cents,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    items,
  };
}

/**
 * Locks the products in id order (FOR UPDATE after ORDER BY locks row by row in that order), so two orders that
 * share products always queue in the same order instead of deadlocking.
 */
export async function lockProducts(tx: Queryable, productIds: readonly string[]): Promise<LockedProduct[]> {
  const { rows } = await tx.query<{
    id: string;
    sku: string;
    name: string;
    price_cents: number;
    stock: number;
    is_active: boolean;
  }>(
    'orders.lockProducts',
    `SELECT id, sku, name, price_cents, stock, is_active FROM products
     WHERE id = ANY($1::uuid[])
     ORDER BY id
     FOR UPDATE`,
    [productIds],
  );
  return rows.map((row) => ({
    id: row.id,
    sku: row.sku,
    name: row.name,
    priceCents: row.price_cents,
    stock: row.stock,
    isActive: row.is_active,
  }));
}

/** Moves stock by each line's quantity times `sign` (-1 takes, +1 gives back); the rows must already be locked. */
export async function moveStock(
  tx: Queryable,
  lines: readonly { readonly productId: string; readonly quantity: number }[],
  sign: -1 | 1,
): Promise<void> {
  await tx.query(
    sign < 0 ? 'orders.takeStock' : 'orders.restoreStock',
    `UPDATE products p SET stock = p.stock + $3::integer * line.quantity
     FROM unnest($1::uuid[], $2::integer[]) AS line(product_id, quantity)
     WHERE p.id = line.product_id`,
    [lines.map((line) => line.productId), lines.map((line) => line.quantity), sign],
  );
}

/** Inserts the order and its lines; returns the order row. */
export async function insertOrder(
  tx: Queryable,
  userId: string,
  totalCents: number,
  lines: readonly PricedLine[],
): Promise<Omit<Order, 'items'>> {
  const { rows } = await tx.query<OrderRow>(
    'orders.create',
    `INSERT INTO orders AS o (user_id, status, total_cents) VALUES ($1, 'pending', $2)
     RETURNING ${ORDER_COLUMNS}`,
    [userId, totalCents],
  );
  const [order] = rows;
  if (order === undefined) throw new Error('orders.create: INSERT … RETURNING gave no row');
  await tx.query(
    'orders.createItems',
    `INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
     SELECT $1, line.product_id, line.quantity, line.unit_price_cents
     FROM unnest($2::uuid[], $3::integer[], $4::integer[]) WITH ORDINALITY
       AS line(product_id, quantity, unit_price_cents, position)
     ORDER BY line.position`,
    [
      order.id,
      lines.map((line) => line.productId),
      lines.map((line) => line.quantity),
      lines.map((line) => line.unitPriceCents),
    ],
  );
  return toOrder(order, []);
}

/** The order with its lines in one query, only when `userId` owns it; `userId` null reads any owner's (orders:read). */
export async function findOrderForUser(
  db: Queryable,
  userId: string | null,
  orderId: string,
): Promise<Order | undefined> {
  const { rows } = await db.query<OrderRow & { items: OrderItem[] }>(
    'orders.get',
    `SELECT ${ORDER_COLUMNS},
       COALESCE(
         json_agg(
           json_build_object(
             'productId', i.product_id, 'sku', p.sku, 'name', p.name,
             'quantity', i.quantity, 'unitPriceCents', i.unit_price_cents
           ) ORDER BY i.id
         ) FILTER (WHERE i.id IS NOT NULL),
         '[]'::json
       ) AS items
     FROM orders o
     LEFT JOIN order_items i ON i.order_id = o.id
     LEFT JOIN products p ON p.id = i.product_id
     WHERE o.id = $1 AND ($2::uuid IS NULL OR o.user_id = $2)
     GROUP BY o.id`,
    [orderId, userId],
  );
  const row = rows[0];
  return row === undefined ? undefined : toOrder(row, row.items);
}

/** Locks the order row of `userId` for a status change; undefined when there is none. */
export async function lockOrderForUser(
  tx: Queryable,
  userId: string,
  orderId: string,
): Promise<{ readonly status: OrderStatus } | undefined> {
  const { rows } = await tx.query<{ status: OrderStatus }>(
    'orders.lock',
    'SELECT status FROM orders WHERE id = $1 AND user_id = $2 FOR UPDATE',
    [orderId, userId],
  );
  return rows[0];
}

/** The order's lines, with their products locked in id order (the same order `lockProducts` uses). */
export async function lockOrderLines(
  tx: Queryable,
  orderId: string,
): Promise<{ readonly productId: string; readonly quantity: number }[]> {
  const { rows } = await tx.query<{ product_id: string; quantity: number }>(
    'orders.lockLines',
    `SELECT i.product_id, i.quantity
     FROM order_items i JOIN products p ON p.id = i.product_id
     WHERE i.order_id = $1
     ORDER BY p.id
     FOR UPDATE OF p`,
    [orderId],
  );
  return rows.map((row) => ({ productId: row.product_id, quantity: row.quantity }));
}

export async function setOrderStatus(tx: Queryable, orderId: string, status: OrderStatus): Promise<void> {
  await tx.query('orders.setStatus', 'UPDATE orders SET status = $2 WHERE id = $1', [orderId, status]);
}

export async function listOrdersForUser(
  db: Queryable,
  userId: string | null,
  query: OrderListQuery,
): Promise<Page<OrderSummary>> {
  const { limit, offset } = pageWindow(query);
  const orderBy = orderSort.orderBy(query.sort);
  // The count rides along with the page so an empty page still reports it; one query per listing.
  const { rows } = await db.query<Omit<OrderRow, 'id'> & { id: string | null; total: number; item_count: number }>(
    'orders.list',
    `WITH mine AS (SELECT * FROM orders WHERE $1::uuid IS NULL OR user_id = $1)
     SELECT total.n AS total, o.*
     FROM (SELECT count(*) AS n FROM mine) total
     LEFT JOIN LATERAL (
       SELECT ${ORDER_COLUMNS}, (SELECT count(*) FROM order_items i WHERE i.order_id = o.id) AS item_count
       FROM mine o ${orderBy} LIMIT $2 OFFSET $3
     ) o ON true
     ${orderBy}`,
    [userId, limit, offset],
  );
  const items: OrderSummary[] = [];
  for (const row of rows) {
    if (row.id === null) continue;
    items.push({
      id: row.id,
      userId: row.user_id,
      status: row.status,
      totalCents: row.total_cents,
      itemCount: row.item_count,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    });
  }
  return {
    items,
    page: query.page,
    limit: query.limit,
    total: rows[0]?.total ?? 0,
  };
}
