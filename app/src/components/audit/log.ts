import { isIP } from 'node:net';

import type { Database, Queryable } from '../../db/pool.js';
import { withTransaction } from '../../db/transaction.js';
import { AppError, InternalError, TransactionConflictError } from '../../errors.js';
import { AUDIT_CHAIN_LOCK_KEY, auditRowHash } from './chain.js';
import type { AuditRowContent } from './chain.js';
import { isAuditEventType } from './events.js';
import type { AuditEvent, AuditJson } from './events.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// NUL, and UTF-16 halves without their pair: text and jsonb refuse both.
// eslint-disable-next-line no-control-regex -- matching NUL is the point
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** Longer values are cut: a client chooses its user agent, and the log must not grow by its whim. */
export const AUDIT_TEXT_MAX = 1000;

function isDatabase(q: Queryable): q is Database {
  return typeof (q as Partial<Database>).withConnection === 'function';
}

/** Text PostgreSQL can store: no NUL, no lone surrogate, at most {@link AUDIT_TEXT_MAX} characters. */
function storableText(value: string, max = AUDIT_TEXT_MAX): string {
  // Cut first, then clean: a cut can split a surrogate pair.
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return cut.replace(UNSTORABLE, '\uFFFD');
}

/** A JSON value as jsonb will give it back: plain data only, NUL-free, well-formed strings. */
function storableJson(value: AuditJson | undefined): AuditJson | null {
  if (value === undefined) return null;
  const plain = JSON.parse(JSON.stringify(value)) as AuditJson;
  const walk = (node: AuditJson): AuditJson => {
    if (typeof node === 'string') return storableText(node, Number.MAX_SAFE_INTEGER);
    if (Array.isArray(node)) return node.map(walk);
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([key, child]) => [storableText(key), walk(child)]));
    }
    return node;
  };
  return walk(plain);
}

/** The event's fields checked and cut to what the table stores; throws on a programming mistake. */
function normalise(event: AuditEvent) {
  if (!isAuditEventType(event.type)) {
    throw new TypeError(
      `audit event type ${JSON.stringify(event.type)} is invalid: use a dotted lower-case name such as 'auth.login.failed'`,
    );
  }
  if (event.actorUserId !== undefined && !UUID.test(event.actorUserId)) {
    throw new TypeError(
      `audit actorUserId ${JSON.stringify(event.actorUserId)} is not a UUID; pass the user's id, or omit it for anonymous callers`,
    );
  }
  const metadata: Record<string, AuditJson> = { ...(storableJson(event.metadata ?? {}) as Record<string, AuditJson>) };
  let ip: string | null = null;
  if (event.ip !== undefined) {
    if (isIP(event.ip) === 0) metadata.ip_raw = storableText(event.ip, 100);
    else ip = event.ip;
  }
  return {
    actor_user_id: event.actorUserId?.toLowerCase() ?? null,
    event_type: event.type,
    resource_type: event.resourceType === undefined ? null : storableText(event.resourceType, 100),
    resource_id: event.resourceId === undefined ? null : storableText(event.resourceId, 200),
    ip,
    user_agent: event.userAgent === undefined ? null : storableText(event.userAgent),
    before: storableJson(event.before),
    after: storableJson(event.after),
    metadata,
  };
}

/** The append-only, hash-chained audit log (`audit_logs`). */
export class AuditLog {
  /**
   * Appends `event` to the log inside the caller's transaction `q`, so the record commits or rolls back with the
   * change it describes. Given the Database itself, it runs in a transaction of its own.
   *
   * Appends are serialised by a transaction-scoped advisory lock held until `q` commits: keep the transaction
   * short after recording. `q` must be READ COMMITTED (the default): a REPEATABLE READ or SERIALIZABLE snapshot is
   * taken before the lock is granted and could miss the row appended just before, forking the chain.
   * @throws {TypeError} when the event type or actor id is malformed, or `q` is not READ COMMITTED (caller bugs).
   * @throws {AppError} a classified database error; the caller's transaction then fails with it. A refused write
   * (constraint, privilege) is never the client's fault, so it surfaces as {@link InternalError} (500), not 4xx.
   */
  async record(q: Queryable, event: AuditEvent): Promise<void> {
    const row = normalise(event);
    if (isDatabase(q)) {
      await withTransaction(q, (tx) => this.#append(tx, row), { name: 'audit.record' });
      return;
    }
    await this.#append(q, row);
  }

  async #append(q: Queryable, row: ReturnType<typeof normalise>): Promise<void> {
    try {
      await this.#appendRow(q, row);
    } catch (error) {
      // Conflicts stay as they are: withTransaction retries them.
      if (error instanceof AppError && error.status < 500 && !(error instanceof TransactionConflictError)) {
        throw new InternalError({ cause: error });
      }
      throw error;
    }
  }

  async #appendRow(q: Queryable, row: ReturnType<typeof normalise>): Promise<void> {
    await q.query('audit.lockChain', 'SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK_KEY]);
    // The stored text forms of the timestamp and address, from the server, so the hash covers what it will keep.
    const head = await q.query<{ isolation: string; occurred_at: string; ip: string | null; prev_hash: string | null }>(
      'audit.chainHead',
      `SELECT current_setting('transaction_isolation') AS isolation,
              to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
              host($1::inet) AS ip,
              (SELECT hash FROM audit_logs ORDER BY id DESC LIMIT 1) AS prev_hash`,
      [row.ip],
    );
    const { isolation, occurred_at, ip, prev_hash } = head.rows[0] ?? {
      isolation: '',
      occurred_at: '',
      ip: null,
      prev_hash: null,
    };
    if (isolation !== 'read committed') {
      throw new TypeError(
        `audit events must be recorded in a READ COMMITTED transaction, not ${isolation}: a snapshot taken before the chain lock can fork the chain; record it in a separate READ COMMITTED transaction`,
      );
    }
    const content: AuditRowContent = { ...row, occurred_at, ip, prev_hash };
    await q.query(
      'audit.append',
      `INSERT INTO audit_logs (occurred_at, actor_user_id, event_type, resource_type, resource_id, ip, user_agent,
                               before, after, metadata, prev_hash, hash)
       VALUES ($1::timestamptz, $2::uuid, $3, $4, $5, $6::inet, $7, $8::jsonb, $9::jsonb, $10::jsonb, $11, $12)`,
      [
        content.occurred_at,
        content.actor_user_id,
        content.event_type,
        content.resource_type,
        content.resource_id,
        content.ip,
        content.user_agent,
        content.before === null ? null : JSON.stringify(content.before),
        content.after === null ? null : JSON.stringify(content.after),
        JSON.stringify(content.metadata),
        content.prev_hash,
        auditRowHash(content),
      ],
    );
  }
}
