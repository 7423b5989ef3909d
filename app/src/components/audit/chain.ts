import { createHash } from 'node:crypto';

import canonicalize from 'canonicalize';

import type { AuditJson } from './events.js';

/**
 * The fields of an `audit_logs` row that its hash covers, in the text form PostgreSQL returns them (see
 * {@link AUDIT_ROW_COLUMNS}): the writer hashes exactly what the database will give back to the verifier.
 * `id` is not covered (it is assigned on insert); the order of rows is fixed by each row's `prev_hash` instead.
 */
export interface AuditRowContent {
  /** UTC, microseconds: `2026-05-01T12:00:00.123456Z`. */
  readonly occurred_at: string;
  readonly actor_user_id: string | null;
  readonly event_type: string;
  readonly resource_type: string | null;
  readonly resource_id: string | null;
  /** `host(ip)`, e.g. `203.0.113.7` or `2001:db8::1`. */
  readonly ip: string | null;
  readonly user_agent: string | null;
  readonly before: AuditJson | null;
  readonly after: AuditJson | null;
  readonly metadata: AuditJson;
  /** The previous row's hash; null only for the first row of the log. */
  readonly prev_hash: string | null;
}

/** A fixed key for `pg_advisory_xact_lock`: every append takes it, so the chain has one head ("audit" in ASCII). */
export const AUDIT_CHAIN_LOCK_KEY = 0x6175_6469_74;

/** `occurred_at` as a deterministic UTC text with microseconds, whatever the session's TimeZone is. */
export const OCCURRED_AT_TEXT = `to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** The SELECT list that reads a row in the form its hash was computed over. */
export const AUDIT_ROW_COLUMNS = `id::text AS id, ${OCCURRED_AT_TEXT} AS occurred_at, actor_user_id::text AS actor_user_id,
  event_type, resource_type, resource_id, host(ip) AS ip, user_agent, before, after, metadata, prev_hash, hash`;

/**
 * The hash of one row: SHA-256, lower-case hex, over the RFC 8785 canonical JSON of its content fields and the
 * previous row's hash. Changing what goes in here invalidates every existing chain: don't.
 */
export function auditRowHash(content: AuditRowContent): string {
  const canonical = canonicalize(content);
  if (canonical === undefined) throw new TypeError('audit row content has no JSON form');
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}
