import type { Request, RequestHandler } from 'express';

import { ForbiddenError, UnauthorizedError } from '../../errors.js';
import { endpointDefiner } from '../../http/endpoint.js';
import { requestContext } from '../../http/request-context.js';
import type { Logger } from '../../logger.js';
import type { PermissionCache } from './cache.js';
import type { Permission } from './permissions.js';

// One lookup per request however many guards or handlers ask.
const grantsOfRequest = new WeakMap<Request, Promise<ReadonlySet<string>>>();

/** Defines an endpoint whose access names permissions of the seed migrations: a misspelt one does not compile. */
export const defineEndpoint = endpointDefiner<Permission>();

/** Checks a request's caller for permissions; mount `authorize(...)` after `authenticate`. */
export type Authorize = (permission: Permission, ...alternatives: Permission[]) => RequestHandler;

/** The permissions of the request's authenticated caller, read once per request through the cache. */
export function callerPermissions(
  cache: PermissionCache,
  req: Request,
  fallback: Logger,
): Promise<ReadonlySet<string>> {
  let grants = grantsOfRequest.get(req);
  if (grants === undefined) {
    const context = requestContext(req);
    const userId = context?.userId;
    if (userId === undefined) return Promise.reject(new UnauthorizedError());
    grants = cache.permissionsOf(userId, context?.log ?? fallback);
    grantsOfRequest.set(req, grants);
  }
  return grants;
}

/** Whether the request's authenticated caller holds `permission`, for handlers whose answer depends on it. */
export type Holds = (req: Request, permission: Permission) => Promise<boolean>;

/** {@link Holds} through the same per-request lookup `authorize` uses: no second cache read. */
export function createHolds(cache: PermissionCache, logger: Logger): Holds {
  return async (req, permission) => (await callerPermissions(cache, req, logger)).has(permission);
}

/**
 * `authorize('products:create')` lets the request through when the caller holds that permission, or any of the
 * alternatives (`authorize('orders:read_own', 'orders:read')`); otherwise 403 FORBIDDEN naming what was missing.
 */
export function createAuthorize(cache: PermissionCache, logger: Logger): Authorize {
  return (permission, ...alternatives) => {
    const accepted = [permission, ...alternatives];
    const needed = accepted.length === 1 ? `the ${permission} permission` : `one of ${accepted.join(', ')}`;
    return async (req, _res, next) => {
      let granted: ReadonlySet<string>;
      try {
        granted = await callerPermissions(cache, req, logger);
      } catch (error) {
        next(error);
        return;
      }
      if (accepted.some((name) => granted.has(name))) {
        next();
        return;
      }
      next(
        new ForbiddenError(`this request needs ${needed}, which your roles do not grant; ask an administrator`, {
          details: { permission, ...(alternatives.length > 0 ? { anyOf: accepted } : {}) },
        }),
      );
    };
  };
}
