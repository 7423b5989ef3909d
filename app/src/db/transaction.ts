import { setTimeout as sleep } from 'node:timers/promises';

import { abortReason } from '../errors.js';
import { isRetryableTransactionError, sqlState } from './errors.js';
import { isOperationLabel } from './pool.js';
import type { Connection, Database, Queryable } from './pool.js';
import type { Logger } from '../logger.js';
import { currentQueryScope } from './query-scope.js';

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export interface TransactionOptions {
  /** What the transaction does, as an operation label (`orders.place`): it names the retry and failure logs. */
  readonly name: string;
  /** Default `read committed`, PostgreSQL's own default. */
  readonly isolation?: IsolationLevel;
  readonly readOnly?: boolean;
  /** Aborting it rolls the transaction back and cancels the statement running; see `requestSignal` for HTTP. */
  readonly signal?: AbortSignal;
  /** Retries after a deadlock or serialization failure; default {@link TRANSACTION_MAX_RETRIES}. */
  readonly maxRetries?: number;
}

/** What `work` runs its queries on: one connection inside BEGIN … COMMIT. */
export interface Transaction extends Queryable {
  /** The signal passed in the options, for work that also waits on something else. */
  readonly signal: AbortSignal | undefined;
  /** 1 on the first run, 2 on the first retry, and so on. */
  readonly attempt: number;
}

export const TRANSACTION_MAX_RETRIES = 3;
/** Retry n waits RETRY_BASE_DELAY_MS × 2^(n-1) (100, 200, 400 ms) plus up to half of that again as jitter. */
export const RETRY_BASE_DELAY_MS = 100;

const BEGIN: Readonly<Record<IsolationLevel, string>> = {
  'read committed': 'BEGIN ISOLATION LEVEL READ COMMITTED',
  'repeatable read': 'BEGIN ISOLATION LEVEL REPEATABLE READ',
  serializable: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
};

/** The error to throw if `signal` has aborted (a function: it can abort between awaits, which narrowing ignores). */
function abortedWith(signal: AbortSignal | undefined): Error | undefined {
  return signal?.aborted === true ? abortReason(signal) : undefined;
}

/** How long to wait before retry number `retry` (1-based); `random` is injectable for tests. */
export function retryDelayMs(retry: number, random: () => number = Math.random): number {
  const base = RETRY_BASE_DELAY_MS * 2 ** (retry - 1);
  return Math.round(base + random() * base * 0.5);
}

async function runOnce<T>(
  connection: Connection,
  work: (tx: Transaction) => Promise<T>,
  options: TransactionOptions,
  attempt: number,
  log: Logger,
): Promise<T> {
  const { signal } = options;
  const begin = `${BEGIN[options.isolation ?? 'read committed']}${options.readOnly === true ? ' READ ONLY' : ''}`;
  await connection.query('transaction.begin', begin);

  let committing = false;
  // Stops the statement in flight at once, instead of letting it hold its locks until the statement timeout.
  const onAbort = (): void => {
    if (!committing) void connection.cancelRunningQuery();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const tx: Transaction = {
    signal,
    attempt,
    query: (operation, sql, params) => {
      const aborted = abortedWith(signal);
      if (aborted !== undefined) return Promise.reject(aborted);
      return connection.query(operation, sql, params);
    },
  };
  try {
    const result = await work(tx);
    const aborted = abortedWith(signal);
    if (aborted !== undefined) throw aborted;
    committing = true;
    await connection.query('transaction.commit', 'COMMIT');
    return result;
  } catch (error) {
    try {
      await connection.query('transaction.rollback', 'ROLLBACK');
    } catch (rollbackError) {
      // The connection's state is unknown: close it rather than hand a half-open transaction to the next caller.
      connection.discard();
      log.warn({ err: rollbackError, transaction: options.name }, 'rollback failed; connection discarded');
    }
    // Our own cancel surfaces as 57014 from the statement; the abort is the real reason.
    throw abortedWith(signal) ?? error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Runs `work(tx)` inside BEGIN … COMMIT on one connection and returns its result. Any error, or `signal`
 * aborting, rolls back and rethrows. A deadlock (40P01) or serialization failure (40001) reruns the whole of
 * `work` up to `maxRetries` times with exponential backoff, so `work` must not have effects outside the database.
 * Transactions do not nest: call other data functions with `tx`, not `db`.
 * @throws {TransactionConflictError} when the conflicts outlast the retries; the abort reason when aborted.
 */
export async function withTransaction<T>(
  db: Database,
  work: (tx: Transaction) => Promise<T>,
  options: TransactionOptions,
): Promise<T> {
  if (!isOperationLabel(options.name)) {
    throw new TypeError(
      `transaction name ${JSON.stringify(options.name)} is invalid: use an 'area.action' label such as 'orders.place'`,
    );
  }
  const maxRetries = options.maxRetries ?? TRANSACTION_MAX_RETRIES;
  const { signal } = options;
  const log = currentQueryScope()?.log ?? db.logger;
  for (let attempt = 1; ; attempt += 1) {
    const aborted = abortedWith(signal);
    if (aborted !== undefined) throw aborted;
    try {
      return await db.withConnection((connection) => runOnce(connection, work, options, attempt, log));
    } catch (error) {
      if (!isRetryableTransactionError(error) || attempt > maxRetries || signal?.aborted) throw error;
      const delayMs = retryDelayMs(attempt);
      log.warn(
        {
          transaction: options.name,
          attempt,
          maxRetries,
          sqlState: sqlState(error instanceof Error ? error.cause : undefined),
          delayMs,
        },
        'transaction conflict (deadlock or serialization failure); retrying',
      );
      try {
        await sleep(delayMs, undefined, { signal });
      } catch (sleepError) {
        throw abortedWith(signal) ?? sleepError;
      }
    }
  }
}
