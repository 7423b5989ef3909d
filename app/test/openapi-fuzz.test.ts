import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createComponents } from '../src/components/index.js';
import type { OpenApiDocument } from '../src/http/openapi.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';
import { call, clientIp, grantAccountRole, registerAccount, signIn } from './support/auth.js';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';

/**
 * A property-based fuzz of the served document: for every operation, requests generated from its own parameter and
 * body schemas (positive), and the same with one unknown query field (negative), sent as an administrator. It fails on
 * any 5xx, any status the operation does not document, any JSON answer that breaks the schema documented for its
 * status, any schema-valid request refused as invalid, and any invalid one accepted. Sign-out is left out: it would
 * end the fuzzer's own session.
 */

const RUNS_PER_OPERATION = 25;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
const SKIPPED = new Set(['post /api/v1/auth/logout']);

interface Schema {
  readonly type?: string | readonly string[];
  readonly format?: string;
  readonly pattern?: string;
  readonly enum?: readonly unknown[];
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly uniqueItems?: boolean;
  readonly 'x-unique-by'?: string;
  readonly items?: Schema;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly oneOf?: readonly Schema[];
  readonly anyOf?: readonly Schema[];
  readonly minProperties?: number;
  readonly nullable?: boolean;
  readonly $ref?: string;
}
interface Parameter {
  readonly name: string;
  readonly in: string;
  readonly required?: boolean;
  readonly schema: Schema;
}
interface Response {
  readonly content?: Record<string, { readonly schema: Schema }>;
}
interface Operation {
  readonly parameters?: readonly Parameter[];
  readonly requestBody?: { readonly content: Record<string, { readonly schema: Schema }> };
  readonly responses: Readonly<Record<string, Response>>;
}

let database: TestDatabase;
let service: TestApp;
let document: OpenApiDocument;
let token: string;
const ajv = new Ajv2020({ strict: false });
// a CommonJS module: its default export is on .default under NodeNext
addFormats.default(ajv);
ajv.addKeyword({
  keyword: 'x-unique-by',
  type: 'array',
  schemaType: 'string',
  validate: (property: string, items: readonly Record<string, unknown>[]) =>
    new Set(items.map((item) => JSON.stringify(item[property]))).size === items.length,
});
const compiled = new Map<Schema, ValidateFunction>();

function validate(schema: Schema, value: unknown): boolean {
  let check = compiled.get(schema);
  if (check === undefined) {
    check = ajv.compile({ ...schema, components: document.components });
    compiled.set(schema, check);
  }
  return check(value);
}

function resolve(schema: Schema): Schema {
  if (schema.$ref === undefined) return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  return (document.components?.schemas as Record<string, Schema>)[name] ?? schema;
}

/** Values a schema allows, built from its own keywords; every value is checked against the schema again. */
function arbitrary(input: Schema): fc.Arbitrary<unknown> {
  const schema = resolve(input);
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants !== undefined) return fc.oneof(...variants.map(arbitrary));
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  const type: string | undefined = typeof schema.type === 'string' ? schema.type : schema.type?.[0];
  let values: fc.Arbitrary<unknown>;
  switch (type) {
    case 'integer':
      values = fc.integer({ min: schema.minimum ?? -1_000_000, max: schema.maximum ?? 1_000_000 });
      break;
    case 'number':
      values = fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
      break;
    case 'boolean':
      values = fc.boolean();
      break;
    case 'array': {
      const items = arbitrary(schema.items ?? {});
      const limits = { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 5, 5) };
      values =
        schema['x-unique-by'] === undefined
          ? fc.array(items, limits)
          : fc.uniqueArray(items, {
              ...limits,
              selector: (item) => JSON.stringify((item as Record<string, unknown>)[schema['x-unique-by'] ?? '']),
            });
      break;
    }
    case 'object': {
      const properties = Object.fromEntries(
        Object.entries(schema.properties ?? {}).map(([key, value]) => [key, arbitrary(value)]),
      );
      values = fc.record(properties, { requiredKeys: [...(schema.required ?? [])] });
      break;
    }
    default:
      values = stringArbitrary(schema);
  }
  return values.filter((value) => validate(input, value));
}

function stringArbitrary(schema: Schema): fc.Arbitrary<unknown> {
  const length = { minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40) };
  switch (schema.format) {
    case 'uuid':
      return fc.uuid();
    case 'email':
      return fc.emailAddress();
    case 'date-time':
      return fc
        .date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true })
        .map((date) => date.toISOString());
    default:
  }
  if (schema.pattern !== undefined) {
    // fast-check builds strings from a pattern without lookaheads; the filter above applies those
    const pattern = withoutLookaheads(schema.pattern);
    // eslint-disable-next-line security/detect-non-literal-regexp -- the served document's own pattern
    return fc.stringMatching(new RegExp(pattern));
  }
  return fc.string(length);
}

/** `pattern` with its lookaheads cut out (balanced parentheses, escapes skipped). */
function withoutLookaheads(pattern: string): string {
  let out = '';
  for (let at = 0; at < pattern.length; at += 1) {
    if (pattern.startsWith('(?=', at) || pattern.startsWith('(?!', at)) {
      let depth = 0;
      for (; at < pattern.length; at += 1) {
        if (pattern[at] === '\\') at += 1;
        else if (pattern[at] === '(') depth += 1;
        else if (pattern[at] === ')' && --depth === 0) break;
      }
      continue;
    }
    if (pattern[at] === '\\') {
      out += pattern.slice(at, at + 2);
      at += 1;
      continue;
    }
    out += pattern[at] ?? '';
  }
  return out;
}

