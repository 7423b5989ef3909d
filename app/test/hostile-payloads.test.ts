import { request as httpRequest } from 'node:http';

import fc from 'fast-check';
import { Client, escapeIdentifier } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createComponents } from '../src/components/index.js';
import { grantRole } from '../src/components/auth/repository.js';
import { ERROR_CODES, ERROR_STATUS } from '../src/errors.js';
import type { ErrorCode } from '../src/errors.js';
import type { OpenApiDocument } from '../src/http/openapi.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';
import { clientIp, registerAccount, signIn } from './support/auth.js';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';

/**
 * Every operation of the generated OpenAPI document gets invalid and hostile requests built from its own
 * parameters and body schema, each carrying at least one sure violation (so none can be valid), with hostile
 * values everywhere else: wrong types, 100k-character strings, SQL and HTML fragments, unknown fields, lone
 * surrogates and invalid UTF-8 bytes, out-of-range numbers, deep nesting, malformed JSON, wrong Content-Type.
 * The caller is an admin, so no answer is a mere 401/403. Every answer must be a documented, structured 4xx and the
 * database must be exactly as it was. New routes are covered as soon as they are described.
 */

const RUNS_PER_OPERATION = 25;
const ANSWER_TIMEOUT_MS = 10_000;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
type Method = (typeof METHODS)[number];

interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly format?: string;
  readonly pattern?: string;
  readonly enum?: readonly unknown[];
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly additionalProperties?: boolean | JsonSchema;
}

interface Parameter {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header' | 'cookie';
  readonly schema?: JsonSchema;
}

interface Operation {
  readonly method: Method;
  readonly path: string;
  readonly parameters: readonly Parameter[];
  readonly body: JsonSchema | undefined;
  /** Documented error codes by status. */
  readonly errors: ReadonlyMap<number, readonly string[]>;
  /** Whether the API middleware (body parser, validation) stands in front of it. */
  readonly parsesBodies: boolean;
}

/** One request to send: a path with its parameters already in, a raw query string, an optional raw body. */
interface HostileRequest {
  readonly path: string;
  readonly query: string;
  readonly body?: { readonly bytes: Buffer; readonly contentType: string };
  /** Which sure violation it carries, for the failure message. */
  readonly violation: string;
}

// ---- hostile values -------------------------------------------------------------------------------------------

const FRAGMENTS = [
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  '1; SELECT pg_sleep(10)',
  "admin'--",
  'UNION SELECT password_hash FROM users',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '{{constructor.constructor("return process")()}}',
  '${7*7}',
  '../../../../etc/passwd',
  '%00',
  '\u0000',
  '\ud800',
  '\udfff',
  '\u202e\u0000\u202d',
  'null',
  'NaN',
  '-1',
  '1e309',
  '__proto__',
  'constructor',
  ' ',
];
const fragment = fc.constantFrom(...FRAGMENTS);
// Full code-point range: lone surrogates, controls, astral characters.
const anyText = fc.string({ unit: 'binary', maxLength: 40 });
const hugeText = fc
  .tuple(fc.integer({ min: 10_000, max: 100_000 }), fc.constantFrom('A', 'é', '💥', "'", '<'))
  .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length)));
const hostileText = fc.oneof(
  fragment,
  anyText,
  fragment.chain((f) => anyText.map((t) => `${t}${f}`)),
);
const hostileNumber = fc.oneof(
  fc.constantFrom(-1, 0, -2_147_483_649, 2_147_483_648, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 0.5, 5e-324),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);
const hostileKey = fc.oneof(fragment, anyText, fc.constantFrom('__proto__', 'constructor', 'prototype', '$where'));
const { hostileValue } = fc.letrec<{ hostileValue: unknown }>((tie) => ({
  hostileValue: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileText,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('hostileValue'), { maxLength: 3 }),
    fc.dictionary(hostileKey, tie('hostileValue'), { maxKeys: 3 }),
  ),
}));

// ---- what a schema surely refuses -----------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a string value breaks a string schema by a rule the document states (format, pattern, enum, length). */
function breaksStringRule(schema: JsonSchema | undefined, value: string): boolean {
  if (schema === undefined) return false;
  if (schema.format === 'uuid' && !UUID.test(value)) return true;
  // eslint-disable-next-line security/detect-non-literal-regexp -- the document's own patterns, from our zod schemas
  if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) return true;
  if (schema.enum !== undefined && !schema.enum.includes(value)) return true;
  // zod counts UTF-16 code units, as `length` does.
  if (schema.maxLength !== undefined && value.length > schema.maxLength) return true;
  if (schema.minLength !== undefined && value.length < schema.minLength) return true;
  return false;
}

