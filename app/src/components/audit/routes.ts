import type { RequestHandler, Router } from 'express';
import { z } from 'zod';

import type { Database } from '../../db/pool.js';
import { withTransaction } from '../../db/transaction.js';
import { requestSignal } from '../../http/abort.js';
import { endpointRouter } from '../../http/endpoint.js';
import { pageResponse } from '../../http/pagination.js';
import { callerId } from '../../http/request-context.js';
import { defineEndpoint } from '../access/guard.js';
import type { Authorize } from '../access/guard.js';
import { AUDIT_EVENT } from './events.js';
import type { AuditLog } from './log.js';
import type { AuditRow } from './repository.js';
import { listAuditRows } from './repository.js';
import { listAuditLogsQuery } from './schemas.js';

export interface AuditRouterDependencies {
  readonly db: Database;
  readonly log: AuditLog;
  readonly authenticate: RequestHandler;
  /** The access component's permission guard; the listing mounts `authorize('audit:read')`. */
  readonly authorize: Authorize;
}

// The wire format is snake_case, the same names the filters use; the hashes let a reader check the chain too.
function auditRowJson(row: AuditRow) {
  return {
    id: row.id,
    occurred_at: row.occurred_at,
    actor_user_id: row.actor_user_id,
    event_type: row.event_type,
    resource_type: row.resource_type,
    resource_id: row.resource_id,
    ip: row.ip,
    user_agent: row.user_agent,
    before: row.before,
    after: row.after,
    metadata: row.metadata,
    prev_hash: row.prev_hash,
    hash: row.hash,
  };
}

// z.unknown(), not z.json(): zod-to-openapi cannot follow a recursive schema (the document would not build).
const json = z.unknown().meta({ description: 'Any JSON value, as recorded.' });
const auditRowResponse = z.strictObject({
  id: z.string().meta({ description: 'bigint, as a string; ascending in the order rows were written.' }),
  occurred_at: z.iso.datetime().meta({ description: 'UTC with microseconds, as hashed.' }),
  actor_user_id: z.uuid().nullable(),
  event_type: z.string().meta({ description: 'e.g. auth.login.failed, access.role.granted, audit.read' }),
  resource_type: z.string().nullable(),
  resource_id: z.string().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  before: json.nullable(),
  after: json.nullable(),
  metadata: z.record(z.string(), json),
  prev_hash: z.string().nullable().meta({ description: "The previous row's hash; null for the first row." }),
  hash: z.string().meta({ description: 'SHA-256 (hex) of the canonical JSON (RFC 8785) of the row and prev_hash.' }),
});

/** `GET /api/v1/audit-logs`: the audit log, filtered and paged, for holders of `audit:read`. */
export function createAuditRouter({ db, log, authenticate, authorize }: AuditRouterDependencies): Router {
  const listAuditLogs = defineEndpoint({
    method: 'get',
    path: '/api/v1/audit-logs',
    tags: ['audit'],
    access: { permission: 'audit:read' },
    summary: 'The audit log, filtered by user, event type, resource and time range, paginated',
    description: 'Each call is itself recorded as an audit.read event. `from` and `to` are inclusive; `from` ≤ `to`.',
    request: { query: listAuditLogsQuery },
    responses: {
      200: {
        description: 'One page of audit rows.',
        schema: pageResponse(auditRowResponse, 'rows'),
      },
    },
    errors: ['TRANSACTION_CONFLICT'],
    handle: async ({ query }, req, res) => {
      // Reading the log is itself logged, in the same transaction: no page leaves without its audit.read row.
      const page = await withTransaction(
        db,
        async (tx) => {
          const result = await listAuditRows(tx, query);
          await log.record(tx, {
            type: AUDIT_EVENT.auditRead,
            actorUserId: callerId(req),
            resourceType: 'audit_log',
            ip: req.ip ?? req.socket.remoteAddress,
            userAgent: req.get('User-Agent'),
            metadata: {
              filters: {
                user_id: query.user_id ?? null,
                event_type: query.event_type ?? null,
                resource_type: query.resource_type ?? null,
                resource_id: query.resource_id ?? null,
                from: query.from ?? null,
                to: query.to ?? null,
              },
              page: query.page,
              limit: query.limit,
              returned: result.rows.length,
            },
          });
          return result;
        },
        { name: 'audit.list', signal: requestSignal(req) },
      );
      res.json({ items: page.rows.map(auditRowJson), page: query.page, limit: query.limit, total: page.total });
    },
  });
  return endpointRouter([listAuditLogs], { authenticate, authorize });
}
