import type { Queryable } from '../../db/pool.js';
import { pageWindow } from '../../http/pagination.js';
import { AUDIT_ROW_COLUMNS } from './chain.js';
import type { AuditRowContent } from './chain.js';
import type { AuditLogListQuery } from './schemas.js';
import { auditSort } from './schemas.js';

/** A stored audit row as the verifier and the listing read it (timestamps and addresses in their hashed text form). */
export interface AuditRow extends AuditRowContent {
  /** bigint, as text. */
  readonly id: string;
  readonly hash: string;
}

/** One page of audit rows matching the query's filters, and how many match in all. */
export async function listAuditRows(
  q: Queryable,
  query: AuditLogListQuery,
): Promise<{ readonly rows: readonly AuditRow[]; readonly total: number }> {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const where = (sql: (placeholder: string) => string, value: unknown): void => {
    params.push(value);
    conditions.push(sql(`$${params.length}`));
  };
  if (query.user_id !== undefined) where((p) => `actor_user_id = ${p}::uuid`, query.user_id);
  if (query.event_type !== undefined) where((p) => `event_type = ${p}`, query.event_type);
  if (query.resource_type !== undefined) where((p) => `resource_type = ${p}`, query.resource_type);
  if (query.resource_id !== undefined) where((p) => `resource_id = ${p}`, query.resource_id);
  if (query.from !== undefined) where((p) => `occurred_at >= ${p}::timestamptz`, query.from);
  if (query.to !== undefined) where((p) => `occurred_at <= ${p}::timestamptz`, query.to);
  const filter = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
  const { limit, offset } = pageWindow(query);
  const orderBy = auditSort.orderBy(query.sort);
  // The count rides along with the page so an empty page still reports it; one query per listing.
  const { rows } = await q.query<Omit<AuditRow, 'id'> & { id: string | null; total: number }>(
    'audit.list',
    `WITH matching AS (SELECT * FROM audit_logs ${filter}),
          page AS (SELECT * FROM matching a ${orderBy} LIMIT $${params.length + 1} OFFSET $${params.length + 2})
     SELECT total.n AS total, ${AUDIT_ROW_COLUMNS}
     FROM (SELECT count(*) AS n FROM matching) total
     LEFT JOIN page a ON true
     ${orderBy}`,
    [...params, limit, offset],
  );
  const page: AuditRow[] = [];
  for (const row of rows) {
    // The LEFT JOIN's one all-null row when the page is empty.
    if (row.id !== null) page.push({ ...row, id: row.id });
  }
  return { rows: page, total: rows[0]?.total ?? 0 };
}
