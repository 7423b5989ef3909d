import { z } from 'zod';

export const PAGE_DEFAULT_LIMIT = 20;
export const PAGE_MAX_LIMIT = 1000;
// A page beyond this is a mistake or a scan; keyset pagination is the tool for deep paging.
export const PAGE_MAX = 1_000_000;

/**
 * The decimal numbers 1 to `max` (a power of ten) without leading zeros, as one pattern: the validator and the
 * API document share it, so the document states the range the server enforces.
 */
export function wholeNumberPattern(max: number): RegExp {
  const digits = String(max).length - 1;
  if (max < 10 || String(max) !== `1${'0'.repeat(digits)}`) {
    throw new TypeError(`wholeNumberPattern(): ${max} is not a power of ten of at least 10`);
  }
  // eslint-disable-next-line security/detect-non-literal-regexp -- built from a checked power of ten, at module load
  return new RegExp(`^(?:[1-9][0-9]{0,${digits - 1}}|${max})$`);
}

/** The decimal numbers 0 to `max` without leading zeros, as one pattern the validator and the document share. */
export function upToPattern(max: number): RegExp {
  const digits = String(max);
  const alternatives = ['0', `[1-9][0-9]{0,${digits.length - 2}}`];
  // numbers as long as max: equal on a prefix, then one smaller digit, then anything
  for (let at = 0; at < digits.length; at += 1) {
    const digit = Number(digits[at]);
    const low = at === 0 ? 1 : 0;
    if (digit > low) {
      const rest = digits.length - at - 1;
      alternatives.push(`${digits.slice(0, at)}[${low}-${digit - 1}]${rest > 0 ? `[0-9]{${rest}}` : ''}`);
    }
  }
  alternatives.push(digits);
  // eslint-disable-next-line security/detect-non-literal-regexp -- built from a number, at module load
  return new RegExp(`^(?:${alternatives.join('|')})$`);
}

function positiveWhole(name: string, max: number) {
  const rule = `${name} must be a whole number from 1 to ${max}, without leading zeros`;
  return z
    .string({ error: rule })
    .regex(wholeNumberPattern(max), { error: rule })
    .meta({ description: `A whole number from 1 to ${max}.` })
    .transform(Number);
}

/** `page` (≥ 1, default 1) and `limit` (1..1000, default 20) query fields, to spread into a `z.strictObject`. */
export const paginationShape = {
  page: positiveWhole('page', PAGE_MAX).default(1),
  limit: positiveWhole('limit', PAGE_MAX_LIMIT).default(PAGE_DEFAULT_LIMIT),
};

export interface PageRequest {
  readonly page: number;
  readonly limit: number;
}

/** LIMIT and OFFSET for a page, to pass as query parameters. */
export function pageWindow({ page, limit }: PageRequest): { readonly limit: number; readonly offset: number } {
  return { limit, offset: (page - 1) * limit };
}

export type SortDirection = 'asc' | 'desc';

export interface SortKey<Field extends string = string> {
  readonly field: Field;
  readonly direction: SortDirection;
}

/** The sortable fields of one listing and how to turn a parsed `sort` into SQL. */
export interface SortSpec<Field extends string> {
  readonly fields: readonly Field[];
  /** Parses `sort=-created_at,name` (a leading `-` sorts descending) into sort keys; absent → the default. */
  readonly schema: z.ZodType<readonly SortKey<Field>[], string | undefined>;
  /** `ORDER BY …` made only of the whitelisted column expressions, ending with the tiebreaker for stable pages. */
  orderBy(keys: readonly SortKey<Field>[]): string;
}

// Column expressions come from code, never from requests; this shape check catches a typo at startup.
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** `column` or `alias.column`, plain lower-case identifiers only. */
function isColumnExpression(expression: string): boolean {
  const parts = expression.split('.');
  return parts.length <= 2 && parts.every((part) => IDENTIFIER.test(part));
}
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ECHOED_LENGTH = 40;

export interface SortOptions<Field extends string> {
  /** Used when the request has no `sort`, e.g. `[{ field: 'created_at', direction: 'desc' }]`. */
  readonly default: readonly SortKey<Field>[];
  /** A unique column expression appended last so rows with equal sort values keep a stable order, e.g. `id`. */
  readonly tiebreaker: string;
}

