import type { Router } from 'express';

import { createAccessComponent, PermissionCache, type AccessComponent } from './access/index.js';
import { createAuditComponent } from './audit/index.js';
import { AuditLog } from './audit/log.js';
import { createAuthComponent, type AuthComponent, type AuthComponentDependencies } from './auth/index.js';
import { ProductCache } from './catalog/products/cache.js';
import { createCatalogRouter } from './catalog/routes.js';
import { createInvoiceRouter } from './invoices/routes.js';
import { JobQueues } from './jobs/queues.js';
import type { JobQueuesConfig } from './jobs/queues.js';
import { createJobsRouter } from './jobs/routes.js';

export type ComponentDependencies = Omit<AuthComponentDependencies, 'config'> & {
  readonly config: AuthComponentDependencies['config'] & JobQueuesConfig;
  /** The API side of the background queues; one of its own (connecting on first use) when absent. */
  readonly jobs?: JobQueues;
};

export interface Components {
  readonly auth: AuthComponent;
  readonly access: AccessComponent;
  readonly jobs: JobQueues;
  /** Every business router, in mount order. */
  readonly routers: readonly Router[];
}

/** The one place that wires the business components together: the server and the end-to-end tests use it. */
export function createComponents(deps: ComponentDependencies): Components {
  // One permission cache for both: authentication reads the account's active flag from it with the revocation check.
  const permissions = new PermissionCache({
    db: deps.db,
    redis: deps.redis,
    metrics: deps.metrics,
    logger: deps.logger,
  });
  const auth = createAuthComponent({ ...deps, accounts: permissions });
  // The audit log is stateless (its chain lives in the database), so access records into an instance of its own.
  const access = createAccessComponent({
    ...deps,
    authenticate: auth.authenticate,
    audit: deps.audit ?? new AuditLog(),
    permissions,
    loginLocks: auth.loginLimits,
  });
  const catalog = createCatalogRouter({
    db: deps.db,
    authenticate: auth.authenticate,
    authorize: access.authorize,
    holds: access.holds,
    productCache: new ProductCache({ redis: deps.redis, metrics: deps.metrics, logger: deps.logger }),
  });
  const audit = createAuditComponent({ ...deps, authenticate: auth.authenticate, authorize: access.authorize });
  const jobs = deps.jobs ?? new JobQueues(deps.config);
  const invoices = createInvoiceRouter({
    db: deps.db,
    jobs,
    authenticate: auth.authenticate,
    authorize: access.authorize,
    holds: access.holds,
  });
  const jobsAdmin = createJobsRouter({
    db: deps.db,
    jobs,
    audit: deps.audit ?? new AuditLog(),
    authenticate: auth.authenticate,
    authorize: access.authorize,
  });
  return {
    auth,
    access,
    jobs,
    routers: [auth.router, access.router, catalog, invoices, jobsAdmin, audit.router],
  };
}
