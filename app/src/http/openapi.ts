/**
 * The API reference, generated from the endpoint definitions (endpoint.ts) the app mounts: the same zod schemas the
 * routes validate with and the same access they enforce. The app builds one OpenAPI 3.1 document from every endpoint
 * ({@link buildOpenApiDocument}) and serves it at /api/docs. A test walks the Express router and fails when a route
 * and the document disagree.
 */
import { readFileSync } from 'node:fs';

import { OpenAPIRegistry, OpenApiGeneratorV31, extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import type { ResponseConfig, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

import { ERROR_CODES, ERROR_STATUS } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { permissionsOf } from './endpoint.js';
import type { EndpointDescription } from './endpoint.js';

// registry.register() names component schemas through zod's `.openapi()`, which this adds once for the process.
extendZodWithOpenApi(z);

/** The generated document, as served at /api/docs/openapi.json. */
export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

export const BEARER_AUTH = 'bearerAuth';
export const OPENAPI_VERSION = '3.1.0';

// What the rate limiter, the JSON body parser and validation can answer on any route behind them.
const API_MIDDLEWARE_CODES: readonly ErrorCode[] = [
  'BAD_REQUEST',
  'VALIDATION_ERROR',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RATE_LIMITED',
  'SERVICE_UNAVAILABLE',
];

/** What each error status means to a client, shown once per response in the reference. */
const STATUS_MEANING: Readonly<Record<number, string>> = {
  400: 'The request is malformed or breaks a rule; `error.fields` says which field and why.',
  401: 'No valid bearer access token; sign in (POST /api/v1/auth/login) or refresh it.',
  403: 'The caller is signed in but not allowed to do this.',
  404: 'Nothing exists at this address.',
  405: 'The path exists but not with this method.',
  409: 'The request clashes with the current state; nothing was changed.',
  413: 'The body is larger than the configured limit.',
  415: 'The body is not JSON (Content-Type: application/json) in UTF-8.',
  423: 'The account is locked; `error.details.unlock_at` says until when.',
  429: 'Too many requests; wait `Retry-After` seconds.',
  500: 'A fault on our side; quote `error.requestId` to support.',
  503: 'A dependency is down or too slow; retry after a while.',
};

// One description of every error field, so each error response's schema differs only in its `code` enum.
const errorFields = {
  message: z.string().meta({ description: 'What was wrong and what to do; safe to show to a person.' }),
  fields: z.record(z.string(), z.array(z.string())).optional().meta({
    description: 'Per-field problems of a VALIDATION_ERROR, keyed by path such as `body.email` or `query.limit`.',
  }),
  details: z
    .record(z.string(), z.unknown())
    .optional()
    .meta({ description: 'Structured, client-safe facts of a 4xx, e.g. `unlock_at` of ACCOUNT_LOCKED.' }),
  requestId: z.string().meta({ description: 'The X-Request-Id of the request: the reference to quote to support.' }),
};

/** The body of every error response (app/src/http/errors.ts), with `code` limited to `codes`. */
export function errorBodySchema(codes: readonly ErrorCode[] = ERROR_CODES) {
  const [first, ...rest] = codes;
  if (first === undefined) throw new TypeError('errorBodySchema(): give at least one error code');
  return z.strictObject({
    error: z.strictObject({
      code: z.enum([first, ...rest]).meta({ description: 'Stable: what clients branch on.' }),
      ...errorFields,
    }),
  });
}

/** The app's name and version from app/package.json (src/ and dist/ both sit one level below it). */
function packageInfo(): { readonly name: string; readonly version: string } {
  const packageJson = new URL('../../package.json', import.meta.url);
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- the app's own package.json, at a fixed place
  const { name, version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { name?: unknown; version?: unknown };
  return {
    name: typeof name === 'string' ? name : 'erp-api',
    version: typeof version === 'string' ? version : '0.0.0',
  };
}

/** `/api/v1/products/:id` as OpenAPI writes it: `/api/v1/products/{id}`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

/** Every error code the route can answer, in ERROR_CODES order. */
export function errorCodesOf(route: EndpointDescription): ErrorCode[] {
  const codes = new Set<ErrorCode>(route.errors ?? []);
  if (route.access !== 'public') codes.add('UNAUTHORIZED');
  if (permissionsOf(route.access).length > 0) codes.add('FORBIDDEN');
  if (route.operational !== true) {
    for (const code of API_MIDDLEWARE_CODES) codes.add(code);
  }
  codes.add('INTERNAL');
  return ERROR_CODES.filter((code) => codes.has(code));
}

function headersObject(headers: Readonly<Record<string, string>>) {
  return Object.fromEntries(
    Object.entries(headers).map(([name, description]) => [name, { description, schema: { type: 'string' as const } }]),
  );
}

function errorResponses(codes: readonly ErrorCode[]): Record<number, ResponseConfig> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<number, ResponseConfig> = {};
  for (const [status, statusCodes] of byStatus) {
    const headers: Record<string, string> = {};
    if (status === 401) headers['WWW-Authenticate'] = 'The RFC 6750 Bearer challenge.';
    if (status === 429 || status === 423 || status === 503) headers['Retry-After'] = 'Seconds to wait before retrying.';
    responses[status] = {
      description: `${statusCodes.join(' or ')}. ${STATUS_MEANING[status] ?? ''}`.trim(),
      ...(Object.keys(headers).length > 0 ? { headers: headersObject(headers) } : {}),
      content: { 'application/json': { schema: errorBodySchema(statusCodes) } },
    };
  }
  return responses;
}

function parameterSchema(part: 'params' | 'query', schema: z.ZodType | undefined, route: EndpointDescription) {
  if (schema === undefined) return undefined;
  if (!(schema instanceof z.ZodObject)) {
    throw new TypeError(
      `buildOpenApiDocument(): the ${part} schema of ${route.method.toUpperCase()} ${route.path} must be a z.strictObject`,
    );
  }
  return schema;
}

/**
 * The security requirements of an endpoint: none when public, the bearer token when signed-in, and one requirement per
 * accepted permission (OpenAPI 3.1 lets a non-OAuth scheme list the roles it needs), any one of them enough.
 */
export function securityOf(route: EndpointDescription): Record<string, string[]>[] {
  if (route.access === 'public') return [];
  const permissions = permissionsOf(route.access);
  if (permissions.length === 0) return [{ [BEARER_AUTH]: [] }];
  return permissions.map((permission) => ({ [BEARER_AUTH]: [permission] }));
}

function permissionSentence(route: EndpointDescription): string {
  const permissions = permissionsOf(route.access).map((permission) => `\`${permission}\``);
  if (permissions.length === 0) return '';
  const named =
    permissions.length === 1
      ? `the permission ${permissions.join('')}`
      : `one of the permissions ${permissions.join(', ')}`;
  return `Requires ${named} (403 FORBIDDEN without).`;
}

/**
 * Adds one endpoint to the registry: its request schemas, success responses, security and every error code it can
 * answer, each error status with the error body whose `code` enum lists exactly those codes.
 */
function describeEndpoint(registry: OpenAPIRegistry, route: EndpointDescription): void {
  const permission = permissionSentence(route);
  const description = [route.description, permission].filter((part) => part !== undefined && part !== '').join('\n\n');
  const responses: Record<number, ResponseConfig> = {};
  for (const [status, response] of Object.entries(route.responses)) {
    responses[Number(status)] = {
      description: response.description,
      ...(response.headers === undefined ? {} : { headers: headersObject(response.headers) }),
      ...(response.schema === undefined
        ? {}
        : { content: { [response.contentType ?? 'application/json']: { schema: response.schema } } }),
    };
  }
  const { request } = route;
  const config: RouteConfig = {
    method: route.method,
    path: openApiPath(route.path),
    operationId: operationId(route),
    summary: route.summary,
    ...(description === '' ? {} : { description }),
    tags: [...route.tags],
    security: securityOf(route),
    request: {
      params: parameterSchema('params', request?.params, route),
      query: parameterSchema('query', request?.query, route),
      ...(request?.body === undefined
        ? {}
        : {
            body: {
              required: !request.body.safeParse(undefined).success,
              content: { 'application/json': { schema: request.body } },
            },
          }),
    },
    responses: { ...responses, ...errorResponses(errorCodesOf(route)) },
  };
  registry.registerPath(config);
}

/** `get /api/v1/products/:id` → `getApiV1ProductsById`: stable and unique per method and path. */
function operationId(route: EndpointDescription): string {
  const words = route.path
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => (segment.startsWith(':') ? `by-${segment.slice(1)}` : segment))
    .flatMap((segment) => segment.split(/[^A-Za-z0-9]+/))
    .filter((word) => word !== '');
  return [route.method, ...words.map((word) => `${word.slice(0, 1).toUpperCase()}${word.slice(1)}`)].join('');
}

// Marks a z.xor for the document: zod-to-openapi renders every union as anyOf.
const EXCLUSIVE = 'x-slipway-exclusive';

/**
 * Exactly one of `options` (z.xor), with `error` when none or several match; the API document states it as
 * `oneOf`, which is what the validator enforces.
 */
export function exclusiveUnion<const T extends readonly [z.ZodType, z.ZodType, ...z.ZodType[]]>(
  options: T,
  error: string,
) {
  return z.xor(options, { error }).meta({ [EXCLUSIVE]: true });
}

/** Rewrites the anyOf of each {@link exclusiveUnion} as oneOf, in place. */
function markExclusiveUnions(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) markExclusiveUnions(item);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const schema = node as Record<string, unknown>;
  if (schema[EXCLUSIVE] === true && Array.isArray(schema.anyOf)) {
    schema.oneOf = schema.anyOf;
    Reflect.deleteProperty(schema, 'anyOf');
    Reflect.deleteProperty(schema, EXCLUSIVE);
  }
  for (const value of Object.values(schema)) markExclusiveUnions(value);
}

