import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Database } from '../src/db/pool.js';
import { newQueryScope, runInQueryScope } from '../src/db/query-scope.js';
import { RETRY_BASE_DELAY_MS, retryDelayMs, withTransaction } from '../src/db/transaction.js';
import { AbortedError, TransactionConflictError, ValidationError } from '../src/errors.js';
import { CapturedLogs } from './support/logs.js';
import { createTestDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { testDb } from './support/db.js';

let database: TestDatabase;
let db: Database;
let logs: CapturedLogs;

beforeAll(async () => {
  database = await createTestDatabase();
  ({ db, logs } = testDb(database.url));
  await db.query(
    'test.setup',
    `CREATE TABLE ledger (id serial PRIMARY KEY, batch text NOT NULL, amount integer NOT NULL CHECK (amount >= 0));
     CREATE TABLE accounts (id integer PRIMARY KEY, balance integer NOT NULL);
     INSERT INTO accounts VALUES (1, 100), (2, 100), (3, 0), (4, 0)`,
  );
});

afterAll(async () => {
  await db.end();
  await database.drop();
});

async function count(batch: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('ledger.count', 'SELECT count(*) AS n FROM ledger WHERE batch = $1', [
    batch,
  ]);
  return rows[0]?.n ?? -1;
}

function retryLines(): Record<string, unknown>[] {
  return logs.withMessage('transaction conflict (deadlock or serialization failure); retrying');
}

describe('withTransaction', () => {
  it('commits and returns what the work returns', async () => {
    const result = await withTransaction(
      db,
      async (tx) => {
        await tx.query('ledger.add', 'INSERT INTO ledger (batch, amount) VALUES ($1, $2)', ['commit', 5]);
        const { rows } = await tx.query<{ isolation: string }>(
          'test.isolation',
          "SELECT current_setting('transaction_isolation') AS isolation",
        );
        return { isolation: rows[0]?.isolation, attempt: tx.attempt };
      },
      { name: 'test.commit', isolation: 'repeatable read' },
    );
    expect(result).toEqual({ isolation: 'repeatable read', attempt: 1 });
    expect(await count('commit')).toBe(1);
  });

  it('rolls back and rethrows when the work throws', async () => {
    const failure = new ValidationError('not enough stock');
    await expect(
      withTransaction(
        db,
        async (tx) => {
          await tx.query('ledger.add', 'INSERT INTO ledger (batch, amount) VALUES ($1, $2)', ['throw', 5]);
          throw failure;
        },
        { name: 'test.rollback' },
      ),
    ).rejects.toBe(failure);
    expect(await count('throw')).toBe(0);
  });

  it('refuses a name that is not an operation label', async () => {
    await expect(withTransaction(db, () => Promise.resolve(1), { name: 'place order' })).rejects.toThrow(
      /transaction name "place order" is invalid/,
    );
  });

  it('counts BEGIN, the work and COMMIT against the current query scope', async () => {
    const scope = newQueryScope();
    await runInQueryScope(scope, () =>
      withTransaction(db, (tx) => tx.query('test.one', 'SELECT 1'), { name: 'test.counted' }),
    );
    expect(scope.queryCount).toBe(3);
  });

  it('is atomic: a failure injected at any step leaves none of the rows, success leaves all', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 1_000 }), { minLength: 1, maxLength: 8 }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.constantFrom('throw', 'sql'),
        async (amounts, failAt, how) => {
          run += 1;
          const batch = `atomic-${run}`;
          const failStep = failAt === undefined ? undefined : failAt % amounts.length;
          const outcome = await withTransaction(
            db,
            async (tx) => {
              for (const [step, amount] of amounts.entries()) {
                if (step === failStep) {
                  if (how === 'throw') throw new Error('injected failure');
                  // A real constraint violation from the server: amount must be >= 0.
                  await tx.query('ledger.add', 'INSERT INTO ledger (batch, amount) VALUES ($1, $2)', [batch, -1]);
                }
                await tx.query('ledger.add', 'INSERT INTO ledger (batch, amount) VALUES ($1, $2)', [batch, amount]);
              }
            },
            { name: 'test.atomic' },
          ).then(
            () => 'committed',
            () => 'failed',
          );
          const rows = await count(batch);
          expect(outcome).toBe(failStep === undefined ? 'committed' : 'failed');
          expect(rows).toBe(failStep === undefined ? amounts.length : 0);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('retries', () => {
  it('waits 100, 200, 400 ms plus up to half again as jitter', () => {
    expect(RETRY_BASE_DELAY_MS).toBe(100);
    expect([1, 2, 3].map((retry) => retryDelayMs(retry, () => 0))).toEqual([100, 200, 400]);
    expect([1, 2, 3].map((retry) => retryDelayMs(retry, () => 0.999))).toEqual([150, 300, 600]);
  });

  it('retries the victim of a real deadlock, and both transactions complete', async () => {
    const before = retryLines().length;
    let arrived = 0;
    let bothHoldFirstLock!: () => void;
    const barrier = new Promise<void>((resolve) => (bothHoldFirstLock = resolve));
    const attempts: number[] = [];
    const transfer = (from: number, to: number) =>
      withTransaction(
        db,
        async (tx) => {
          attempts.push(tx.attempt);
          await tx.query('accounts.debit', 'UPDATE accounts SET balance = balance - 10 WHERE id = $1', [from]);
          if (tx.attempt === 1) {
            arrived += 1;
            if (arrived === 2) bothHoldFirstLock();
            await barrier;
          }
          await tx.query('accounts.credit', 'UPDATE accounts SET balance = balance + 10 WHERE id = $1', [to]);
        },
        { name: 'accounts.transfer' },
      );
    await Promise.all([transfer(1, 2), transfer(2, 1)]);

    const { rows } = await db.query<{ id: number; balance: number }>(
      'accounts.list',
      'SELECT id, balance FROM accounts WHERE id IN (1, 2) ORDER BY id',
    );
    // Both transfers applied exactly once: the balances are back where they started.
    expect(rows).toEqual([
      { id: 1, balance: 100 },
      { id: 2, balance: 100 },
    ]);
    expect(attempts.sort()).toEqual([1, 1, 2]);
    const retries = retryLines().slice(before);
    expect(retries).toEqual([
      expect.objectContaining({ level: 'warn', transaction: 'accounts.transfer', attempt: 1, sqlState: '40P01' }),
    ]);
    expect(retries[0]?.delayMs).toBeGreaterThanOrEqual(100);
  });

  it('retries a serialization failure under serializable and both increments land', async () => {
    const before = retryLines().length;
    let reads = 0;
    let bothRead!: () => void;
    const barrier = new Promise<void>((resolve) => (bothRead = resolve));
    const increment = () =>
      withTransaction(
        db,
        async (tx) => {
          const { rows } = await tx.query<{ balance: number }>(
            'accounts.read',
            'SELECT balance FROM accounts WHERE id = 3',
          );
          if (tx.attempt === 1) {
            reads += 1;
            if (reads === 2) bothRead();
            await barrier;
          }
          await tx.query('accounts.write', 'UPDATE accounts SET balance = $1 WHERE id = 3', [
            (rows[0]?.balance ?? 0) + 1,
          ]);
        },
        { name: 'accounts.increment', isolation: 'serializable' },
      );
    await Promise.all([increment(), increment()]);
    const { rows } = await db.query<{ balance: number }>('accounts.read', 'SELECT balance FROM accounts WHERE id = 3');
    // Without the retry one increment would be lost (a read-modify-write race) or fail.
    expect(rows[0]?.balance).toBe(2);
    expect(retryLines().slice(before)).toEqual([
      expect.objectContaining({ transaction: 'accounts.increment', attempt: 1, sqlState: '40001' }),
    ]);
  });

  it('gives up after maxRetries with a TransactionConflictError', async () => {
    let runs = 0;
    const conflict = Object.assign(new Error('could not serialize access'), { code: '40001', severity: 'ERROR' });
    const started = performance.now();
    await expect(
      withTransaction(
        db,
        () => {
          runs += 1;
          return Promise.reject(new TransactionConflictError(undefined, { cause: conflict }));
        },
        { name: 'test.alwaysConflicts', maxRetries: 2 },
      ),
    ).rejects.toBeInstanceOf(TransactionConflictError);
    expect(runs).toBe(3);
    // Backoff 100 + 200 ms (plus jitter) between the three runs.
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('does not retry other errors', async () => {
    let runs = 0;
    await expect(
      withTransaction(
        db,
        () => {
          runs += 1;
          return Promise.reject(new ValidationError('bad'));
        },
        { name: 'test.noRetry' },
      ),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(runs).toBe(1);
  });
});

describe('abort', () => {
  it('rolls back when the signal aborts while the work waits on something else', async () => {
    const controller = new AbortController();
    const reason = new AbortedError('client went away');
    const work = withTransaction(
      db,
      async (tx) => {
        await tx.query('ledger.add', 'INSERT INTO ledger (batch, amount) VALUES ($1, $2)', ['abort-idle', 1]);
        controller.abort(reason);
        await new Promise((resolve) => setTimeout(resolve, 20));
        await tx.query('ledger.add', 'INSERT INTO ledger (batch, amount) VALUES ($1, $2)', ['abort-idle', 2]);
      },
      { name: 'test.abortIdle', signal: controller.signal },
    );
    await expect(work).rejects.toBe(reason);
    expect(await count('abort-idle')).toBe(0);
  });

  it('cancels the statement running when the signal aborts, and rolls back at once', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const work = withTransaction(
      db,
      async (tx) => {
        await tx.query('ledger.add', 'INSERT INTO ledger (batch, amount) VALUES ($1, $2)', ['abort-busy', 1]);
        setTimeout(() => controller.abort(new AbortedError('client went away')), 100);
        await tx.query('test.sleep', 'SELECT pg_sleep(5)');
      },
      { name: 'test.abortBusy', signal: controller.signal },
    );
    await expect(work).rejects.toBeInstanceOf(AbortedError);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await count('abort-busy')).toBe(0);
    expect(db.stats().total).toBeGreaterThan(0);
  });

  it('does not start when the signal has already aborted', async () => {
    let ran = false;
    await expect(
      withTransaction(
        db,
        () => {
          ran = true;
          return Promise.resolve();
        },
        { name: 'test.preAborted', signal: AbortSignal.abort(new AbortedError('gone')) },
      ),
    ).rejects.toBeInstanceOf(AbortedError);
    expect(ran).toBe(false);
  });
});
