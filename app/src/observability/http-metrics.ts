import { METHODS } from 'node:http';

import type { Request, RequestHandler } from 'express';

import { CLIENT_CLOSED_STATUS, OTHER_METHOD, UNMATCHED_ROUTE, UNMEASURED_PATHS } from './metric-catalogue.js';
import type { Metrics } from './metrics.js';

const KNOWN_METHODS = new Set(METHODS);

/** The method as a label: anything outside the standard set is one value, so a client cannot mint series. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : OTHER_METHOD;
}

/** `/api/v1/orders` + `/:id` → `/api/v1/orders/:id`; a router's `/` route is the mount path itself. */
export function joinRoute(mountPath: string, routePath: unknown): string {
  const path = typeof routePath === 'string' ? routePath : String(routePath);
  if (mountPath === '') return path;
  return path === '/' ? mountPath : `${mountPath}${path}`;
}

/**
 * Calls `onMatch` with the full route pattern whenever Express matches a route for `req`. The router sets
 * `req.route` while `req.baseUrl` is still that router's mount path; by the time the response ends, an error
 * leaving a nested router has already restored `baseUrl`, so the pattern must be taken here.
 */
function watchRouteMatches(req: Request, onMatch: (pattern: string) => void): void {
  let route: unknown = undefined;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set: (value: unknown) => {
      route = value;
      if (typeof value === 'object' && value !== null && 'path' in value) onMatch(joinRoute(req.baseUrl, value.path));
    },
  });
}

/** Whether a request path is a probe or a scrape, which the request metrics leave out. */
export function isUnmeasured(path: string): boolean {
  return UNMEASURED_PATHS.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

/**
 * Records every request but probes and scrapes ({@link UNMEASURED_PATHS}) in `http_requests_total`, `http_request_duration_seconds` and `http_requests_in_flight`,
 * labelled with the matched route pattern (`unmatched` when none matched). Mount business routers at fixed
 * prefixes: a parameter in a mount path would reach the label as its raw value.
 */
export function httpMetricsMiddleware(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    if (isUnmeasured(req.path)) {
      next();
      return;
    }
    const started = performance.now();
    const ended = metrics.httpRequestStarted();
    const method = methodLabel(req.method);
    let route: string = UNMATCHED_ROUTE;
    watchRouteMatches(req, (pattern) => {
      route = pattern;
    });
    let recorded = false;
    const record = (status: string): void => {
      if (recorded) return;
      recorded = true;
      ended();
      metrics.httpRequest(method, route, status, (performance.now() - started) / 1000);
    };
    res.once('finish', () => record(String(res.statusCode)));
    res.once('close', () => record(res.writableFinished ? String(res.statusCode) : CLIENT_CLOSED_STATUS));
    next();
  };
}