/**
 * Strings the schema surely refuses, at most `longest` characters long (a URL must fit the 16 KiB header limit);
 * undefined when the schema states no rule such a string can break.
 */
function breakingStrings(schema: JsonSchema | undefined, longest: number): fc.Arbitrary<string> | undefined {
  if (schema === undefined) return undefined;
  const ways: fc.Arbitrary<string>[] = [];
  if (schema.format === 'uuid' || schema.pattern !== undefined || schema.enum !== undefined) {
    ways.push(hostileText.filter((value) => breaksStringRule(schema, value)));
  }
  const { maxLength } = schema;
  if (maxLength !== undefined && maxLength < longest) {
    ways.push(
      fc
        .tuple(fc.integer({ min: maxLength + 1, max: longest }), fc.constantFrom('x', 'é', "'", '<', '\u0000'))
        .map(([length, unit]) => unit.repeat(length)),
    );
  }
  return ways.length === 0 ? undefined : fc.oneof(...ways);
}

/** A value whose JSON type differs from the property's declared type (or breaks its range). */
function wrongTypeFor(schema: JsonSchema): fc.Arbitrary<unknown> | undefined {
  const type = Array.isArray(schema.type) ? undefined : (schema.type as string | undefined);
  switch (type) {
    case 'string':
      return fc.oneof(hostileNumber, fc.boolean(), fc.constant(null), fc.array(hostileText), fc.constant({}));
    case 'integer': {
      // Just past each stated bound, plus fractions and numbers no int4 column holds.
      const outOfRange = [
        ...(schema.maximum === undefined ? [] : [schema.maximum + 1]),
        ...(schema.minimum === undefined ? [] : [schema.minimum - 1]),
      ];
      return fc.oneof(
        hostileText,
        fc.constantFrom(0.5, -0.25, 1e308, 2 ** 53 + 2, ...outOfRange),
        fc.boolean(),
        fc.constant(null),
      );
    }
    case 'boolean':
      return fc.oneof(fc.constantFrom('true', 'false', 1, 0, 'yes'), fc.constant(null), fc.array(fc.boolean()));
    case 'array':
      return fc.oneof(hostileText, hostileNumber, fc.dictionary(hostileKey, hostileValue, { maxKeys: 2 }));
    case 'object':
      return fc.oneof(hostileText, hostileNumber, fc.array(hostileValue, { maxLength: 2 }));
    default:
      return undefined;
  }
}

// ---- the operations, read from the document -------------------------------------------------------------------

function operationsOf(document: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item[method];
      if (operation === undefined) continue;
      const errors = new Map<number, string[]>();
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const codes = (
          response as {
            content?: Record<string, { schema?: { properties?: { error?: { properties?: { code?: JsonSchema } } } } }>;
          }
        ).content?.['application/json']?.schema?.properties?.error?.properties?.code?.enum;
        if (codes !== undefined) errors.set(Number(status), codes as string[]);
      }
      const body = (operation.requestBody as { content?: Record<string, { schema?: JsonSchema }> } | undefined)
        ?.content?.['application/json']?.schema;
      operations.push({
        method,
        path,
        parameters: (operation.parameters ?? []) as Parameter[],
        body,
        errors,
        parsesBodies: errors.has(415),
      });
    }
  }
  return operations;
}

// ---- building requests ----------------------------------------------------------------------------------------

interface Part {
  readonly path?: Record<string, string>;
  readonly query?: [string, string][];
  readonly body?: HostileRequest['body'];
}

/** Percent-encodes every UTF-8 byte; lone surrogates go out as U+FFFD, as any client would send them. */
function percentEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

/** A path segment that still routes to the same operation: not empty, not a dot segment. */
const routable = (value: string): boolean => value !== '' && value !== '.' && value !== '..';

const json = (value: unknown): HostileRequest['body'] => ({
  bytes: Buffer.from(JSON.stringify(value)),
  contentType: 'application/json',
});
const raw = (bytes: Buffer | string, contentType = 'application/json'): HostileRequest['body'] => ({
  bytes: Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes),
  contentType,
});

const MALFORMED_JSON = [
  '{',
  '{"a":}',
  "{'a':1}",
  '[1,2',
  'NaN',
  '{"a":NaN}',
  '{"a":1}}',
  '{"a":"\\x41"}',
  '\u0000',
  'tru',
];
const INVALID_UTF8 = [
  Buffer.from([0xff, 0xfe]),
  Buffer.from([0xc3, 0x28]),
  Buffer.from([0xe2, 0x82]),
  Buffer.from([0xc0, 0xaf]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
];
const NON_JSON_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/json-patch+json',
];

