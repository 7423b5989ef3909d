import { Pool, TypeOverrides, types } from 'pg';
import type { PoolClient, QueryResult, QueryResultRow } from 'pg';

import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { ServiceUnavailableError } from '../errors.js';
import { classifyDatabaseError, isConnectionError, sqlState } from './errors.js';
import { currentQueryScope } from './query-scope.js';

export type { QueryResult, QueryResultRow } from 'pg';

/** Positional parameters `$1…$n`; values are sent apart from the SQL text, never interpolated. */
export type QueryParams = readonly unknown[];

/** Anything that runs a labelled, parameterised query: the pool ({@link Database}) or one connection. */
export interface Queryable {
  /**
   * Runs `sql` with `params`. `operation` names what it does (`users.findByEmail`): it labels slow-query logs
   * and per-operation metrics, so keep it a fixed string, never built from input.
   * @throws {AppError} the failure classified by {@link classifyDatabaseError}, with the pg error as cause.
   */
  query<Row extends QueryResultRow = QueryResultRow>(
    operation: string,
    sql: string,
    params?: QueryParams,
  ): Promise<QueryResult<Row>>;
}

/** One dedicated connection, as `withConnection` and transactions use it. */
export interface Connection extends Queryable {
  /** The server process id, as `pg_stat_activity.pid` shows it. */
  readonly processId: number | undefined;
  /** Asks the server to cancel the statement running on this connection now, if there is one. */
  cancelRunningQuery(): Promise<void>;
  /** Closes the connection instead of returning it to the pool, e.g. when a ROLLBACK failed. */
  discard(): void;
}

/** What every query reports to the {@link Database.onQuery} listeners once it settles. */
export interface QueryEvent {
  readonly operation: string;
  /** Time on the connection, from sending the statement to the last row; excludes waiting for a connection. */
  readonly durationMs: number;
  readonly ok: boolean;
  /** SQLSTATE of a failed query when the server answered one. */
  readonly sqlState?: string;
}

export type QueryListener = (event: QueryEvent) => void;

export interface PoolStats {
  /** Open connections, idle or in use. */
  readonly total: number;
  readonly idle: number;
  /** Callers waiting for a connection because all `max` are in use. */
  readonly waiting: number;
  readonly max: number;
}

export interface Database extends Queryable {
  /** The underlying pg pool, for health checks and tools; business code goes through `query`. */
  readonly pool: Pool;
  readonly logger: Logger;
  /**
   * Runs `work` on one connection taken from the pool and gives it back afterwards, even when `work` throws.
   * `work` must leave no transaction open (use `withTransaction` for transactions); a connection that failed at
   * the protocol level, or was discarded, is closed instead of reused.
   */
  withConnection<T>(work: (connection: Connection) => Promise<T>): Promise<T>;
  /** Adds a listener called after every query (metrics hook); returns the function that removes it. */
  onQuery(listener: QueryListener): () => void;
  stats(): PoolStats;
  /** Closes every connection; pending queries finish first. */
  end(): Promise<void>;
}

export interface DatabaseSettings {
  readonly connectionString: string;
  /** Queries slower than this are logged at warn; 0 logs every query. */
  readonly slowQueryMs: number;
  readonly applicationName: string;
  /** The server cancels any statement running longer than this (SQLSTATE 57014). */
  readonly statementTimeoutMs: number;
  /** Longest wait to open a connection or to get one from a full pool. */
  readonly connectionTimeoutMs: number;
  /** The server ends a session left idle inside a transaction this long, releasing its locks. */
  readonly idleInTransactionTimeoutMs: number;
  readonly maxConnections: number;
}

export const DATABASE_DEFAULTS = {
  applicationName: 'erp-api',
  statementTimeoutMs: 10_000,
  connectionTimeoutMs: 5_000,
  idleInTransactionTimeoutMs: 60_000,
  maxConnections: 10,
} as const satisfies Partial<DatabaseSettings>;

