/**
 * A thin fake of GitHub's REST API for the promotion tests: a loopback HTTP server that checks every request
 * (method, path, path and query parameters, JSON body) against GitHub's published OpenAPI description (the
 * `@octokit/openapi` package) and checks its own answers against the same description. A request the description
 * does not allow is answered 400 and kept in `violations`; an answer it does not allow throws, failing the test.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';

import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

type Json = Record<string, unknown>;

interface Parameter {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header' | 'cookie';
  readonly required?: boolean;
  readonly schema?: Json;
}

interface Operation {
  readonly operationId: string;
  readonly parameters?: readonly (Parameter | { $ref: string })[];
  readonly requestBody?: { required?: boolean; content: Record<string, { schema: Json }> } | { $ref: string };
  readonly responses: Record<string, Json>;
}

interface OpenApi {
  readonly paths: Record<string, Record<string, Operation>>;
  readonly components: Record<string, Record<string, Json>>;
}

interface Route {
  readonly template: string;
  readonly method: string;
  readonly pattern: RegExp;
  readonly names: readonly string[];
  readonly operation: Operation;
}

/** What a handler answers; `body` is checked against the operation's response schema for `status`. */
export interface FakeResponse {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** One request as the fake received it, after validation. */
export interface FakeRequest {
  readonly method: string;
  /** The OpenAPI path template it matched, e.g. `/repos/{owner}/{repo}/pulls`. */
  readonly route: string;
  readonly operationId: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  readonly body: unknown;
  readonly authorization?: string;
}

let loaded: { spec: OpenApi; ajv: Ajv; routes: Route[] } | undefined;

/** GitHub's description, parsed and indexed once per process (13 MB of JSON). */
function description(): { spec: OpenApi; ajv: Ajv; routes: Route[] } {
  if (loaded !== undefined) return loaded;
  const require = createRequire(import.meta.url);
  const file = require.resolve('@octokit/openapi/generated/api.github.com.json');
  const spec = JSON.parse(readFileSync(file, 'utf8')) as OpenApi;
  // OpenAPI 3.0 keywords (nullable, discriminator, example) are understood or ignored; no guessing of types.
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, discriminator: true });
  (addFormatsModule as unknown as (ajv: Ajv) => void)(ajv);
  ajv.addFormat('repo.nwo', /^[\w.-]+\/[\w.-]+$/);
  ajv.addSchema({ $id: 'github', components: spec.components });
  const routes: Route[] = [];
  for (const [template, methods] of Object.entries(spec.paths)) {
    const names: string[] = [];
    const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_match, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    for (const [method, operation] of Object.entries(methods)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      // eslint-disable-next-line security/detect-non-literal-regexp -- built from GitHub's path templates, escaped
      routes.push({ template, method: method.toUpperCase(), pattern: new RegExp(`^${source}$`), names, operation });
    }
  }
  // a literal segment wins over a parameter, as GitHub routes /pulls/comments before /pulls/{pull_number}
  routes.sort((a, b) => a.names.length - b.names.length);
  loaded = { spec, ajv, routes };
  return loaded;
}

/** Points `#/components/…` references at the registered description, so an inline schema compiles on its own. */
function anchored(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(anchored);
  if (typeof schema !== 'object' || schema === null) return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [
      key,
      key === '$ref' && typeof value === 'string' && value.startsWith('#/') ? `github${value}` : anchored(value),
    ]),
  );
}

/** GitHub ignores unknown body fields; the fake refuses them at the top level, so a misspelt field fails a test. */
function closed(schema: Json): Json {
  if (schema.type === 'object' && schema.properties !== undefined && schema.additionalProperties === undefined)
    return { ...schema, additionalProperties: false };
  return schema;
}

function resolve<T>(spec: OpenApi, value: T | { $ref: string }): T {
  if (typeof value === 'object' && value !== null && '$ref' in value) {
    const [, , section = '', name = ''] = value.$ref.split('/');
    return spec.components[section]?.[name] as T;
  }
  return value;
}

const compiled = new Map<string, ValidateFunction>();
function validator(key: string, schema: () => unknown): ValidateFunction {
  let validate = compiled.get(key);
  if (validate === undefined) {
    validate = description().ajv.compile(anchored(schema()) as Json);
    compiled.set(key, validate);
  }
  return validate;
}

const describeErrors = (validate: ValidateFunction): string =>
  (validate.errors ?? [])
    .slice(0, 5)
    .map((error) => `${error.instancePath || '(root)'} ${error.message ?? ''} ${JSON.stringify(error.params)}`)
    .join('; ');

/** A path or query value as the schema's type wants it (HTTP carries strings). */
function coerce(value: string, schema: Json | undefined): unknown {
  if (schema?.type === 'integer' || schema?.type === 'number') return /^-?\d+$/.test(value) ? Number(value) : value;
  if (schema?.type === 'boolean') return value === 'true' ? true : value === 'false' ? false : value;
  return value;
}

export type Handler = (request: FakeRequest) => FakeResponse;

/** A one-time answer for the next matching request, to stand for an error GitHub gives. */
export interface Injected {
  readonly method: string;
  readonly route: string;
  readonly response: FakeResponse;
}

export class FakeGitHub {
  readonly requests: FakeRequest[] = [];
  /** Requests the description does not allow, one line each; a test expects none. */
  readonly violations: string[] = [];
  private readonly injected: Injected[] = [];
  private server: Server | undefined;
  url = '';

  constructor(private readonly handlers: Readonly<Record<string, Handler>>) {}

  /** Answers the next `method route` request with `response` instead of the handler's. */
  inject(injected: Injected): void {
    this.injected.push(injected);
  }

