import { z } from 'zod';

import { defineSort, listQuerySchema, upToPattern } from '../../../http/pagination.js';

/** The largest value of a PostgreSQL `integer` column (price_cents, stock). */
export const INT4_MAX = 2_147_483_647;
/** The same rule as the `products_sku_check` constraint, so a bad sku is a 400 with its field, not a database error. */
export const SKU_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const NAME_MAX_LENGTH = 200;
export const DESCRIPTION_MAX_LENGTH = 2_000;

/** Whether `text` holds a control character (NUL, newline…): PostgreSQL refuses NUL and names are one line. */
function hasControlCharacter(text: string, allowLineBreaks: boolean): boolean {
  for (const char of text) {
    const code = char.charCodeAt(0);
    if (allowLineBreaks && (char === '\n' || char === '\r' || char === '\t')) continue;
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

// The same rules as hasControlCharacter and trim, stated in the document: one line, not only spaces.
const NAME_PATTERN = '^[^\\u0000-\\u001f\\u007f]*[^\\s\\u0000-\\u001f\\u007f][^\\u0000-\\u001f\\u007f]*$';
const DESCRIPTION_PATTERN = '^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$';

const sku = z.string().regex(SKU_PATTERN, {
  error: 'sku must be 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit',
});
const name = z
  .string()
  .trim()
  .min(1, { error: 'name must not be empty' })
  .max(NAME_MAX_LENGTH, { error: `name must be at most ${NAME_MAX_LENGTH} characters` })
  .refine((text) => !hasControlCharacter(text, false), { error: 'name must not contain control characters' })
  .meta({ pattern: NAME_PATTERN });
const description = z
  .string()
  .max(DESCRIPTION_MAX_LENGTH, { error: `description must be at most ${DESCRIPTION_MAX_LENGTH} characters` })
  .refine((text) => !hasControlCharacter(text, true), { error: 'description must not contain control characters' })
  .meta({ pattern: DESCRIPTION_PATTERN });
const priceCents = z
  .int({ error: 'price_cents must be a whole number of cents' })
  .min(1, { error: 'price_cents must be at least 1' })
  .max(INT4_MAX, { error: `price_cents must be at most ${INT4_MAX}` });

export const productIdParams = z.strictObject({ id: z.uuid({ error: 'id must be a product id (a UUID)' }) });

export const createProductBody = z.strictObject({
  sku,
  name,
  description: description.optional(),
  price_cents: priceCents,
  stock: z
    .int({ error: 'stock must be a whole number' })
    .min(0, { error: 'stock must be 0 or more' })
    .max(INT4_MAX, { error: `stock must be at most ${INT4_MAX}` }),
});

export const updateProductBody = z
  .strictObject({
    sku: sku.optional(),
    name: name.optional(),
    description: description.optional(),
    price_cents: priceCents.optional(),
    // Stock moves by a delta, never to an absolute value, so a PATCH cannot overwrite units sold meanwhile.
    stock_delta: z
      .int({ error: 'stock_delta must be a whole number' })
      .min(-INT4_MAX, { error: `stock_delta must be at least ${-INT4_MAX}` })
      .max(INT4_MAX, { error: `stock_delta must be at most ${INT4_MAX}` })
      .optional(),
  })
  .refine((changes) => Object.keys(changes).length > 0, {
    error: 'send at least one of sku, name, description, price_cents, stock_delta',
  })
  .meta({ minProperties: 1 });

export const productSort = defineSort(
  { sku: 'p.sku', name: 'p.name', price_cents: 'p.price_cents', created_at: 'p.created_at' },
  { default: [{ field: 'created_at', direction: 'desc' }], tiebreaker: 'p.id' },
);
export type ProductSortField = (typeof productSort.fields)[number];

function priceFilter(field: string) {
  const rule = `${field} must be a whole number of cents from 0 to ${INT4_MAX}, without leading zeros`;
  return z.string({ error: rule }).regex(upToPattern(INT4_MAX), { error: rule }).transform(Number).optional();
}

export const listProductsQuery = listQuerySchema(productSort, {
  name: z
    .string({ error: 'name must be text to search for in product names' })
    .min(1, { error: 'name must not be empty; leave it out to list every product' })
    .max(NAME_MAX_LENGTH, { error: `name must be at most ${NAME_MAX_LENGTH} characters` })
    .refine((text) => !hasControlCharacter(text, false), { error: 'name must not contain control characters' })
    .meta({ pattern: '^[^\\u0000-\\u001f\\u007f]*$' })
    .optional(),
  min_price_cents: priceFilter('min_price_cents'),
  max_price_cents: priceFilter('max_price_cents'),
  // a min above the max is a range that holds nothing: an empty page, not an error the document could not state
});
