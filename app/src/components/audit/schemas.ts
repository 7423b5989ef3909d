import { z } from 'zod';

import { defineSort, listQuerySchema } from '../../http/pagination.js';
import { AUDIT_EVENT_TYPE_MAX_LENGTH, AUDIT_EVENT_TYPE_PATTERN } from './events.js';

export const auditSort = defineSort(
  // Qualified: the listing's SELECT renders occurred_at and id as text under their own names.
  { occurred_at: 'a.occurred_at', id: 'a.id' },
  { default: [{ field: 'id', direction: 'desc' }], tiebreaker: 'a.id' },
);
export type AuditSortField = (typeof auditSort.fields)[number];

// Kept as text: PostgreSQL reads microseconds (as the rows carry them), a Date would cut them to milliseconds.
// The document states zod's own pattern: `format: date-time` alone allows forms it refuses (a lower-case t, :60).
const TIMESTAMP_PATTERN = z.regexes.datetime({ offset: true, precision: null, local: false });
const timestamp = (name: string) =>
  z.iso
    .datetime({
      offset: true,
      error: `${name} must be an ISO 8601 timestamp with a time zone, e.g. 2026-05-01T00:00:00Z`,
    })
    .meta({ pattern: TIMESTAMP_PATTERN.source });

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
    .regex(AUDIT_EVENT_TYPE_PATTERN, { error: 'event_type must be a dotted event name such as auth.login.failed' })
    .optional(),
  resource_type: label('resource_type', 100).optional(),
  resource_id: label('resource_id', 200).optional(),
  // A from after to is a range that holds nothing: an empty page, not an error the document could not state.
  from: timestamp('from').optional(),
  to: timestamp('to').optional(),
});
export type AuditLogListQuery = z.output<typeof listAuditLogsQuery>;
