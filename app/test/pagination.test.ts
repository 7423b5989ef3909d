import fc from 'fast-check';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';

import {
  PAGE_DEFAULT_LIMIT,
  PAGE_MAX_LIMIT,
  defineSort,
  listQuerySchema,
  pageWindow,
  paginationShape,
} from '../src/http/pagination.js';

const productSort = defineSort(
  { created_at: 'p.created_at', name: 'p.name', priceCents: 'p.price_cents' },
  { default: [{ field: 'created_at', direction: 'desc' }], tiebreaker: 'p.id' },
);
const WHITELISTED = ['p.created_at', 'p.name', 'p.price_cents', 'p.id'];

describe('pagination', () => {
  const schema = z.strictObject(paginationShape);

  it('defaults to page 1 of 20', () => {
    expect(schema.parse({})).toEqual({ page: 1, limit: PAGE_DEFAULT_LIMIT });
    expect(PAGE_DEFAULT_LIMIT).toBe(20);
  });

  it.each([
    [
      { page: '3', limit: '50' },
      { page: 3, limit: 50 },
    ],
    [{ limit: '1' }, { page: 1, limit: 1 }],
    [{ limit: '1000' }, { page: 1, limit: PAGE_MAX_LIMIT }],
  ])('accepts %j', (query, parsed) => {
    expect(schema.parse(query)).toEqual(parsed);
  });

  it.each([
    [{ page: '0' }, 'page must be a whole number from 1 to 1000000'],
    [{ page: '-1' }, 'page must be a whole number'],
    [{ page: '1.5' }, 'page must be a whole number'],
    [{ page: '1e3' }, 'page must be a whole number'],
    [{ page: ['1', '2'] }, 'page must be a whole number'],
    [{ limit: '0' }, 'limit must be a whole number from 1 to 1000'],
    [{ limit: '1001' }, 'limit must be a whole number from 1 to 1000'],
    [{ limit: '' }, 'limit must be a whole number'],
  ])('refuses %j', (query, message) => {
    const result = schema.safeParse(query);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain(message);
  });

  it('turns a page into LIMIT and OFFSET', () => {
    expect(pageWindow({ page: 1, limit: 20 })).toEqual({ limit: 20, offset: 0 });
    expect(pageWindow({ page: 4, limit: 25 })).toEqual({ limit: 25, offset: 75 });
  });
});

describe('sorting', () => {
  it('uses the default sort when none is given, with the tiebreaker last', () => {
    const keys = productSort.schema.parse(undefined);
    expect(keys).toEqual([{ field: 'created_at', direction: 'desc' }]);
    expect(productSort.orderBy(keys)).toBe('ORDER BY p.created_at DESC, p.id ASC');
  });

  it('parses -field as descending and keeps the order given', () => {
    const keys = productSort.schema.parse('-priceCents,name');
    expect(keys).toEqual([
      { field: 'priceCents', direction: 'desc' },
      { field: 'name', direction: 'asc' },
    ]);
    expect(productSort.orderBy(keys)).toBe('ORDER BY p.price_cents DESC, p.name ASC, p.id ASC');
  });

  it.each([
    ['password', 'cannot sort by "password"; allowed: created_at, name, priceCents (prefix - for descending)'],
    ['name;DROP TABLE users', 'cannot sort by "name;DROP TABLE users"'],
    ['constructor', 'cannot sort by "constructor"'],
    ['__proto__', 'cannot sort by "__proto__"'],
    [' name', 'cannot sort by " name"'],
    ['name,name', 'name appears more than once in sort'],
    ['name,-name', 'name appears more than once in sort'],
    ['--name', 'cannot sort by "--name"'],
  ])('refuses sort=%j', (sort, message) => {
    const result = productSort.schema.safeParse(sort);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain(message);
  });

  it('never lets request text reach the ORDER BY: only whitelisted columns come out, whatever comes in', () => {
    const fieldish = fc.oneof(
      fc.constantFrom('created_at', 'name', 'priceCents', 'id', 'p.name', 'constructor', 'toString', '__proto__'),
      fc.string(),
      fc.string({ unit: 'binary' }),
    );
    const sortText = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc
        .array(fc.tuple(fc.boolean(), fieldish), { maxLength: 5 })
        .map((items) => items.map(([descending, field]) => `${descending ? '-' : ''}${field}`).join(',')),
    );
    const term = `(?:${WHITELISTED.map((column) => column.replace('.', '\\.')).join('|')}) (?:ASC|DESC)`;
    // eslint-disable-next-line security/detect-non-literal-regexp -- built from the test's own constant column list
    const safeOrderBy = new RegExp(`^ORDER BY ${term}(?:, ${term})*$`);
    fc.assert(
      fc.property(sortText, (text) => {
        const result = productSort.schema.safeParse(text);
        if (!result.success) return;
        const sql = productSort.orderBy(result.data);
        expect(sql).toMatch(safeOrderBy);
        for (const key of result.data) expect(['created_at', 'name', 'priceCents']).toContain(key.field);
      }),
      { numRuns: 2_000 },
    );
  });

  it('refuses at run time a field that did not come from the schema', () => {
    expect(() => productSort.orderBy([{ field: 'id; DROP TABLE x' as 'name', direction: 'asc' }])).toThrow(
      /is not a sortable field/,
    );
  });

  it('refuses column expressions that are not plain columns when the sort is defined', () => {
    expect(() => defineSort({ name: 'lower(name)' }, { default: [], tiebreaker: 'id' })).toThrow(TypeError);
    expect(() => defineSort({ name: 'name' }, { default: [], tiebreaker: 'id DESC' })).toThrow(TypeError);
  });
});

describe('listQuerySchema', () => {
  const schema = listQuerySchema(productSort, { status: z.enum(['active', 'inactive']).optional() });

  it('combines pagination, sort and the listing filters', () => {
    expect(schema.parse({ page: '2', sort: 'name', status: 'active' })).toEqual({
      page: 2,
      limit: 20,
      sort: [{ field: 'name', direction: 'asc' }],
      status: 'active',
    });
  });

  it('refuses unknown query fields', () => {
    const result = schema.safeParse({ pgae: '2' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.code).toBe('unrecognized_keys');
  });
});
