import { randomUUID } from 'node:crypto';

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
import { unique } from './support/db.js';

/**
 * The served document against the server, both ways: a request the document allows is never refused as invalid
 * (400 VALIDATION_ERROR), and one it does not allow always is. Each case is one of the kinds an OpenAPI fuzzer found
 * the two disagreeing on; the properties generate more of the same from the document's own patterns.
 */

interface Parameter {
  readonly name: string;
  readonly in: string;
  readonly required?: boolean;
  readonly schema: object;
}
interface Operation {
  readonly parameters?: readonly Parameter[];
  readonly requestBody?: { readonly content: Record<string, { readonly schema: object }> };
}

let service: TestApp;
let document: OpenApiDocument;
let token: string;
const ajv = new Ajv2020({ strict: false, allErrors: false });
// a CommonJS module: its default export is on .default under NodeNext
addFormats.default(ajv);
// The document's one extension: uniqueness by a property of the items, which JSON Schema cannot say.
ajv.addKeyword({
  keyword: 'x-unique-by',
  type: 'array',
  schemaType: 'string',
  validate: (property: string, items: readonly Record<string, unknown>[]) =>
    new Set(items.map((item) => JSON.stringify(item[property]))).size === items.length,
});
const validators = new Map<string, ValidateFunction>();

beforeAll(async () => {
  service = await startTestApp({ env: { TRUST_PROXY: '1' }, routers: (deps) => createComponents(deps).routers });
  const admin = await registerAccount(service.url);
  await grantAccountRole(service.db, admin.id, 'admin');
  token = (await signIn(service.url, admin)).accessToken;
  document = (await (await fetch(`${service.url}/api/docs/openapi.json`)).json()) as OpenApiDocument;
});

afterAll(async () => {
  await service.close();
});

function operation(method: string, path: string): Operation {
  const found = (document.paths?.[path] as Record<string, Operation> | undefined)?.[method];
  if (found === undefined) throw new Error(`${method.toUpperCase()} ${path} is not in the document`);
  return found;
}

function validator(key: string, schema: object): ValidateFunction {
  let compiled = validators.get(key);
  if (compiled === undefined) {
    compiled = ajv.compile({ ...schema, components: document.components });
    validators.set(key, compiled);
  }
  return compiled;
}

/** Whether the document allows this request: every query parameter and the JSON body against their schemas. */
function documentAllows(
  method: string,
  path: string,
  request: { query?: Record<string, string>; body?: unknown },
): boolean {
  const op = operation(method, path);
  const parameters = (op.parameters ?? []).filter((parameter) => parameter.in === 'query');
  for (const name of Object.keys(request.query ?? {})) {
    if (!parameters.some((parameter) => parameter.name === name)) return false;
  }
  for (const parameter of parameters) {
    const value = request.query?.[parameter.name];
    if (value === undefined) {
      if (parameter.required === true) return false;
      continue;
    }
    if (!validator(`${method} ${path} ${parameter.name}`, parameter.schema)(value)) return false;
  }
  const body = op.requestBody?.content['application/json']?.schema;
  if (body !== undefined && request.body !== undefined) {
    if (!validator(`${method} ${path} body`, body)(request.body)) return false;
  }
  return true;
}

/** Sends the request as an administrator and says whether the server refused it as invalid. */
async function serverRefuses(
  method: string,
  path: string,
  request: { query?: Record<string, string>; body?: unknown; anonymous?: boolean },
): Promise<boolean> {
  const search = new URLSearchParams(request.query ?? {}).toString();
  const reply = await call(service.url, method.toUpperCase(), `${path}${search === '' ? '' : `?${search}`}`, {
    ...(request.anonymous === true ? {} : { token }),
    ...(request.body === undefined ? {} : { body: request.body }),
    ip: clientIp(),
  });
  expect(reply.status, `${method.toUpperCase()} ${path}: ${JSON.stringify(reply.body)}`).toBeLessThan(500);
  return reply.status === 400 && (reply.body.error as { code: string }).code === 'VALIDATION_ERROR';
}

async function expectAgreement(
  method: string,
  path: string,
  request: { query?: Record<string, string>; body?: unknown; anonymous?: boolean },
  allowed: boolean,
): Promise<void> {
  const what = `${method.toUpperCase()} ${path} ${JSON.stringify(request.query ?? request.body)}`;
  expect(documentAllows(method, path, request), `the document on ${what}`).toBe(allowed);
  expect(await serverRefuses(method, path, request), `the server on ${what}`).toBe(!allowed);
}