/** A value that fits a parameter, so only the chosen violation makes the request wrong (or noise otherwise). */
function plausible(schema: JsonSchema | undefined): fc.Arbitrary<string> {
  if (schema?.format === 'uuid') return fc.uuid();
  if (schema?.enum !== undefined) return fc.constantFrom(...schema.enum.map(String));
  return fc.oneof(fc.constantFrom('manager', 'admin', '1', '20', 'created_at'), hostileText);
}

/** Hostile noise for every part of the request; the violation is laid over it. */
function noise(operation: Operation, limitBytes: number): fc.Arbitrary<Part> {
  const pathParams = operation.parameters.filter((p) => p.in === 'path');
  const queryParams = operation.parameters.filter((p) => p.in === 'query');
  const pathValues = fc.record(
    Object.fromEntries(pathParams.map((p) => [p.name, plausible(p.schema).filter(routable).map(percentEncode)])),
  );
  const query = fc
    .subarray(queryParams)
    .chain((chosen) =>
      fc.tuple(...chosen.map((p) => fc.tuple(fc.constant(p.name), fc.oneof(plausible(p.schema), hostileText)))),
    );
  const body = fc.option(
    fc.oneof(
      hostileValue.map(json),
      fc.dictionary(hostileKey, hostileValue, { maxKeys: 4 }).map(json),
      fc.tuple(hostileKey, hugeText).map(([key, text]) => json({ [key]: text })),
      fc.constant(raw(Buffer.alloc(limitBytes + 1, 'x'))),
    ),
    { nil: undefined },
  );
  return fc.record({ path: pathValues, query, body: operation.parsesBodies ? body : fc.constant(undefined) });
}

/** The sure violations this operation's document makes possible, each as a change to the request. */
function violations(operation: Operation, limitBytes: number): fc.Arbitrary<[string, Part]>[] {
  const found: fc.Arbitrary<[string, Part]>[] = [];
  for (const param of operation.parameters.filter((p) => p.in === 'path')) {
    const breaking = breakingStrings(param.schema, 2_000);
    if (breaking === undefined) continue;
    found.push(
      breaking
        .filter(routable)
        .map((value): [string, Part] => [`path ${param.name}`, { path: { [param.name]: percentEncode(value) } }]),
      // Percent-encoding that is not UTF-8: the router cannot even decode the parameter.
      fc
        .constantFrom('%FF', '%C3%28', '%E0%A4%A', '%', '%ZZ')
        .map((value): [string, Part] => [`undecodable path ${param.name}`, { path: { [param.name]: value } }]),
    );
  }
  const queryParams = operation.parameters.filter((p) => p.in === 'query');
  if (queryParams.length > 0) {
    // Every query schema is strict (validate() insists), so an unknown field is always refused.
    const known = new Set(queryParams.map((p) => p.name));
    found.push(
      fc
        .tuple(
          hostileKey.filter((key) => key !== '' && !known.has(key)),
          hostileText,
        )
        .map(([key, value]): [string, Part] => [
          `unknown query field ${JSON.stringify(key)}`,
          { query: [[key, value]] },
        ]),
    );
    for (const param of queryParams) {
      const breaking = breakingStrings(param.schema, 2_000);
      if (breaking === undefined) continue;
      found.push(
        // An empty value means "not given" for some filters, so it proves nothing.
        breaking
          .filter((value) => value !== '')
          .map((value): [string, Part] => [`query ${param.name}`, { query: [[param.name, value]] }]),
      );
    }
  }
  if (operation.parsesBodies) {
    found.push(
      fc.constantFrom(...MALFORMED_JSON).map((text): [string, Part] => ['malformed JSON', { body: raw(text) }]),
      fc
        .tuple(
          fc.constantFrom(...NON_JSON_TYPES),
          hostileText.filter((text) => text !== ''),
        )
        .map(([type, text]): [string, Part] => [`Content-Type ${type}`, { body: raw(text, type) }]),
      fc.constant<[string, Part]>(['oversized body', { body: json({ padding: 'x'.repeat(limitBytes) }) }]),
    );
  }
  const { body } = operation;
  if (body !== undefined) {
    found.push(
      fc
        .oneof(fc.array(hostileValue, { maxLength: 3 }), hostileText, hostileNumber, fc.boolean())
        .map((value): [string, Part] => ['body is not an object', { body: json(value) }]),
      fc
        .integer({ min: 2_000, max: 20_000 })
        .map((depth): [string, Part] => [
          `${depth} nested arrays`,
          { body: raw(`${'['.repeat(depth)}${']'.repeat(depth)}`) },
        ]),
    );
    const properties = Object.entries(body.properties ?? {});
    if (body.additionalProperties === false) {
      const known = new Set(properties.map(([name]) => name));
      found.push(
        fc
          .tuple(
            hostileKey.filter((key) => !known.has(key)),
            hostileValue,
            fc.dictionary(fc.constantFrom(...known, 'x'), hostileValue),
          )
          .map(([key, value, rest]): [string, Part] => {
            // Written as text, so even "__proto__" goes out as a plain field.
            const entry = `${JSON.stringify(key)}:${JSON.stringify(value)}`;
            const others = JSON.stringify(rest).slice(1, -1);
            return [
              `unknown body field ${JSON.stringify(key)}`,
              { body: raw(`{${others}${others === '' ? '' : ','}${entry}}`) },
            ];
          }),
        fc
          .constantFrom(...INVALID_UTF8)
          .map((bytes): [string, Part] => [
            `invalid UTF-8 in a field name (${bytes.toString('hex')})`,
            { body: raw(Buffer.concat([Buffer.from('{"'), bytes, Buffer.from('":1}')])) },
          ]),
        fc
          .integer({ min: 50, max: 2_000 })
          .map((depth): [string, Part] => [
            `unknown field nested ${depth} deep`,
            { body: raw(`${'{"deep":'.repeat(depth)}1${'}'.repeat(depth)}`) },
          ]),
      );
    }
    for (const [name, schema] of properties) {
      const wrong = wrongTypeFor(schema);
      if (wrong !== undefined) {
        found.push(
          fc
            .tuple(wrong, fc.dictionary(fc.constantFrom(...properties.map(([other]) => other)), hostileValue))
            .map(([value, rest]): [string, Part] => [
              `body.${name} of the wrong type or range`,
              { body: json({ ...rest, [name]: value }) },
            ]),
        );
      }
      const breaking = schema.type === 'string' ? breakingStrings(schema, 100_000) : undefined;
      if (breaking !== undefined) {
        found.push(
          breaking.map((value): [string, Part] => [`body.${name} breaks its rule`, { body: json({ [name]: value }) }]),
        );
      }
    }
  }
  return found;
}

