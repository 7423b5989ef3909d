import { z } from 'zod';

import { defineSort, listQuerySchema } from '../../http/pagination.js';
import { AUDIT_EVENT_TYPE_MAX_LENGTH, isAuditEventType } from './events.js';

export const auditSort = defineSort(
  // Qualified: the listing's SELECT renders occurred_at and id as text under their own names.
  { occurred_at: 'a.occurred_at', id: 'a.id' },
  { default: [{ field: 'id', direction: 'desc' }], tiebreaker: 'a.id' },
);
export type AuditSortField = (typeof auditSort.fields)[number];

// Kept as text: PostgreSQL reads microseconds (as the rows carry them), a Date would cut them to milliseconds.
const timestamp = (name: string) =>
  z.iso.datetime({
    offset: true,
    error: `${name} must be an ISO 8601 timestamp with a time zone, e.g. 2026-05-01T00:00:00Z`,
  });

const label = (name: string, max: number) =>
  z
    .string()
    .min(1, { error: `${name} must not be empty; leave it out to match any` })
    .max(max, { error: `${name} must be at most ${max} characters` });

/** `GET /api/v1/audit-logs` query: pagination, sort (occurred_at, id) and the filters, all optional. */
export const listAuditLogsQuery = listQuerySchema(auditSort, {
  user_id: z.uuid({ error: 'user_id must be a user id (a UUID)' }).optional(),
  event_type: z
    .string()
    .max(AUDIT_EVENT_TYPE_MAX_LENGTH, { error: `event_type must be at most ${AUDIT_EVENT_TYPE_MAX_LENGTH} characters` })
    .refine(isAuditEventType, { error: 'event_type must be a dotted event name such as auth.login.failed' })
    .optional(),
  resource_type: label('resource_type', 100).optional(),
  resource_id: label('resource_id', 200).optional(),
  from: timestamp('from').optional(),
  to: timestamp('to').optional(),
}).superRefine((query, context) => {
  if (query.from !== undefined && query.to !== undefined && Date.parse(query.from) > Date.parse(query.to)) {
    context.addIssue({
      code: 'custom',
      path: ['to'],
      message: `to (${query.to}) is before from (${query.from}); swap them`,
    });
  }
});
export type AuditLogListQuery = z.output<typeof listAuditLogsQuery>;
