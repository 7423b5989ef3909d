/**
 * One definition per endpoint: method, path, who may call it, request and response schemas, error codes and the
 * handler. {@link endpointRouter} derives the Express route from it (authenticate, authorize, validate, handler) and
 * `buildOpenApiDocument` (openapi.ts) the API reference entry (security with the permission, 401, 403), so the
 * documented permission is the enforced one by construction.
 */
import { Router } from 'express';
import type { IRouter, NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';

import type { ErrorCode } from '../errors.js';
import { validate } from './validate.js';
import type { RequestSchemas, ValidatedInput } from './validate.js';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * Who may call an endpoint: anyone (`public`), any signed-in caller (`signed-in`: `authenticate` only), or a signed-in
 * caller holding `permission` or one of its `alternatives` (`authenticate`, then `authorize`).
 */
export type Access<P extends string = string> =
  'public' | 'signed-in' | { readonly permission: P; readonly alternatives?: readonly P[] };

/** One success response: its description and, unless it has no body, the schema of its body. */
export interface SuccessResponse {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** Media type of the body; `application/json` when absent. */
  readonly contentType?: string;
  /** Response headers worth knowing, e.g. `{ Location: 'the new product' }`. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** An endpoint as the API reference needs it: everything but the handler. */
export interface EndpointDescription<P extends string = string, S extends RequestSchemas = RequestSchemas> {
  readonly method: HttpMethod;
  /** The Express path as mounted at the root, e.g. `/api/v1/products/:id`. */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  readonly access: Access<P>;
  /** Validated before the handler runs (after the access check); the same schemas document the request. */
  readonly request?: S;
  /** Success responses by status. */
  readonly responses: Readonly<Record<number, SuccessResponse>>;
  /**
   * Error codes this endpoint answers beyond the ones every endpoint of its kind can. Added for you: UNAUTHORIZED
   * (signed-in or a permission), FORBIDDEN (a permission), INTERNAL, and for endpoints behind the API middleware
   * RATE_LIMITED, SERVICE_UNAVAILABLE and the body parser's VALIDATION_ERROR, BAD_REQUEST, PAYLOAD_TOO_LARGE and
   * UNSUPPORTED_MEDIA_TYPE (any request may carry a body).
   */
  readonly errors?: readonly ErrorCode[];
  /** True for probes and /metrics, mounted before the rate limiter and the body parser. */
  readonly operational?: boolean;
}

/** An endpoint: its description and the handler, which gets the values the request schemas parsed. */
export interface Endpoint<
  P extends string = string,
  S extends RequestSchemas = RequestSchemas,
> extends EndpointDescription<P, S> {
  // A method, not a property: an endpoint with narrower schemas must still fit a list of Endpoint<P>.
  handle(input: ValidatedInput<S>, req: Request, res: Response, next: NextFunction): void | Promise<void>;
}

/**
 * The definer of endpoints whose permissions are `P`, so a misspelt permission is a compile error:
 * `const endpoint = endpointDefiner<Permission>();` then `endpoint({ method: 'get', … })`.
 */
export function endpointDefiner<P extends string>() {
  return <const S extends RequestSchemas>(definition: Endpoint<P, S>): Endpoint<P> => definition;
}

/** The permissions an endpoint accepts, any one of them enough; empty when it needs none. */
export function permissionsOf<P extends string>(access: Access<P>): readonly P[] {
  if (typeof access === 'string') return [];
  return [access.permission, ...(access.alternatives ?? [])];
}

/** The guards the access of an endpoint mounts: the auth component's `authenticate`, the access component's `authorize`. */
export interface Guards<P extends string> {
  readonly authenticate?: RequestHandler;
  readonly authorize?: (permission: P, ...alternatives: P[]) => RequestHandler;
}

const endpointsOfRouter = new WeakMap<object, readonly Endpoint[]>();

function guardsFor<P extends string>(endpoint: Endpoint<P>, guards: Guards<P>): RequestHandler[] {
  const { access } = endpoint;
  if (access === 'public') return [];
  const where = `${endpoint.method.toUpperCase()} ${endpoint.path}`;
  if (guards.authenticate === undefined) {
    throw new TypeError(`endpointRouter(): ${where} is not public; pass the authenticate guard`);
  }
  if (access === 'signed-in') return [guards.authenticate];
  if (guards.authorize === undefined) {
    throw new TypeError(`endpointRouter(): ${where} needs ${access.permission}; pass the authorize guard`);
  }
  return [guards.authenticate, guards.authorize(access.permission, ...(access.alternatives ?? []))];
}

const endpointOfHandler = new WeakMap<object, Endpoint>();

/**
 * Serves `endpoints` on `target` (the app, or a router) at their paths: for each, `authenticate` unless public,
 * `authorize(permission…)` when it names one, validation of its request schemas, then its handler. Each handler
 * carries its endpoint, so the app documents exactly what it mounts ({@link endpointOf}).
 */
export function mountEndpoints<P extends string>(
  target: IRouter,
  endpoints: readonly Endpoint<P>[],
  guards: Guards<P> = {},
): void {
  for (const endpoint of endpoints) {
    const validator = endpoint.request === undefined ? undefined : validate(endpoint.request);
    const handler: RequestHandler = (req, res, next) => endpoint.handle(validator?.input(req) ?? {}, req, res, next);
    endpointOfHandler.set(handler, endpoint);
    target[endpoint.method](endpoint.path, ...guardsFor(endpoint, guards), ...(validator ? [validator] : []), handler);
  }
}

/** A router serving `endpoints` as {@link mountEndpoints} does; the router also carries them ({@link endpointsOf}). */
export function endpointRouter<P extends string>(endpoints: readonly Endpoint<P>[], guards: Guards<P> = {}): Router {
  const router = Router();
  mountEndpoints(router, endpoints, guards);
  endpointsOfRouter.set(router, endpoints);
  return router;
}

/** The endpoint whose final handler `handle` is, when {@link mountEndpoints} mounted it. */
export function endpointOf(handle: unknown): Endpoint | undefined {
  return typeof handle === 'function' ? endpointOfHandler.get(handle) : undefined;
}

/** The endpoints {@link endpointRouter} mounted on `router`; empty for any other router. */
export function endpointsOf(router: object): readonly Endpoint[] {
  return endpointsOfRouter.get(router) ?? [];
}
