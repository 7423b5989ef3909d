import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitUntil } from '@slipway/pipelines/testing/wait';
import type { QueryEvent } from '../src/db/pool.js';
import { DATABASE_DEFAULTS } from '../src/db/pool.js';
import { currentQueryScope, newQueryScope, runInQueryScope } from '../src/db/query-scope.js';
import { createLogger } from '../src/logger.js';
import { CapturedLogs } from './support/logs.js';
import { testDb } from './support/db.js';
import { testServices } from './support/services.js';

// The pool's own behaviour needs no schema: the shared test database will do.
const url = testServices().postgres.url;
const opened: { end(): Promise<void> }[] = [];

function open(settings: Parameters<typeof testDb>[1] = {}): ReturnType<typeof testDb> {
  const handle = testDb(url, settings);
  opened.push(handle.db);
  return handle;
}

afterAll(async () => {
  await Promise.all(opened.map((db) => db.end()));
});

describe('connection settings', () => {
  let settings: Record<string, string>;
  beforeAll(async () => {
    const { db } = open();
    const { rows } = await db.query<{ name: string; setting: string }>(
      'test.settings',
      `SELECT name, setting FROM pg_settings
        WHERE name IN ('statement_timeout', 'application_name', 'idle_in_transaction_session_timeout')`,
    );
    settings = Object.fromEntries(rows.map((row) => [row.name, row.setting]));
  });

  it('sets a 10 s statement timeout, an application_name and an idle-in-transaction timeout', () => {
    expect(DATABASE_DEFAULTS.statementTimeoutMs).toBe(10_000);
    expect(settings).toEqual({
      statement_timeout: '10000',
      application_name: 'erp-api',
      idle_in_transaction_session_timeout: '60000',
    });
  });

  it('returns bigint columns and COUNT(*) as numbers', async () => {
    const { db } = open();
    const { rows } = await db.query<{ n: unknown; big: unknown }>(
      'test.count',
      'SELECT count(*) AS n, 9007199254740991::bigint AS big',
    );
    expect(rows[0]).toEqual({ n: 1, big: Number.MAX_SAFE_INTEGER });
  });
});

