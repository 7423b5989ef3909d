import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitUntil } from '@slipway/pipelines/testing/wait';
import { classifyDatabaseError, isRetryableTransactionError, sqlState } from '../src/db/errors.js';
import type { Database } from '../src/db/pool.js';
import { withTransaction } from '../src/db/transaction.js';
import {
  AppError,
  ConflictError,
  InternalError,
  ServiceUnavailableError,
  TransactionConflictError,
  ValidationError,
} from '../src/errors.js';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { testDb, unique } from './support/db.js';
import { freePort } from './support/net.js';

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await createMigratedDatabase();
  db = testDb(database.url).db;
});

afterAll(async () => {
  await db.end();
  await database.drop();
});

/** The error `work` rejects with (fails the test if it resolves). */
async function failure(work: Promise<unknown>): Promise<AppError> {
  try {
    await work;
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected the query to fail');
}

async function insertUser(email = `${unique('u')}@example.com`): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    'users.create',
    'INSERT INTO users (email, username, password_hash) VALUES ($1, $2, $3) RETURNING id',
    [email, unique('user'), 'argon2id$hash'],
  );
  return rows[0]?.id ?? '';
}

describe('constraint violations from real PostgreSQL', () => {
  it('23505 unique → ConflictError naming the column and constraint, never the value', async () => {
    const email = `${unique('dup')}@example.com`;
    await insertUser(email);
    const error = await failure(insertUser(email.toUpperCase()));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.status).toBe(409);
    expect(error.message).toBe(
      'email is already in use in users (constraint users_email_key); choose a different value',
    );
    expect(error.details).toEqual({ constraint: 'users_email_key', fields: ['email'] });
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(email.split('@')[0]);
    expect(sqlState(error.cause)).toBe('23505');
  });

  it('23505 on a plain unique constraint names the column', async () => {
    const sku = unique('SKU');
    const insert = (): Promise<unknown> =>
      db.query('products.create', 'INSERT INTO products (sku, name, price_cents) VALUES ($1, $2, $3)', [
        sku,
        'Pen',
        100,
      ]);
    await insert();
    const error = await failure(insert());
    expect(error.message).toContain('sku is already in use in products (constraint products_sku_key)');
    expect(error.message).not.toContain(sku);
  });

  it('23503 on insert → ValidationError naming the field and the missing referenced table', async () => {
    const error = await failure(
      db.query('orders.create', 'INSERT INTO orders (user_id) VALUES ($1)', ['00000000-0000-4000-8000-000000000000']),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ fields: { user_id: ['refers to a row of users that does not exist'] } });
    expect(error.message).not.toContain('00000000');
  });

  it('23503 on delete → ConflictError saying what still refers to the row', async () => {
    const userId = await insertUser();
    await db.query('orders.create', 'INSERT INTO orders (user_id) VALUES ($1)', [userId]);
    const error = await failure(db.query('users.delete', 'DELETE FROM users WHERE id = $1', [userId]));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.message).toMatch(
      /^this row is still referenced from orders \(constraint orders_user_id_fkey\); remove/,
    );
    expect(error.message).not.toContain(userId);
  });

  it('23514 check → ValidationError on the checked column', async () => {
    const error = await failure(
      db.query('products.create', 'INSERT INTO products (sku, name, price_cents) VALUES ($1, $2, $3)', [
        unique('S'),
        'Free',
        0,
      ]),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ fields: { price_cents: ['breaks the rule products_price_cents_check'] } });
    expect(error.details).toEqual({ constraint: 'products_price_cents_check' });
  });

  it('23502 not null → ValidationError saying the column is required', async () => {
    const error = await failure(
      db.query('products.create', 'INSERT INTO products (sku, name, price_cents) VALUES ($1, $2, $3)', [
        unique('S'),
        null,
        5,
      ]),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ fields: { name: ['is required'] } });
  });

  it('22P02 invalid text → ValidationError naming the type, not the value', async () => {
    const error = await failure(db.query('users.find', 'SELECT * FROM users WHERE id = $1', ['not-a-uuid-secret']));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toBe('a value is not a valid uuid; check the format');
    expect(error.message).not.toContain('not-a-uuid-secret');
  });

  it('22003 numeric out of range → ValidationError', async () => {
    const error = await failure(
      db.query('products.create', 'INSERT INTO products (sku, name, price_cents) VALUES ($1, $2, $3)', [
        unique('S'),
        'Gold',
        3_000_000_000,
      ]),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toBe('a number is out of range for type integer; send a smaller value');
    expect(error.message).not.toContain('3000000000');
  });

  it('other data exceptions (class 22) → ValidationError', async () => {
    const error = await failure(db.query('misc.badDate', 'SELECT $1::date', ['2026-02-30']));
    expect(error).toBeInstanceOf(ValidationError);
  });

  it('anything else (a bug such as a missing table) → InternalError with the pg error as cause', async () => {
    const error = await failure(db.query('misc.broken', 'SELECT * FROM no_such_table'));
    expect(error).toBeInstanceOf(InternalError);
    expect(error.message).toBe('internal error');
    expect(sqlState(error.cause)).toBe('42P01');
  });
});

