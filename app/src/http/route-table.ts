import type { Express, RequestHandler } from 'express';

import { BadRequestError } from '../errors.js';
import { endpointOf } from './endpoint.js';
import type { Endpoint } from './endpoint.js';

/** One method and path an Express app answers, with the path as the router registered it (`/products/:id`). */
export interface RouteEntry {
  readonly method: string;
  readonly path: string;
}

// The parts of Express 5's router (the `router` package) that say what is mounted where; its types omit them.
interface RouteLike {
  readonly path: unknown;
  readonly methods: Readonly<Record<string, boolean | undefined>>;
  readonly stack?: readonly { readonly handle?: unknown }[];
}
interface LayerLike {
  readonly route?: RouteLike;
  readonly rawPath?: unknown;
  readonly handle?: { readonly stack?: readonly LayerLike[] };
}

function joinPath(prefix: string, path: string): string {
  return path === '/' && prefix !== '' ? prefix : `${prefix}${path}`;
}

function walk(stack: readonly LayerLike[], prefix: string, into: RouteEntry[]): void {
  for (const layer of stack) {
    if (layer.route !== undefined) {
      const { path, methods } = layer.route;
      if (typeof path !== 'string') {
        throw new TypeError(`listRoutes(): a route under "${prefix}" has a non-string path; register plain paths`);
      }
      for (const [method, enabled] of Object.entries(methods)) {
        if (enabled === true && method !== '_all') into.push({ method, path: joinPath(prefix, path) });
      }
      continue;
    }
    const nested = layer.handle?.stack;
    if (nested === undefined) continue;
    const mount = layer.rawPath;
    if (typeof mount !== 'string') {
      throw new TypeError(`listRoutes(): a router under "${prefix}" is mounted at a non-string path`);
    }
    walk(nested, mount === '/' ? prefix : joinPath(prefix, mount), into);
  }
}

/** Every method and path `app` routes, nested routers included (middleware without a route is not listed). */
export function listRoutes(app: Express): RouteEntry[] {
  const routes: RouteEntry[] = [];
  walk((app.router as unknown as { stack: readonly LayerLike[] }).stack, '', routes);
  return routes;
}

function collectEndpoints(stack: readonly LayerLike[], into: Endpoint[]): void {
  for (const layer of stack) {
    const endpoint = endpointOf(layer.route?.stack?.at(-1)?.handle);
    if (endpoint !== undefined) into.push(endpoint);
    const nested = layer.handle?.stack;
    if (nested !== undefined) collectEndpoints(nested, into);
  }
}

/** Every endpoint `app` mounts through `mountEndpoints` or `endpointRouter`, in mount order. */
export function listEndpoints(app: Express): Endpoint[] {
  const endpoints: Endpoint[] = [];
  collectEndpoints((app.router as unknown as { stack: readonly LayerLike[] }).stack, endpoints);
  return endpoints;
}

function pathMatcher(path: string): RegExp {
  const pattern = path
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  // eslint-disable-next-line security/detect-non-literal-regexp -- built from the app's own route paths, escaped
  return new RegExp(`^${pattern}/?$`, 'i');
}

/**
 * 405 METHOD_NOT_ALLOWED with an `Allow` header for a path the app serves with other methods (a 404 would say the
 * path is wrong). Mount it after every router, before the 404 handler; it reads the route table on first use.
 */
export function methodNotAllowedHandler(app: Express): RequestHandler {
  let table: { readonly matcher: RegExp; readonly methods: Set<string> }[] | undefined;
  const build = () => {
    const byPath = new Map<string, Set<string>>();
    for (const { method, path } of listRoutes(app)) {
      const methods = byPath.get(path) ?? new Set<string>();
      methods.add(method.toUpperCase());
      if (method === 'get') methods.add('HEAD');
      byPath.set(path, methods);
    }
    return [...byPath].map(([path, methods]) => ({ matcher: pathMatcher(path), methods }));
  };
  return (req, res, next) => {
    table ??= build();
    if (req.method === 'OPTIONS') {
      next();
      return;
    }
    const allowed = new Set<string>();
    for (const { matcher, methods } of table) {
      if (matcher.test(req.path)) for (const method of methods) allowed.add(method);
    }
    if (allowed.size === 0 || allowed.has(req.method)) {
      next();
      return;
    }
    const allow = [...allowed].toSorted().join(', ');
    res.setHeader('Allow', allow);
    next(
      new BadRequestError(
        'METHOD_NOT_ALLOWED',
        `${req.method} is not served at ${req.path}; this path answers ${allow} (see the API reference at /api/docs)`,
      ),
    );
  };
}
