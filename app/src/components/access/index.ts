import type { RequestHandler, Router } from 'express';
import type { Redis } from 'ioredis';

import type { Database } from '../../db/pool.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { PermissionCache } from './cache.js';
import type { HitRatePolicy } from './cache.js';
import { createAuthorize, createHolds } from './guard.js';
import type { Authorize, Holds } from './guard.js';
import { accessRouter } from './routes.js';
import { AccessService } from './service.js';
import type { AccessAuditLog, LoginLockReleaser } from './service.js';

export { PermissionCache, PERMISSIONS_TTL_SECONDS, ROLES_TTL_SECONDS } from './cache.js';
export type { UserGrants } from './cache.js';
export { callerPermissions, defineEndpoint } from './guard.js';
export type { Authorize, Holds } from './guard.js';
export { ADMIN_ROLE, PERMISSIONS, isPermission } from './permissions.js';
export type { Permission } from './permissions.js';
export { ACCESS_AUDIT_EVENTS, AccessService } from './service.js';
export type { AccessAuditLog, Actor, LoginLockReleaser, UnlockOutcome } from './service.js';

export interface AccessComponent {
  /** `authorize('products:create')`: mount after `authenticate`; 403 FORBIDDEN naming the missing permission. */
  readonly authorize: Authorize;
  /** Whether the caller holds a permission, for handlers that widen what they show (orders:read sees every order). */
  readonly holds: Holds;
  /** Mount at the root (its paths start with /api/v1/users and /api/v1/roles). */
  readonly router: Router;
  readonly permissions: PermissionCache;
  readonly service: AccessService;
}

export interface AccessComponentDependencies {
  readonly db: Database;
  readonly redis: Redis;
  /** The same instance the app serves at /metrics. */
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The auth component's guard. */
  readonly authenticate: RequestHandler;
  /** Records role and permission changes inside their transaction; without it nothing is audited. */
  readonly audit?: AccessAuditLog | undefined;
  /** Tests tighten these; production uses the defaults (75 ms, 100 lookups below 70%, one warning a minute). */
  readonly redisTimeoutMs?: number;
  readonly hitRate?: Partial<HitRatePolicy>;
  /** A cache made beforehand, to share with the auth component's account check; otherwise one is made here. */
  readonly permissions?: PermissionCache | undefined;
  /** Sign-in protection's per-address failures, which an administrator's unlock clears too. */
  readonly loginLocks?: LoginLockReleaser | undefined;
}

/** Wires role-based access control: the permission cache, the `authorize` guard and the administration routes. */
export function createAccessComponent(deps: AccessComponentDependencies): AccessComponent {
  const permissions =
    deps.permissions ??
    new PermissionCache({
      db: deps.db,
      redis: deps.redis,
      metrics: deps.metrics,
      logger: deps.logger,
      ...(deps.redisTimeoutMs === undefined ? {} : { redisTimeoutMs: deps.redisTimeoutMs }),
      ...(deps.hitRate === undefined ? {} : { hitRate: deps.hitRate }),
    });
  const authorize = createAuthorize(permissions, deps.logger);
  const service = new AccessService({
    db: deps.db,
    cache: permissions,
    audit: deps.audit,
    loginLocks: deps.loginLocks,
  });
  const router = accessRouter({ service, authenticate: deps.authenticate, authorize });
  return { authorize, holds: createHolds(permissions, deps.logger), router, permissions, service };
}
