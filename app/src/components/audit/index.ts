import type { RequestHandler, Router } from 'express';

import type { Database } from '../../db/pool.js';
import { ForbiddenError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Authorize } from '../access/guard.js';
import { AuditLog } from './log.js';
import { createAuditRouter } from './routes.js';

export { AUDIT_EVENT } from './events.js';
export type { AuditEvent, AuditJson, KnownAuditEventType } from './events.js';
export { AuditLog } from './log.js';
export { verifyAuditChain } from './verify.js';
export type { AuditChainVerification, VerifyAuditChainOptions } from './verify.js';

export interface AuditComponent {
  /** Appends events; pass the caller's transaction so the record commits with the change it describes. */
  readonly log: AuditLog;
  /** Mount at the root (its path is /api/v1/audit-logs). */
  readonly router: Router;
}

export interface AuditComponentDependencies {
  readonly db: Database;
  readonly logger: Logger;
  /** Sets the caller's user id on the request context, or fails the request with 401. */
  readonly authenticate: RequestHandler;
  /**
   * The access component's permission guard (`authorize('audit:read')`). Without it the listing refuses every
   * caller with 403: the audit log is never open by omission.
   */
  readonly authorize?: Authorize | undefined;
}

/** Wires the audit component: the append-only log other components record into, and its admin listing. */
export function createAuditComponent({
  db,
  logger,
  authenticate,
  authorize,
}: AuditComponentDependencies): AuditComponent {
  const log = new AuditLog();
  const refuse: RequestHandler = (_req, _res, next) => {
    logger.error('audit listing refused: no authorize guard was wired into the audit component');
    next(new ForbiddenError('reading the audit log needs the audit:read permission'));
  };
  return { log, router: createAuditRouter({ db, log, authenticate, authorize: authorize ?? (() => refuse) }) };
}