describe('transaction conflicts from real PostgreSQL', () => {
  it('40P01 deadlock → retryable TransactionConflictError', async () => {
    const [a, b] = [await insertUser(), await insertUser()];
    const lockBoth = (first: string, second: string, started: () => void, go: Promise<void>) =>
      withTransaction(
        db,
        async (tx) => {
          await tx.query('users.lock', 'SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [first]);
          started();
          await go;
          await tx.query('users.lock', 'SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [second]);
        },
        { name: 'test.deadlock', maxRetries: 0 },
      );
    let release!: () => void;
    const go = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const onStarted = (): void => {
      started += 1;
      if (started === 2) release();
    };
    const results = await Promise.allSettled([lockBoth(a, b, onStarted, go), lockBoth(b, a, onStarted, go)]);
    const rejected = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    expect(rejected).toHaveLength(1);
    const reason = rejected[0]?.reason as unknown;
    expect(reason).toBeInstanceOf(TransactionConflictError);
    expect(sqlState((reason as Error).cause)).toBe('40P01');
    expect(isRetryableTransactionError(reason)).toBe(true);
  });

  it('40001 serialization failure → retryable TransactionConflictError', async () => {
    const id = await insertUser();
    let bothRead!: () => void;
    const barrier = new Promise<void>((resolve) => (bothRead = resolve));
    let reads = 0;
    const bump = () =>
      withTransaction(
        db,
        async (tx) => {
          await tx.query('users.read', 'SELECT failed_login_count FROM users WHERE id = $1', [id]);
          reads += 1;
          if (reads === 2) bothRead();
          await barrier;
          await tx.query('users.bump', 'UPDATE users SET failed_login_count = failed_login_count + 1 WHERE id = $1', [
            id,
          ]);
        },
        { name: 'test.serialization', isolation: 'serializable', maxRetries: 0 },
      );
    const results = await Promise.allSettled([bump(), bump()]);
    const rejected = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    expect(rejected).toHaveLength(1);
    const reason = rejected[0]?.reason as unknown;
    expect(reason).toBeInstanceOf(TransactionConflictError);
    expect(sqlState((reason as Error).cause)).toBe('40001');
  });
});

describe('unavailability', () => {
  it('57014 statement timeout → ServiceUnavailableError', async () => {
    const { db: slow } = testDb(database.url, { statementTimeoutMs: 50 });
    try {
      const error = await failure(slow.query('misc.sleep', 'SELECT pg_sleep(1)'));
      expect(error).toBeInstanceOf(ServiceUnavailableError);
      expect(error.status).toBe(503);
      expect(sqlState(error.cause)).toBe('57014');
      expect(error.message).toMatch(/took too long/);
    } finally {
      await slow.end();
    }
  });

  it('ECONNREFUSED → ServiceUnavailableError', async () => {
    const { db: nowhere } = testDb(`postgres://erp:pw@127.0.0.1:${await freePort()}/erp`);
    try {
      const error = await failure(nowhere.query('misc.ping', 'SELECT 1'));
      expect(error).toBeInstanceOf(ServiceUnavailableError);
      expect(error.retryAfterSeconds).toBe(5);
    } finally {
      await nowhere.end();
    }
  });

  it('a session the server terminated (57P01) → ServiceUnavailableError, and the pool drops that connection', async () => {
    const { db: victim } = testDb(database.url, { maxConnections: 1 });
    const admin = new Client({ connectionString: database.url });
    await admin.connect();
    try {
      const { rows } = await victim.query<{ pid: number }>('misc.pid', 'SELECT pg_backend_pid() AS pid');
      const pid = rows[0]?.pid;
      const sleeping = failure(victim.query('misc.sleep', 'SELECT pg_sleep(5)'));
      await waitUntil(`backend ${String(pid)} to run pg_sleep`, async () => {
        const activity = await admin.query<{ query: string }>(
          "SELECT query FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
          [pid],
        );
        return activity.rows[0]?.query.includes('pg_sleep') === true;
      });
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await sleeping;
      expect(error).toBeInstanceOf(ServiceUnavailableError);
      expect(sqlState(error.cause)).toBe('57P01');
      // The next query gets a fresh connection and works.
      const next = await victim.query<{ pid: number }>('misc.pid', 'SELECT pg_backend_pid() AS pid');
      expect(next.rows[0]?.pid).not.toBe(pid);
    } finally {
      await admin.end();
      await victim.end();
    }
  });

  it.each([
    ['08006', 'a connection failure reported by the server'],
    ['57P03', 'the server starting up'],
    ['53300', 'too many connections'],
  ])('%s (%s) → ServiceUnavailableError', (code) => {
    const error = Object.assign(new Error('x'), { code, severity: 'FATAL' });
    expect(classifyDatabaseError(error)).toBeInstanceOf(ServiceUnavailableError);
  });

  it.each(['ETIMEDOUT', 'ECONNRESET'])('%s → ServiceUnavailableError', (code) => {
    expect(classifyDatabaseError(Object.assign(new Error(code), { code }))).toBeInstanceOf(ServiceUnavailableError);
  });

  it('pg pool acquire timeouts → ServiceUnavailableError', () => {
    expect(classifyDatabaseError(new Error('timeout exceeded when trying to connect'))).toBeInstanceOf(
      ServiceUnavailableError,
    );
  });

  it('returns an AppError unchanged and wraps unknown values', () => {
    const conflict = new ConflictError('x');
    expect(classifyDatabaseError(conflict)).toBe(conflict);
    expect(classifyDatabaseError('weird')).toBeInstanceOf(InternalError);
  });
});