function hostileRequests(operation: Operation, limitBytes: number): fc.Arbitrary<HostileRequest> | undefined {
  const sure = violations(operation, limitBytes);
  if (sure.length === 0) return undefined;
  return fc.tuple(noise(operation, limitBytes), fc.oneof(...sure)).map(([base, [violation, change]]) => {
    const pathValues = { ...base.path, ...change.path };
    const path = operation.path.replace(/\{([^}]+)\}/g, (_match, name: string) => pathValues[name] ?? 'x');
    const pairs = change.query === undefined ? (base.query ?? []) : [...(base.query ?? []), ...change.query];
    const query = pairs.map(([key, value]) => `${percentEncode(key)}=${percentEncode(value)}`).join('&');
    const body = change.body ?? base.body;
    return { path, query, violation, ...(body === undefined ? {} : { body }) };
  });
}

// ---- sending and checking -------------------------------------------------------------------------------------

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

/** node:http rather than fetch: any method may carry a body, and the path goes out exactly as built. */
function send(baseUrl: string, method: Method, request: HostileRequest, token: string): Promise<Answer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: method.toUpperCase(),
        path: request.query === '' ? request.path : `${request.path}?${request.query}`,
        headers: {
          Authorization: `Bearer ${token}`,
          'X-Forwarded-For': clientIp(),
          ...(request.body === undefined
            ? {}
            : { 'Content-Type': request.body.contentType, 'Content-Length': request.body.bytes.length }),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            contentType: String(response.headers['content-type']),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    // A request the app never answers is a failure to report, not a hung test.
    outgoing.setTimeout(ANSWER_TIMEOUT_MS, () => {
      outgoing.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`));
    });
    outgoing.end(request.body?.bytes);
  });
}

const errorEnvelope = z.strictObject({
  error: z.strictObject({
    code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]),
    message: z.string().min(1),
    fields: z.record(z.string(), z.array(z.string())).optional(),
    details: z.record(z.string(), z.unknown()).optional(),
    requestId: z.string().min(1),
  }),
});

function checkAnswer(operation: Operation, request: HostileRequest, answer: Answer): void {
  const where = `${operation.method.toUpperCase()} ${request.path.slice(0, 200)} (${request.violation}) → ${answer.status} ${answer.text.slice(0, 300)}`;
  expect(answer.status, where).toBeGreaterThanOrEqual(400);
  expect(answer.status, where).toBeLessThan(500);
  expect(answer.contentType, where).toMatch(/^application\/json/);
  const parsed = errorEnvelope.safeParse(JSON.parse(answer.text));
  if (!parsed.success) throw new Error(`${where}: not the error body (${parsed.error.message})`);
  const { code } = parsed.data.error;
  expect(ERROR_STATUS[code], where).toBe(answer.status);
  expect(operation.errors.get(answer.status) ?? [], `${where}: the code is documented for this operation`).toContain(
    code,
  );
}

/** Row count and checksum of every table, so any change shows. */
async function fingerprint(client: Client): Promise<Record<string, string>> {
  const { rows: tables } = await client.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
  );
  const result: Record<string, string> = {};
  for (const { name } of tables) {
    const table = escapeIdentifier(name);
    const { rows } = await client.query<{ n: string; sum: string }>(
      `SELECT count(*)::text AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS sum FROM ${table} t`,
    );
    result[name] = `${rows[0]?.n} rows, md5 ${rows[0]?.sum}`;
  }
  return result;
}

// ---- the test -------------------------------------------------------------------------------------------------

let database: TestDatabase;
let service: TestApp;
let observer: Client;
let token: string;
let operations: Operation[];

beforeAll(async () => {
  // A private database, so no other test file's writes show up in the fingerprints.
  database = await createMigratedDatabase();
  service = await startTestApp({
    env: { DATABASE_URL: database.url, TRUST_PROXY: '1' },
    routers: (deps) => createComponents(deps).routers,
  });
  observer = new Client({ connectionString: database.url });
  await observer.connect();

  const admin = await registerAccount(service.url);
  if (!(await grantRole(service.db, admin.id, 'admin'))) throw new Error('role admin is missing: migrations not run?');
  token = (await signIn(service.url, admin)).accessToken;
  // Rows to protect: a product and an order of the admin.
  const product = await fetch(`${service.url}/api/v1/products`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ sku: 'HOSTILE-1', name: 'Guard rail', price_cents: 999, stock: 5 }),
  });
  expect(product.status).toBe(201);
  const { id } = (await product.json()) as { id: string };
  const order = await fetch(`${service.url}/api/v1/orders`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ items: [{ product_id: id, quantity: 1 }] }),
  });
  expect(order.status).toBe(201);

  const spec = (await (await fetch(`${service.url}/api/docs/openapi.json`)).json()) as OpenApiDocument;
  operations = operationsOf(spec);
}, 60_000);

afterAll(async () => {
  await observer.end();
  await service.close();
  await database.drop();
});

describe('hostile payloads at every documented operation', () => {
  it('finds the operations in the generated document', () => {
    expect(operations.length).toBeGreaterThan(15);
    const attackable = operations.filter((operation) => hostileRequests(operation, 1) !== undefined);
    // Only the probes and /metrics, in front of all input handling, have nothing to attack.
    expect(
      operations
        .filter((operation) => !attackable.includes(operation))
        .map((operation) => operation.path)
        .toSorted(),
    ).toEqual(['/health/live', '/health/ready', '/metrics']);
  });

  it('refuses a non-JSON body with 415 even where the body is optional, so sign-out does not happen', async () => {
    const logout = operations.find((operation) => operation.path === '/api/v1/auth/logout');
    expect(logout).toBeDefined();
    const request: HostileRequest = {
      path: '/api/v1/auth/logout',
      query: '',
      body: raw('{}', 'text/plain'),
      violation: 'text/plain body',
    };
    const answer = await send(service.url, 'post', request, token);
    expect(answer.status).toBe(415);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    const me = await fetch(`${service.url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
  });

  it('answers a path parameter that is not valid percent-encoding with 400 BAD_REQUEST, not a 500', async () => {
    const request: HostileRequest = { path: '/api/v1/products/%E0%A4%A', query: '', violation: 'undecodable id' };
    const answer = await send(service.url, 'get', request, token);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'BAD_REQUEST' } });
  });

  it('answers each with a documented, structured 4xx and leaves the database unchanged', async () => {
    const limitBytes = service.config.jsonBodyLimitBytes;
    const before = await fingerprint(observer);
    for (const operation of operations) {
      const requests = hostileRequests(operation, limitBytes);
      if (requests === undefined) continue;
      await fc.assert(
        fc.asyncProperty(requests, async (request) => {
          checkAnswer(operation, request, await send(service.url, operation.method, request, token));
        }),
        { numRuns: RUNS_PER_OPERATION, endOnFailure: true },
      );
      expect(await fingerprint(observer), `the database after ${operation.method} ${operation.path}`).toEqual(before);
    }
    // The admin's token still works: nothing above signed it out.
    const me = await fetch(`${service.url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
  }, 120_000);
});
