import type { Request, RequestHandler } from 'express';
import { z } from 'zod';

import { ValidationError } from '../errors.js';

/** The zod schema for each part of the request to check; parts without one are left alone. */
export interface RequestSchemas {
  readonly params?: z.ZodType;
  readonly query?: z.ZodType;
  readonly body?: z.ZodType;
}

/** The parsed values, typed from the schemas: `{ params, query, body }` for the parts that had one. */
export type ValidatedInput<S extends RequestSchemas> = {
  readonly [K in keyof S]: S[K] extends z.ZodType ? z.output<S[K]> : never;
};

/**
 * Middleware that validates the request, plus the typed accessor for what it parsed. Mount it before the handler
 * and read the values with `input(req)`:
 *
 *     const createProduct = validate({ body: z.strictObject({ sku: z.string(), priceCents: z.int().positive() }) });
 *     router.post('/products', createProduct, async (req, res) => { const { body } = createProduct.input(req); … });
 *
 * `req.body` and `req.params` are also replaced by their parsed values; `req.query` cannot be (Express 5 makes it
 * a getter that re-parses the URL), so read parsed query values only through `input(req)`.
 */
export interface Validator<S extends RequestSchemas> extends RequestHandler {
  /** @throws {Error} if this validator did not run for `req` (mount it before the handler). */
  input(req: Request): ValidatedInput<S>;
}

type Part = keyof RequestSchemas;
const PARTS: readonly Part[] = ['params', 'query', 'body'];
// Values of fields with these names are never echoed back in an error message.
const SECRET_FIELD = /pass|secret|token|key|credential/i;
const MAX_ECHOED_LENGTH = 64;
const MAX_PROBLEMS_IN_MESSAGE = 3;

/** ` (got "abc")` for a short primitive input of a non-secret field, so the client sees what was rejected. */
function received(issue: z.core.$ZodIssue, field: string): string {
  const { input } = issue as { input?: unknown };
  if (SECRET_FIELD.test(field)) return '';
  if (typeof input === 'number' || typeof input === 'boolean') return ` (got ${String(input)})`;
  if (typeof input === 'string' && input.length <= MAX_ECHOED_LENGTH) return ` (got ${JSON.stringify(input)})`;
  return '';
}

function addProblem(fields: Record<string, string[]>, path: string, problem: string): void {
  (fields[path] ??= []).push(problem);
}

/** Zod issues as `{ "body.items.0.quantity": ["Too small: expected number to be >=1 (got 0)"] }`. */
export function fieldErrors(part: Part, issues: readonly z.core.$ZodIssue[]): Record<string, string[]> {
  const fields: Record<string, string[]> = {};
  for (const issue of issues) {
    const base = [part, ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        addProblem(fields, [...base, key].join('.'), 'is not a known field; remove it or check its spelling');
      continue;
    }
    const last = String(issue.path.at(-1) ?? part);
    addProblem(fields, base.join('.'), `${issue.message}${received(issue, last)}`);
  }
  return fields;
}

function summary(fields: Record<string, string[]>): string {
  const problems = Object.entries(fields).flatMap(([path, messages]) =>
    messages.map((message) => `${path}: ${message}`),
  );
  const shown = problems.slice(0, MAX_PROBLEMS_IN_MESSAGE).join('; ');
  const more =
    problems.length > MAX_PROBLEMS_IN_MESSAGE ? `; and ${problems.length - MAX_PROBLEMS_IN_MESSAGE} more` : '';
  return `invalid request: ${shown}${more}; see error.fields and correct each one`;
}

/** Query and params schemas must reject unknown fields, so a misspelt filter is an error, not silently ignored. */
function assertStrict(part: Part, schema: z.ZodType | undefined): void {
  if (part === 'body' || !(schema instanceof z.ZodObject)) return;
  if (schema._zod.def.catchall?._zod.def.type !== 'never') {
    throw new TypeError(`validate(): the ${part} schema must reject unknown fields; build it with z.strictObject`);
  }
}

/**
 * Builds the validation middleware for `schemas`; each part is parsed before the handler runs, and any failure
 * becomes one {@link ValidationError} listing every problem by path (`body.email`, `query.limit`, `params.id`).
 */
export function validate<const S extends RequestSchemas>(schemas: S): Validator<S> {
  for (const part of PARTS) assertStrict(part, schemas[part]);
  const parsed = new WeakMap<Request, ValidatedInput<S>>();

  const middleware: RequestHandler = (req, _res, next) => {
    const values: Partial<Record<Part, unknown>> = {};
    let fields: Record<string, string[]> = {};
    for (const part of PARTS) {
      const schema = schemas[part];
      if (schema === undefined) continue;
      const result = schema.safeParse(req[part], { reportInput: true });
      if (result.success) values[part] = result.data;
      else fields = { ...fields, ...fieldErrors(part, result.error.issues) };
    }
    if (Object.keys(fields).length > 0) {
      next(new ValidationError(summary(fields), fields));
      return;
    }
    parsed.set(req, values as ValidatedInput<S>);
    if ('body' in values) req.body = values.body;
    if ('params' in values) req.params = values.params as Request['params'];
    next();
  };

  return Object.assign(middleware, {
    input(req: Request): ValidatedInput<S> {
      const values = parsed.get(req);
      if (values === undefined) {
        throw new Error(
          'validate(): input(req) was called for a request this validator did not check; mount it before the handler',
        );
      }
      return values;
    },
  });
}