// One label per call site keeps metric cardinality bounded: `area.action`, letters, digits and underscores.
const LABEL_SEGMENT = /^[a-z][A-Za-z0-9_]{0,62}$/;
// The pool-exhausted warning repeats at most this often, so a saturated pool cannot flood the log.
const EXHAUSTED_WARNING_INTERVAL_MS = 1_000;

/** bigint columns (ids, sums, COUNT(*)) as JS numbers: exact up to 2^53, far above any id or amount here. */
function typeParsers(): TypeOverrides {
  const overrides = new TypeOverrides();
  overrides.setTypeParser(types.builtins.INT8, 'text', Number);
  return overrides;
}

/**
 * Whether the connection is unusable after `error`: socket-level failures (no SQLSTATE) and FATAL server
 * errors such as 57P01 (terminated by an administrator) are; ordinary SQL errors leave it fine.
 */
function breaksConnection(error: unknown): boolean {
  if (sqlState(error) === undefined) return true;
  const { severity } = error as { severity?: unknown };
  return severity === 'FATAL' || severity === 'PANIC';
}

/** Whether `label` is a valid operation label: `area.action`, such as `users.findByEmail`. */
export function isOperationLabel(label: string): boolean {
  const segments = label.split('.');
  return segments.length >= 2 && segments.every((segment) => LABEL_SEGMENT.test(segment));
}

function assertOperationLabel(operation: string): void {
  if (!isOperationLabel(operation)) {
    throw new TypeError(
      `query operation label ${JSON.stringify(operation)} is invalid: use a fixed 'area.action' name such as 'users.findByEmail'`,
    );
  }
}

/**
 * The service's database access: a pg pool with server-side timeouts and an `application_name`, and a
 * query wrapper that classifies errors, logs slow queries (operation, duration, parameter count; never values),
 * counts queries per request ({@link runInQueryScope}) and reports each query to listeners.
 */