describe('the document states what the server enforces', () => {
  it.each([
    [{ page: '0' }, false],
    [{ limit: '0' }, false],
    [{ page: '007' }, false],
    [{ limit: '1001' }, false],
    [{ page: '1000000', limit: '1000' }, true],
    [{ sort: 'name,name' }, false],
    [{ sort: 'name,-name' }, false],
    [{ sort: '-price_cents,name' }, true],
    [{ sort: '' }, true],
    [{ max_price_cents: '2147483648' }, false],
    [{ max_price_cents: '2147483647' }, true],
    [{ min_price_cents: '10', max_price_cents: '5' }, true],
    [{ name: 'oak\u0001' }, false],
  ])('GET /api/v1/products?%j: allowed %s', async (query, allowed) => {
    await expectAgreement('get', '/api/v1/products', { query }, allowed);
  });

  it.each([
    [{ event_type: 'Auth.Login' }, false],
    [{ event_type: 'auth' }, false],
    [{ event_type: 'auth.' }, false],
    [{ event_type: `a.${'b'.repeat(99)}` }, false],
    [{ event_type: 'auth.login.failed' }, true],
    [{ from: '2026-05-01t00:00:00Z' }, false],
    [{ from: '2026-05-01T00:00:60Z' }, false],
    // a range that holds nothing is an empty page, not an error
    [{ from: '2026-05-02T00:00:00Z', to: '2026-05-01T00:00:00Z' }, true],
  ])('GET /api/v1/audit-logs?%j: allowed %s', async (query, allowed) => {
    await expectAgreement('get', '/api/v1/audit-logs', { query }, allowed);
  });

  it.each([
    [{ email: 'someone@example.com', username: 'someone', password: 'whatever it is' }, false],
    [{ password: 'whatever it is' }, false],
    [{ email: 'someone@example.com', password: 'whatever it is' }, true],
    [{ username: 'someone', password: 'whatever it is' }, true],
    [{ email: '"quoted"@example.com', password: 'whatever it is' }, false],
    [{ email: 'someone@[127.0.0.1]', password: 'whatever it is' }, false],
    [{ email: 'someone@example.c', password: 'whatever it is' }, false],
  ])('POST /api/v1/auth/login %j: allowed %s', async (body, allowed) => {
    await expectAgreement('post', '/api/v1/auth/login', { body, anonymous: true }, allowed);
  });

  it('states that an order has one line per product', async () => {
    const line = { product_id: randomUUID(), quantity: 1 };
    await expectAgreement('post', '/api/v1/orders', { body: { items: [line, { ...line, quantity: 2 }] } }, false);
    // allowed, and refused only for what it is: an unknown product
    await expectAgreement('post', '/api/v1/orders', { body: { items: [line] } }, true);
  });

  it.each([
    ['   ', false],
    ['two\nlines', false],
    ['Oak chair', true],
  ])('POST /api/v1/products with the name %j: allowed %s', async (productName, allowed) => {
    const body = { sku: `SKU-${randomUUID().slice(0, 8)}`, name: productName, price_cents: 100, stock: 1 };
    await expectAgreement('post', '/api/v1/products', { body }, allowed);
  });

  it.each([
    ['with\ttab and\nline', true],
    ['bell\u0007', false],
  ])('POST /api/v1/products with the description %j: allowed %s', async (text, allowed) => {
    const body = {
      sku: `SKU-${randomUUID().slice(0, 8)}`,
      name: 'Desk',
      description: text,
      price_cents: 100,
      stock: 1,
    };
    await expectAgreement('post', '/api/v1/products', { body }, allowed);
  });

  it('states that a product change names at least one field and a role names each permission once', async () => {
    const product = randomUUID();
    expect(documentAllows('patch', '/api/v1/products/{id}', { body: {} })).toBe(false);
    expect(await serverRefuses('patch', `/api/v1/products/${product}`, { body: {} })).toBe(true);
    const permissions = { permissions: ['products:read', 'products:read'] };
    expect(documentAllows('put', '/api/v1/roles/{role}/permissions', { body: permissions })).toBe(false);
    expect(await serverRefuses('put', '/api/v1/roles/manager/permissions', { body: permissions })).toBe(true);
  });
});

describe('properties over the document', () => {
  it('accepts every page and limit the document allows, and refuses every other digit string', async () => {
    const op = operation('get', '/api/v1/products');
    const patternOf = (name: string): RegExp =>
      // eslint-disable-next-line security/detect-non-literal-regexp -- the served document's own pattern
      new RegExp((op.parameters?.find((p) => p.name === name)?.schema as { pattern: string }).pattern);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.stringMatching(patternOf('page')), fc.stringMatching(/^\d{1,8}$/)),
        fc.oneof(fc.stringMatching(patternOf('limit')), fc.stringMatching(/^\d{1,5}$/)),
        async (page, limit) => {
          const query = { page, limit: limit };
          const allowed = documentAllows('get', '/api/v1/products', { query });
          expect(await serverRefuses('get', '/api/v1/products', { query })).toBe(!allowed);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('registers every email address the document allows and refuses every one it does not', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.emailAddress(), fc.stringMatching(/^[a-z0-9."]{1,12}@[a-z0-9.[\]]{1,12}$/)),
        async (email) => {
          const body = {
            email,
            username: unique('fuzz')
              .replace(/[^A-Za-z0-9._-]/g, '')
              .slice(0, 60),
            password: 'a long enough password',
          };
          const allowed = documentAllows('post', '/api/v1/auth/register', { body });
          expect(await serverRefuses('post', '/api/v1/auth/register', { body, anonymous: true }), email).toBe(!allowed);
        },
      ),
      { numRuns: 40 },
    );
  });
});
