import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createComponents } from '../src/components/index.js';
import { ERROR_CODES, ERROR_STATUS } from '../src/errors.js';
import type { ErrorCode } from '../src/errors.js';
import { openApiPath } from '../src/http/openapi.js';
import type { OpenApiDocument } from '../src/http/openapi.js';
import { listRoutes } from '../src/http/route-table.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';

// Codes no operation can answer, so they are documented once, in the ErrorBody schema and the description.
const NOT_PER_OPERATION: readonly ErrorCode[] = ['METHOD_NOT_ALLOWED'];
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

interface ErrorResponse {
  readonly content?: Record<
    string,
    { schema?: { properties?: { error?: { properties?: { code?: { enum?: string[] } } } } } }
  >;
}

let service: TestApp;
let spec: OpenApiDocument;

/** `GET /api/v1/products/{id}` for every operation of the document. */
function operationsOf(document: OpenApiDocument): string[] {
  return Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method] !== undefined).map((method) => `${method.toUpperCase()} ${path}`),
  );
}

/** Each error code an operation's responses document, with the status it is documented under. */
function documentedCodes(document: OpenApiDocument): { operation: string; status: number; code: string }[] {
  const found: { operation: string; status: number; code: string }[] = [];
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item[method];
      if (operation === undefined) continue;
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const error = (response as ErrorResponse).content?.['application/json']?.schema?.properties?.error;
        // Only /health/ready answers a status >= 400 with another body (its readiness report on 503).
        if (Number(status) < 400 || (path === '/health/ready' && status === '503')) continue;
        const codes = error?.properties?.code?.enum;
        expect(codes, `${method} ${path} ${status} documents its error codes`).toBeDefined();
        for (const code of codes ?? []) {
          found.push({ operation: `${method.toUpperCase()} ${path}`, status: Number(status), code });
        }
      }
    }
  }
  return found;
}

beforeAll(async () => {
  service = await startTestApp({ routers: (deps) => createComponents(deps).routers });
  const response = await fetch(`${service.url}/api/docs/openapi.json`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  spec = (await response.json()) as OpenApiDocument;
});

afterAll(async () => {
  await service.close();
});

describe('the OpenAPI document at /api/docs/openapi.json', () => {
  it('documents every route the wired app serves, with the same method, and nothing else', () => {
    const served = listRoutes(service.app).map((route) => `${route.method.toUpperCase()} ${openApiPath(route.path)}`);
    expect(served.length).toBeGreaterThan(10);
    expect(new Set(served).size, 'no route is registered twice').toBe(served.length);
    expect(served.toSorted()).toEqual(operationsOf(spec).toSorted());
  });

  it('names the app and its version from app/package.json and offers bearer auth', async () => {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
      name: string;
      version: string;
    };
    expect(spec.info).toMatchObject({ title: pkg.name, version: pkg.version });
    expect(spec.components?.securitySchemes?.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const me = spec.paths?.['/api/v1/auth/me']?.get;
    expect(me?.security).toEqual([{ bearerAuth: [] }]);
    expect(spec.paths?.['/api/v1/auth/login']?.post?.security).toEqual([]);
  });

  it('documents only real error codes, each under its own status, and every code somewhere', () => {
    const documented = documentedCodes(spec);
    for (const { operation, status, code } of documented) {
      expect(ERROR_CODES, `${operation} ${status}`).toContain(code);
      expect(ERROR_STATUS[code as ErrorCode], `${operation}: ${code} under ${status}`).toBe(status);
    }
    const perOperation = new Set(documented.map((entry) => entry.code));
    const missing = ERROR_CODES.filter((code) => !perOperation.has(code) && !NOT_PER_OPERATION.includes(code));
    expect(missing, 'error codes no operation documents').toEqual([]);

    // The shared error body lists every code, including those no single operation answers.
    const errorBody = spec.components?.schemas?.ErrorBody as
      { properties: { error: { properties: { code: { enum: string[] } } } } } | undefined;
    expect(errorBody?.properties.error.properties.code.enum.toSorted()).toEqual([...ERROR_CODES].toSorted());
  });

  it('gives every operation a summary, a tag, a success response and a 500 INTERNAL', () => {
    for (const [path, item] of Object.entries(spec.paths ?? {})) {
      for (const method of METHODS) {
        const operation = item[method];
        if (operation === undefined) continue;
        const where = `${method} ${path}`;
        expect(operation.summary, where).toBeTruthy();
        expect(operation.tags?.length, where).toBeGreaterThan(0);
        expect(
          Object.keys(operation.responses ?? {}).some((status) => Number(status) < 400),
          where,
        ).toBe(true);
        expect(operation.responses?.['500'], where).toBeDefined();
        if (operation.security?.length) expect(operation.responses?.['401'], where).toBeDefined();
      }
    }
  });

  it('names the required permission of routes behind authorize()', () => {
    expect(spec.paths?.['/api/v1/products']?.post?.description).toContain('`products:create`');
    expect(spec.paths?.['/api/v1/products']?.post?.responses?.['403']).toBeDefined();
  });

  it('answers a served path asked with another method with 405 and Allow, as the description says', async () => {
    expect(spec.info.description).toContain('405 METHOD_NOT_ALLOWED');
    const response = await fetch(`${service.url}/api/v1/products/${crypto.randomUUID()}`, { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD, PATCH');
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error).toMatchObject({ code: 'METHOD_NOT_ALLOWED', message: expect.stringContaining('DELETE') as unknown });
    const nowhere = await fetch(`${service.url}/api/v1/no-such-thing`, { method: 'DELETE' });
    expect(nowhere.status).toBe(404);
    await nowhere.arrayBuffer();
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(spec as unknown as Record<string, unknown>);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });
});

describe('Swagger UI at /api/docs', () => {
  it('serves the page, its script and styles, under a CSP that lets them run', async () => {
    const bare = await fetch(`${service.url}/api/docs`, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/api/docs/');

    const page = await fetch(`${service.url}/api/docs`);
    expect(page.status).toBe(200);
    expect(page.url).toBe(`${service.url}/api/docs/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('<div id="swagger-ui"></div>');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).not.toMatch(/default-src 'none'/);

    const init = await fetch(`${service.url}/api/docs/swagger-ui-init.js`);
    expect(init.status).toBe(200);
    const script = await init.text();
    expect(script).toContain('"persistAuthorization": true');
    expect(script).toContain('"bearerAuth"');

    for (const asset of ['swagger-ui.css', 'swagger-ui-bundle.js']) {
      const response = await fetch(`${service.url}/api/docs/${asset}`);
      expect(response.status, asset).toBe(200);
      await response.arrayBuffer();
    }
  });
});