describe('the query wrapper', () => {
  it('logs a slow query with operation, duration and parameter count, never the values', async () => {
    const { db, logs } = open({ slowQueryMs: 100 });
    await db.query('test.slowQuery', 'SELECT pg_sleep(0.12), $1::text AS secret, $2::int AS n', ['hunter2-value', 7]);
    await db.query('test.fastQuery', 'SELECT 1');
    const slow = logs.withMessage('slow query');
    expect(slow).toHaveLength(1);
    expect(slow[0]).toMatchObject({ level: 'warn', operation: 'test.slowQuery', paramCount: 2, rowCount: 1 });
    expect(slow[0]?.durationMs).toBeGreaterThanOrEqual(100);
    expect(logs.raw.join('')).not.toContain('hunter2-value');
  });

  it('logs every query when SLOW_QUERY_MS is 0', async () => {
    const { db, logs } = open({ slowQueryMs: 0 });
    await db.query('test.one', 'SELECT 1');
    expect(logs.withMessage('slow query')).toEqual([expect.objectContaining({ operation: 'test.one', paramCount: 0 })]);
  });

  it('reports each query to the onQuery listeners, and stops after unsubscribe', async () => {
    const { db } = open();
    const events: QueryEvent[] = [];
    const unsubscribe = db.onQuery((event) => events.push(event));
    await db.query('test.ok', 'SELECT 1');
    await db.query('test.bad', 'SELECT * FROM no_such_table').catch(() => undefined);
    unsubscribe();
    await db.query('test.after', 'SELECT 1');
    expect(events.map(({ operation, ok, sqlState }) => ({ operation, ok, sqlState }))).toEqual([
      { operation: 'test.ok', ok: true, sqlState: undefined },
      { operation: 'test.bad', ok: false, sqlState: '42P01' },
    ]);
    expect(events[0]?.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('survives a listener that throws and logs it', async () => {
    const { db, logs } = open();
    db.onQuery(() => {
      throw new Error('metrics broke');
    });
    await expect(db.query('test.ok', 'SELECT 1 AS one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
    expect(logs.withMessage('query listener threw; ignored')).toHaveLength(1);
  });

  it.each(['', 'select', 'users', 'Users.find', 'users.find by email', 'users.${id}'])(
    'refuses the operation label %j before touching the database',
    async (label) => {
      const { db } = open();
      await expect(db.query(label, 'SELECT 1')).rejects.toThrow(
        /operation label .* is invalid: use a fixed 'area.action' name/,
      );
    },
  );
});

describe('pool stats and exhaustion', () => {
  it('exposes total, idle and waiting connections', async () => {
    const { db } = open({ maxConnections: 2 });
    expect(db.stats()).toEqual({ total: 0, idle: 0, waiting: 0, max: 2 });
    await db.query('test.one', 'SELECT 1');
    expect(db.stats()).toMatchObject({ total: 1, idle: 1, waiting: 0 });
  });

  it('warns once when a query has to wait for a connection, with the pool stats', async () => {
    const { db, logs } = open({ maxConnections: 1 });
    let waitingSeen = 0;
    const first = db.query('test.hold', 'SELECT pg_sleep(0.2)');
    await waitUntil('the first query to hold the only connection', () => {
      const { total, idle } = db.stats();
      return total === 1 && idle === 0;
    });
    const queued = [db.query('test.queued', 'SELECT 1'), db.query('test.queued', 'SELECT 1')];
    waitingSeen = db.stats().waiting;
    await Promise.all([first, ...queued]);
    expect(waitingSeen).toBe(2);
    const warnings = logs.withMessage(
      'postgres pool exhausted; queries wait for a free connection (raise the pool size or find slow queries)',
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 'warn', operation: 'test.queued', total: 1, max: 1, waiting: 1 });
  });

  it('fails with ServiceUnavailableError when no connection frees up within the acquire timeout', async () => {
    const { db } = open({ maxConnections: 1, connectionTimeoutMs: 100 });
    const holding = db.query('test.hold', 'SELECT pg_sleep(0.4)');
    await waitUntil('the first query to hold the only connection', () => {
      const { total, idle } = db.stats();
      return total === 1 && idle === 0;
    });
    // a full pool is load, not an outage: the message says so (an unreachable server says "unreachable")
    await expect(db.query('test.queued', 'SELECT 1')).rejects.toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      message: 'the database is busy: no connection became free within 100 ms; retry shortly',
      retryAfterSeconds: 1,
    });
    await holding;
  });
});

describe('query scopes', () => {
  it('counts the queries run inside a scope, and only those', async () => {
    const { db } = open();
    const scope = newQueryScope();
    await runInQueryScope(scope, async () => {
      await db.query('test.one', 'SELECT 1');
      await Promise.all([db.query('test.two', 'SELECT 2'), db.query('test.three', 'SELECT 3')]);
      await db.query('test.bad', 'SELECT * FROM no_such_table').catch(() => undefined);
    });
    await db.query('test.outside', 'SELECT 1');
    expect(scope.queryCount).toBe(4);
    expect(currentQueryScope()).toBeUndefined();
  });

  it("writes slow-query lines through the scope's logger, so they carry the request id", async () => {
    const { db } = open({ slowQueryMs: 0 });
    const logs = new CapturedLogs();
    const log = createLogger({ logLevel: 'info', appEnv: 'dev' }, logs).child({ requestId: 'req-77' });
    await runInQueryScope(newQueryScope(log), () => db.query('test.one', 'SELECT 1'));
    expect(logs.withMessage('slow query')).toEqual([
      expect.objectContaining({ requestId: 'req-77', operation: 'test.one' }),
    ]);
  });
});

describe('withConnection', () => {
  it('runs work on one connection and returns it to the pool', async () => {
    const { db } = open({ maxConnections: 1 });
    const pids = await db.withConnection(async (connection) => {
      const first = await connection.query<{ pid: number }>('test.pid', 'SELECT pg_backend_pid() AS pid');
      const second = await connection.query<{ pid: number }>('test.pid', 'SELECT pg_backend_pid() AS pid');
      return [first.rows[0]?.pid, second.rows[0]?.pid, connection.processId];
    });
    expect(new Set(pids).size).toBe(1);
    expect(db.stats()).toMatchObject({ total: 1, idle: 1 });
  });

  it('closes a discarded connection instead of reusing it', async () => {
    const { db } = open({ maxConnections: 1 });
    const before = await db.withConnection((connection) => {
      connection.discard();
      return Promise.resolve(connection.processId);
    });
    const after = await db.withConnection((connection) => Promise.resolve(connection.processId));
    expect(after).not.toBe(before);
  });

  it('keeps the connection after an ordinary SQL error', async () => {
    const { db } = open({ maxConnections: 1 });
    const before = await db
      .withConnection(async (connection) => {
        await connection.query('test.bad', 'SELECT * FROM no_such_table');
      })
      .catch(() => undefined);
    expect(before).toBeUndefined();
    expect(db.stats()).toMatchObject({ total: 1, idle: 1 });
  });
});