  async start(): Promise<string> {
    description();
    this.server = createServer((request, response) => {
      void this.handle(request, response);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${String(typeof address === 'object' && address !== null ? address.port : 0)}`;
    return this.url;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }

  /** Validates a request against the description; returns it parsed, or the reason it is not allowed. */
  check(method: string, rawUrl: string, text: string, authorization?: string): FakeRequest | string {
    const { spec, routes } = description();
    const url = new URL(rawUrl, 'http://fake');
    const route = routes.find((r) => r.method === method && r.pattern.test(url.pathname));
    if (route === undefined) return `${method} ${url.pathname} is no operation of GitHub's REST API`;
    const where = `${method} ${route.template} (${route.operation.operationId})`;
    const match = route.pattern.exec(url.pathname) ?? [];
    const params = Object.fromEntries(
      route.names.map((name, index) => [name, decodeURIComponent(match[index + 1] ?? '')]),
    );
    const parameters = (route.operation.parameters ?? []).map((p) => resolve<Parameter>(spec, p));
    const problems: string[] = [];
    const query = Object.fromEntries(url.searchParams.entries());
    for (const parameter of parameters) {
      const value =
        parameter.in === 'path' ? params[parameter.name] : parameter.in === 'query' ? query[parameter.name] : undefined;
      if (parameter.in !== 'path' && parameter.in !== 'query') continue;
      if (value === undefined) {
        if (parameter.required === true) problems.push(`${parameter.in} parameter ${parameter.name} is required`);
        continue;
      }
      const validate = validator(`${where} ${parameter.in} ${parameter.name}`, () => parameter.schema ?? {});
      if (!validate(coerce(value, parameter.schema)))
        problems.push(
          `${parameter.in} parameter ${parameter.name}=${JSON.stringify(value)}: ${describeErrors(validate)}`,
        );
    }
    for (const name of Object.keys(query))
      if (!parameters.some((p) => p.in === 'query' && p.name === name))
        problems.push(`query parameter ${name} is not declared`);
    let body: unknown;
    const requestBody =
      route.operation.requestBody === undefined ? undefined : resolve(spec, route.operation.requestBody);
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        problems.push('the body is not JSON');
      }
    }
    if (requestBody === undefined) {
      if (text !== '') problems.push('the operation takes no body');
    } else if (body === undefined) {
      if (requestBody.required === true) problems.push('the body is required');
    } else {
      const schema = requestBody.content['application/json']?.schema;
      if (schema === undefined) problems.push('the operation takes no JSON body');
      else {
        const validate = validator(`${where} body`, () => closed(schema));
        if (!validate(body)) problems.push(`body ${JSON.stringify(body).slice(0, 200)}: ${describeErrors(validate)}`);
      }
    }
    if (problems.length > 0) return `${where}: ${problems.join('; ')}`;
    return {
      method,
      route: route.template,
      operationId: route.operation.operationId,
      params,
      query,
      body,
      ...(authorization === undefined ? {} : { authorization }),
    };
  }

  /** Checks an answer against the operation's declared response; undeclared errors must be GitHub's basic error. */
  checkResponse(request: FakeRequest, response: FakeResponse): void {
    const { spec } = description();
    const route = spec.paths[request.route]?.[request.method.toLowerCase()];
    const declared = route?.responses[String(response.status)];
    const content = declared === undefined ? undefined : resolve<Json>(spec, declared).content;
    const schema =
      (content as Record<string, { schema?: Json }> | undefined)?.['application/json']?.schema ??
      (response.status >= 400 ? { $ref: '#/components/schemas/basic-error' } : undefined);
    if (declared === undefined && response.status < 400)
      throw new Error(`the fake answered ${String(response.status)}, which ${request.operationId} does not declare`);
    if (schema === undefined) return;
    const validate = validator(`${request.operationId} response ${String(response.status)}`, () => schema);
    if (!validate(response.body))
      throw new Error(
        `the fake's answer to ${request.operationId} (${String(response.status)}) breaks GitHub's schema: ${describeErrors(validate)}`,
      );
  }

  private async handle(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of incoming) text += (chunk as Buffer).toString('utf8');
    const method = incoming.method ?? 'GET';
    const checked = this.check(method, incoming.url ?? '/', text, incoming.headers.authorization);
    if (typeof checked === 'string') {
      this.violations.push(checked);
      this.send(outgoing, { status: 400, body: { message: `fake GitHub refused: ${checked}` } });
      return;
    }
    this.requests.push(checked);
    const index = this.injected.findIndex((i) => i.method === method && i.route === checked.route);
    let response: FakeResponse;
    if (index !== -1) {
      response = this.injected[index]?.response ?? { status: 500 };
      this.injected.splice(index, 1);
    } else {
      const handler = this.handlers[checked.operationId];
      response =
        handler === undefined
          ? { status: 404, body: { message: `the fake has no handler for ${checked.operationId}` } }
          : handler(checked);
    }
    try {
      this.checkResponse(checked, response);
    } catch (error) {
      this.violations.push((error as Error).message);
      this.send(outgoing, { status: 500, body: { message: (error as Error).message } });
      return;
    }
    this.send(outgoing, response);
  }

  private send(outgoing: ServerResponse, response: FakeResponse): void {
    const body = response.body === undefined ? '' : JSON.stringify(response.body);
    outgoing.writeHead(response.status, { 'content-type': 'application/json; charset=utf-8', ...response.headers });
    outgoing.end(body);
  }
}

/** An example of GitHub's own description (components/examples), deep-copied, as the base of an answer. */
export function example(name: string): unknown {
  const value = description().spec.components.examples?.[name]?.value;
  if (value === undefined) throw new Error(`GitHub's description has no example ${name}`);
  return structuredClone(value);
}