/**
 * `sort` as the document states it: `fields`, comma-separated, each optionally prefixed with `-` and named at most
 * once (the lookahead refuses a field that comes back later in the list).
 */
export function sortPattern(fields: readonly string[]): string {
  const names = `(?:${fields.join('|')})`;
  const repeated = `(?!.*(?:^|,)-?(${names})(?:,.*)?,-?\\1(?:,|$))`;
  return `^${repeated}(?:-?${names}(?:,-?${names}){0,${fields.length - 1}})?$`;
}

/**
 * Declares what a listing may be sorted by: `columns` maps each public field name to its SQL column expression.
 * Only those expressions ever reach SQL; the request's text is only compared against the field names.
 */
export function defineSort<const Field extends string>(
  columns: Readonly<Record<Field, string>>,
  options: SortOptions<NoInfer<Field>>,
): SortSpec<Field> {
  const fields = Object.keys(columns) as Field[];
  for (const field of fields) {
    if (!FIELD_NAME.test(field) || !isColumnExpression(columns[field])) {
      throw new TypeError(`defineSort(): ${field} → ${columns[field]} is not a plain field name and column`);
    }
  }
  if (!isColumnExpression(options.tiebreaker)) {
    throw new TypeError(`defineSort(): tiebreaker ${options.tiebreaker} is not a plain column`);
  }
  const isField = (name: string): name is Field => Object.hasOwn(columns, name);
  const allowed = `allowed: ${fields.join(', ')} (prefix - for descending)`;

  const schema = z
    .string({ error: `sort must be a comma-separated list of fields; ${allowed}` })
    .meta({
      description: `Comma-separated fields, each at most once; ${allowed}.`,
      pattern: sortPattern(fields),
    })
    .optional()
    .transform((value, context): readonly SortKey<Field>[] => {
      if (value === undefined || value === '') return options.default;
      const keys: SortKey<Field>[] = [];
      for (const item of value.split(',')) {
        const descending = item.startsWith('-');
        const name = descending ? item.slice(1) : item;
        if (!isField(name)) {
          const shown = item.length > MAX_ECHOED_LENGTH ? `${item.slice(0, MAX_ECHOED_LENGTH)}…` : item;
          context.addIssue({ code: 'custom', message: `cannot sort by ${JSON.stringify(shown)}; ${allowed}` });
          return z.NEVER;
        }
        if (keys.some((key) => key.field === name)) {
          context.addIssue({ code: 'custom', message: `${name} appears more than once in sort; name each field once` });
          return z.NEVER;
        }
        keys.push({ field: name, direction: descending ? 'desc' : 'asc' });
      }
      return keys;
    });

  const orderBy = (keys: readonly SortKey<Field>[]): string => {
    const terms = keys.map(({ field, direction }) => {
      if (!isField(field)) throw new TypeError(`orderBy(): ${JSON.stringify(field)} is not a sortable field`);
      return `${columns[field]} ${direction === 'desc' ? 'DESC' : 'ASC'}`;
    });
    const tiebreakerUsed = keys.some(({ field }) => columns[field] === options.tiebreaker);
    if (!tiebreakerUsed) terms.push(`${options.tiebreaker} ASC`);
    return `ORDER BY ${terms.join(', ')}`;
  };

  return { fields, schema, orderBy };
}

/**
 * A strict query schema for a listing: pagination, `sort` and the listing's own filters (`{}` for none);
 * unknown fields are errors.
 */
export function listQuerySchema<Field extends string, const Extra extends z.ZodRawShape>(
  sort: SortSpec<Field>,
  filters: Extra,
) {
  return z.strictObject({ ...paginationShape, sort: sort.schema, ...filters });
}

/** One page of a listing, with the number of rows that match across all pages. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly page: number;
  readonly limit: number;
  /** Rows matching the filters on every page together. */
  readonly total: number;
}

/** A page as the API sends it, each item rendered by `render`. */
export function pageJson<T, J>(page: Page<T>, render: (item: T) => J) {
  return { items: page.items.map(render), page: page.page, limit: page.limit, total: page.total };
}

/** The response schema of a page of `item`; `what` names the rows in the description of `total`. */
export function pageResponse<T extends z.ZodType>(item: T, what = 'items') {
  return z.strictObject({
    items: z.array(item),
    page: z.int(),
    limit: z.int(),
    total: z.int().meta({ description: `Matching ${what} on every page.` }),
  });
}
