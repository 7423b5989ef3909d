import type { Queryable } from '../../db/pool.js';
import { AUDIT_ROW_COLUMNS, auditRowHash } from './chain.js';
import type { AuditRow } from './repository.js';

// ORDER BY audit_logs.id: a bare `id` would sort by the text alias of the SELECT list.
/** Rows read per query: the verifier holds one batch in memory, never the whole log. */
export const VERIFY_BATCH_SIZE = 1000;

export interface VerifyAuditChainOptions {
  /** Called after each batch with the rows checked so far and the last id checked. */
  readonly onProgress?: (progress: { readonly checked: number; readonly lastId: string }) => void;
  readonly batchSize?: number;
  /** A checkpoint the chain must still contain: the row `seq` with exactly `hash`, and no fewer rows up to it. */
  readonly checkpoint?: { readonly seq: string; readonly hash: string | null; readonly rows: number };
}

/** What {@link verifyAuditChain} found. */
export interface AuditChainVerification {
  /** Rows checked, up to and including the first broken one. */
  readonly checked: number;
  /** The id of the first row whose hash or link does not hold; absent when the chain is intact. */
  readonly firstBrokenId?: string;
  /** One line a person can act on: why the chain is intact, or what is wrong with `firstBrokenId`. */
  readonly reason: string;
  /** The newest row checked (id and hash) when the chain is intact; absent for an empty log. */
  readonly lastId?: string;
  readonly lastHash?: string;
  /**
   * Set when the chain itself holds but no longer contains the checkpoint given in the options: the rows from
   * `seq` back were removed, or rewritten with every later hash recomputed.
   */
  readonly checkpointFailure?: string;
}

/**
 * Walks `audit_logs` in id order, in batches, recomputing each row's hash and checking that its `prev_hash` is the
 * hash of the row before it (null for the first). An edited row fails its hash; a removed or re-linked row breaks
 * the link of the row after it. Removing rows from the end, or rewriting rows and recomputing every later hash, leaves
 * no trace in the chain itself: pass the last checkpoint (kept outside the database) to catch both.
 */
export async function verifyAuditChain(
  db: Queryable,
  options: VerifyAuditChainOptions = {},
): Promise<AuditChainVerification> {
  const batchSize = options.batchSize ?? VERIFY_BATCH_SIZE;
  let checked = 0;
  let lastId = '0';
  let previousHash: string | null = null;
  const checkpoint = options.checkpoint;
  // A checkpoint of an empty log (seq 0) holds for every chain.
  const checkpointSeq = checkpoint === undefined || checkpoint.seq === '0' ? undefined : BigInt(checkpoint.seq);
  let checkpointRows: number | undefined;
  let checkpointFailure: string | undefined;
  const describe = (cp: NonNullable<typeof checkpoint>) => `(seq ${cp.seq}, hash ${String(cp.hash)}, ${cp.rows} rows)`;
  for (;;) {
    const { rows } = await db.query<AuditRow>(
      'audit.verifyBatch',
      `SELECT ${AUDIT_ROW_COLUMNS} FROM audit_logs WHERE audit_logs.id > $1::bigint ORDER BY audit_logs.id LIMIT $2`,
      [lastId, batchSize],
    );
    for (const { id, hash, ...content } of rows) {
      checked += 1;
      if (content.prev_hash !== previousHash) {
        const expected = previousHash ?? 'null (the first row)';
        return {
          checked,
          firstBrokenId: id,
          reason: `row ${id}: prev_hash ${String(content.prev_hash)} does not match the previous row's hash ${expected}; a row before it was removed, or its prev_hash was edited`,
        };
      }
      const recomputed = auditRowHash(content);
      // eslint-disable-next-line security/detect-possible-timing-attacks -- public hashes, nothing secret to leak
      if (recomputed !== hash) {
        return {
          checked,
          firstBrokenId: id,
          reason: `row ${id}: stored hash ${hash} does not match its content (recomputed ${recomputed}); the row was edited after it was written`,
        };
      }
      if (checkpoint !== undefined && checkpointSeq !== undefined && checkpointRows === undefined) {
        const seq = BigInt(id);
        if (seq === checkpointSeq) {
          checkpointRows = checked;
          // eslint-disable-next-line security/detect-possible-timing-attacks -- public hashes, nothing secret to leak
          if (hash !== checkpoint.hash) {
            checkpointFailure = `row ${id} has hash ${hash}, but the checkpoint ${describe(checkpoint)} recorded ${String(checkpoint.hash)}; the chain was rewritten up to or before it and its hashes recomputed`;
          } else if (checked < checkpoint.rows) {
            checkpointFailure = `the chain holds ${checked} rows up to row ${id}, fewer than the ${checkpoint.rows} of the checkpoint ${describe(checkpoint)}; rows before it were removed`;
          }
        } else if (seq > checkpointSeq) {
          checkpointRows = checked;
          checkpointFailure = `row ${checkpoint.seq} of the checkpoint ${describe(checkpoint)} is missing (the chain goes from row ${lastId} to row ${id}); it was removed and the chain re-linked`;
        }
      }
      previousHash = hash;
      lastId = id;
    }
    if (rows.length > 0) options.onProgress?.({ checked, lastId });
    if (rows.length < batchSize) break;
  }
  if (checkpoint !== undefined && checkpointSeq !== undefined && checkpointRows === undefined) {
    checkpointFailure = `the chain ends at row ${lastId} after ${checked} rows, before the checkpoint ${describe(checkpoint)}; its newest rows were removed`;
  }
  const last = previousHash === null ? {} : { lastId, lastHash: previousHash };
  if (checkpointFailure !== undefined) {
    return { checked, ...last, checkpointFailure, reason: `checkpoint not in the chain: ${checkpointFailure}` };
  }
  const intact =
    checked === 0
      ? 'the audit log is empty'
      : `all ${checked} rows intact; last id ${lastId}, last hash ${String(previousHash)}`;
  return {
    checked,
    ...last,
    reason: checkpoint === undefined ? intact : `${intact}; contains the checkpoint ${describe(checkpoint)}`,
  };
}