/** Builds the OpenAPI 3.1 document from every endpoint the app mounts. */
export function buildOpenApiDocument(endpoints: readonly EndpointDescription[]): OpenApiDocument {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', BEARER_AUTH, {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'The access_token from POST /api/v1/auth/login or /refresh, valid 15 minutes.',
  });
  registry.register('ErrorBody', errorBodySchema());
  for (const endpoint of endpoints) describeEndpoint(registry, endpoint);
  const { name, version } = packageInfo();
  const generator = new OpenApiGeneratorV31(registry.definitions, { sortComponents: 'alphabetically' });
  try {
    const document = generate(generator, name, version);
    markExclusiveUnions(document);
    return document;
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new TypeError(
      'buildOpenApiDocument(): a described schema is recursive (z.json(), z.lazy()), which zod-to-openapi cannot ' +
        'follow; describe such values with z.unknown() and a .meta({ description })',
      { cause: error },
    );
  }
}

function generate(generator: OpenApiGeneratorV31, name: string, version: string): OpenApiDocument {
  return generator.generateDocument({
    openapi: OPENAPI_VERSION,
    info: {
      title: name,
      version,
      description:
        'The ERP API. JSON field names are snake_case. Every error answers `{ "error": { "code", "message", ' +
        '"fields"?, "details"?, "requestId" } }`; branch on `code`, show `message`, quote `requestId` to support. ' +
        'A path no route serves answers 404 NOT_FOUND; a served path asked with another method answers ' +
        '405 METHOD_NOT_ALLOWED with an `Allow` header.',
    },
  });
}