interface Request {
  readonly path: string;
  readonly query: Record<string, string>;
  readonly body: unknown;
}

function requestArbitrary(path: string, op: Operation): fc.Arbitrary<Request> {
  const parameters = op.parameters ?? [];
  const pathValues = Object.fromEntries(
    parameters.filter((p) => p.in === 'path').map((p) => [p.name, arbitrary(p.schema)]),
  );
  const query = parameters.filter((p) => p.in === 'query');
  const queryValues = fc.record(Object.fromEntries(query.map((p) => [p.name, arbitrary(p.schema)])), {
    requiredKeys: query.filter((p) => p.required === true).map((p) => p.name),
  });
  const bodySchema = op.requestBody?.content['application/json']?.schema;
  return fc
    .tuple(
      fc.record(pathValues),
      queryValues,
      bodySchema === undefined ? fc.constant(undefined) : arbitrary(bodySchema),
    )
    .map(([params, values, body]) => ({
      path: path.replace(/\{(\w+)\}/g, (_match, name: string) => encodeURIComponent(String(params[name]))),
      query: Object.fromEntries(Object.entries(values).map(([key, value]) => [key, String(value)])),
      body,
    }));
}

function operations(): { method: string; path: string; op: Operation }[] {
  // the JSON API; health and metrics answer plain text to probes and Prometheus
  return Object.entries(document.paths ?? {})
    .filter(([path]) => path.startsWith('/api/v1/'))
    .flatMap(([path, item]) =>
      METHODS.flatMap((method) => {
        const op = (item as Record<string, Operation | undefined>)[method];
        return op === undefined || SKIPPED.has(`${method} ${path}`) ? [] : [{ method, path, op }];
      }),
    );
}

async function send(method: string, request: Request) {
  const search = new URLSearchParams(request.query).toString();
  return call(service.url, method.toUpperCase(), `${request.path}${search === '' ? '' : `?${search}`}`, {
    token,
    ip: clientIp(),
    ...(request.body === undefined ? {} : { body: request.body }),
  });
}

/** The checks every answer must pass, whatever was sent. */
function expectDocumentedAnswer(method: string, path: string, op: Operation, reply: Awaited<ReturnType<typeof send>>) {
  const what = `${method.toUpperCase()} ${path} → ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`;
  expect(reply.status, what).toBeLessThan(500);
  const documented = op.responses[String(reply.status)];
  expect(documented, `undocumented status: ${what}`).toBeDefined();
  const schema = documented?.content?.['application/json']?.schema;
  if (schema !== undefined) expect(validate(schema, reply.body), `breaks its documented schema: ${what}`).toBe(true);
}

beforeAll(async () => {
  database = await createMigratedDatabase();
  service = await startTestApp({
    env: { DATABASE_URL: database.url, TRUST_PROXY: '1' },
    routers: (deps) => createComponents(deps).routers,
  });
  const admin = await registerAccount(service.url);
  await grantAccountRole(service.db, admin.id, 'admin');
  token = (await signIn(service.url, admin)).accessToken;
  document = (await (await fetch(`${service.url}/api/docs/openapi.json`)).json()) as OpenApiDocument;
});

afterAll(async () => {
  await service.close();
  await database.drop();
});

describe('a property-based fuzz of the served OpenAPI document', () => {
  it('answers every schema-valid request without refusing it, within the documented statuses and schemas', async () => {
    for (const { method, path, op } of operations()) {
      await fc.assert(
        fc.asyncProperty(requestArbitrary(path, op), async (request) => {
          const reply = await send(method, request);
          expectDocumentedAnswer(method, path, op, reply);
          const refused = reply.status === 400 && (reply.body.error as { code: string }).code === 'VALIDATION_ERROR';
          expect(
            refused,
            `schema-valid request refused: ${method.toUpperCase()} ${JSON.stringify(request)} → ${JSON.stringify(reply.body)}`,
          ).toBe(false);
        }),
        { numRuns: RUNS_PER_OPERATION },
      );
    }
  }, 120_000);

  it('refuses every request with a field the document does not know, within the documented statuses', async () => {
    for (const { method, path, op } of operations()) {
      const hasQuery = (op.parameters ?? []).some((p) => p.in === 'query');
      const bodySchema = op.requestBody?.content['application/json']?.schema;
      const hasBody = bodySchema !== undefined && resolve(bodySchema).type === 'object';
      if (!hasQuery && !hasBody) continue;
      await fc.assert(
        fc.asyncProperty(requestArbitrary(path, op), fc.stringMatching(/^[a-z]{3,12}$/), async (request, name) => {
          const unknown = `x_${name}`;
          const reply = await send(
            method,
            hasBody
              ? { ...request, body: { ...(request.body as object), [unknown]: 1 } }
              : { ...request, query: { ...request.query, [unknown]: '1' } },
          );
          expectDocumentedAnswer(method, path, op, reply);
          expect(reply.status, `${method.toUpperCase()} ${path} with the unknown field ${unknown}`).toBe(400);
        }),
        { numRuns: 3 },
      );
    }
  }, 60_000);
});
