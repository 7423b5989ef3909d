import { z } from 'zod';

import { defineSort, listQuerySchema } from '../../../http/pagination.js';

export const ORDER_STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Lines per order and units per line: far above a real cart, low enough that totals stay exact integers. */
export const MAX_ORDER_LINES = 100;
export const MAX_LINE_QUANTITY = 10_000;

export const orderIdParams = z.strictObject({ id: z.uuid({ error: 'id must be an order id (a UUID)' }) });

const orderLine = z.strictObject({
  product_id: z.uuid({ error: 'product_id must be a product id (a UUID)' }),
  quantity: z
    .int({ error: 'quantity must be a whole number' })
    .min(1, { error: 'quantity must be at least 1' })
    .max(MAX_LINE_QUANTITY, { error: `quantity must be at most ${MAX_LINE_QUANTITY}` }),
});

export const createOrderBody = z.strictObject({
  items: z
    .array(orderLine)
    .min(1, { error: 'items must hold at least one line' })
    .max(MAX_ORDER_LINES, { error: `items must hold at most ${MAX_ORDER_LINES} lines` })
    .meta({
      description: 'One line per product: a product_id may appear on one line only.',
      // JSON Schema has no uniqueness by one property; this extension states the rule the validator enforces.
      'x-unique-by': 'product_id',
    })
    .superRefine((lines, context) => {
      const seen = new Set<string>();
      lines.forEach((line, index) => {
        if (seen.has(line.product_id)) {
          context.addIssue({
            code: 'custom',
            path: [index, 'product_id'],
            message: 'this product is already on another line; put its whole quantity on one line',
          });
        }
        seen.add(line.product_id);
      });
    }),
});

export const orderSort = defineSort(
  { created_at: 'o.created_at', total_cents: 'o.total_cents', status: 'o.status' },
  { default: [{ field: 'created_at', direction: 'desc' }], tiebreaker: 'o.id' },
);
export type OrderSortField = (typeof orderSort.fields)[number];

export const listOrdersQuery = listQuerySchema(orderSort, {});