export function createDatabase(
  settings: Partial<DatabaseSettings> & Pick<DatabaseSettings, 'connectionString' | 'slowQueryMs'>,
  logger: Logger,
): Database {
  const options: DatabaseSettings = { ...DATABASE_DEFAULTS, ...settings };
  const pool = new Pool({
    connectionString: options.connectionString,
    connectionTimeoutMillis: options.connectionTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs,
    application_name: options.applicationName,
    max: options.maxConnections,
    types: typeParsers(),
  });
  // An idle client losing its connection (e.g. a database failover) must not crash the process.
  pool.on('error', (error) => logger.error({ err: error }, 'idle postgres connection failed; the pool replaces it'));

  const listeners = new Set<QueryListener>();
  let lastExhaustedWarning = Number.NEGATIVE_INFINITY;

  const stats = (): PoolStats => ({
    total: pool.totalCount,
    idle: pool.idleCount,
    waiting: pool.waitingCount,
    max: options.maxConnections,
  });

  const emit = (event: QueryEvent): void => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        // A broken metrics hook must never fail the query it observes.
        logger.error({ err: error, operation: event.operation }, 'query listener threw; ignored');
      }
    }
  };

  const acquire = async (operation: string): Promise<{ client: PoolClient; waitMs: number }> => {
    const started = performance.now();
    const saturated = pool.idleCount === 0 && pool.totalCount >= options.maxConnections;
    if (saturated) {
      const now = Date.now();
      if (now - lastExhaustedWarning >= EXHAUSTED_WARNING_INTERVAL_MS) {
        lastExhaustedWarning = now;
        (currentQueryScope()?.log ?? logger).warn(
          { operation, ...stats(), waiting: pool.waitingCount + 1 },
          'postgres pool exhausted; queries wait for a free connection (raise the pool size or find slow queries)',
        );
      }
    }
    try {
      const client = await pool.connect();
      return { client, waitMs: Math.round(performance.now() - started) };
    } catch (error) {
      emit({ operation, durationMs: 0, ok: false });
      // pg-pool says "timeout exceeded when trying to connect" for a full pool too: that is load, not an outage
      if (saturated && isConnectionError(error)) {
        throw new ServiceUnavailableError(
          `the database is busy: no connection became free within ${options.connectionTimeoutMs} ms; retry shortly`,
          { cause: error, retryAfterSeconds: 1 },
        );
      }
      throw classifyDatabaseError(error, { operation });
    }
  };

  const run = async <Row extends QueryResultRow>(
    client: PoolClient,
    operation: string,
    sql: string,
    params: QueryParams,
    waitMs: number,
    onBroken: () => void,
  ): Promise<QueryResult<Row>> => {
    const scope = currentQueryScope();
    if (scope !== undefined) scope.queryCount += 1;
    const started = performance.now();
    const elapsed = (): number => Math.round((performance.now() - started) * 10) / 10;
    try {
      const result = await client.query<Row>(sql, params as unknown[]);
      const durationMs = elapsed();
      emit({ operation, durationMs, ok: true });
      if (durationMs >= options.slowQueryMs) {
        (scope?.log ?? logger).warn(
          { operation, durationMs, waitMs, paramCount: params.length, rowCount: result.rowCount },
          'slow query',
        );
      }
      return result;
    } catch (error) {
      const state = sqlState(error);
      if (breaksConnection(error)) onBroken();
      emit({ operation, durationMs: elapsed(), ok: false, ...(state === undefined ? {} : { sqlState: state }) });
      throw classifyDatabaseError(error, { operation, sql });
    }
  };

  /**
   * Takes a connection for `use` and gives it back, closing it instead if it broke. pg-pool listens for errors
   * only on idle clients; while one is checked out an unexpected disconnect would otherwise be an uncaught error.
   */
  const checkout = async <T>(
    operation: string,
    use: (client: PoolClient, waitMs: number, onBroken: () => void) => Promise<T>,
  ): Promise<T> => {
    const { client, waitMs } = await acquire(operation);
    let broken = false;
    const onBroken = (): void => {
      broken = true;
    };
    const onError = (error: Error): void => {
      broken = true;
      logger.warn({ err: error, operation }, 'postgres connection failed while in use; it will be closed');
    };
    client.on('error', onError);
    try {
      return await use(client, waitMs, onBroken);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  };

  const connectionFor = (client: PoolClient, waitMs: number, onBroken: () => void): Connection => {
    let inFlight = 0;
    return {
      get processId() {
        return (client as PoolClient & { processID?: number }).processID;
      },
      query: async <Row extends QueryResultRow>(operation: string, sql: string, params: QueryParams = []) => {
        assertOperationLabel(operation);
        inFlight += 1;
        try {
          return await run<Row>(client, operation, sql, params, waitMs, onBroken);
        } finally {
          inFlight -= 1;
        }
      },
      cancelRunningQuery: async () => {
        const pid = (client as PoolClient & { processID?: number }).processID;
        if (inFlight === 0 || pid === undefined) return;
        // A separate connection asks the server to cancel; pg_cancel_backend is allowed on one's own sessions.
        await pool.query('SELECT pg_cancel_backend($1)', [pid]).catch((error: unknown) => {
          logger.warn({ err: error, pid }, 'could not cancel a running query; it ends at the statement timeout');
        });
      },
      discard: onBroken,
    };
  };

  const database: Database = {
    pool,
    logger,
    query: async <Row extends QueryResultRow>(operation: string, sql: string, params: QueryParams = []) => {
      assertOperationLabel(operation);
      return checkout(operation, (client, waitMs, onBroken) =>
        run<Row>(client, operation, sql, params, waitMs, onBroken),
      );
    },
    withConnection: async <T>(work: (connection: Connection) => Promise<T>): Promise<T> => {
      return checkout('pool.connection', (client, waitMs, onBroken) => work(connectionFor(client, waitMs, onBroken)));
    },
    onQuery: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stats,
    end: () => pool.end(),
  };
  return database;
}

/** The database settings the service's config provides. */
export function databaseSettings(
  config: Pick<Config, 'databaseUrl' | 'slowQueryMs'>,
): Pick<DatabaseSettings, 'connectionString' | 'slowQueryMs'> {
  return { connectionString: config.databaseUrl, slowQueryMs: config.slowQueryMs };
}
