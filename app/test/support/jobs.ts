import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { Client } from 'pg';

import { scopeDir } from '@slipway/pipelines/platform/paths';
import { createComponents } from '../../src/components/index.js';
import { startTestApp, testEnv } from './app.js';
import type { TestApp } from './app.js';
import { call, grantAccountRole, registerAccount, signIn } from './auth.js';
import type { Account, Reply } from './auth.js';
import { createMigratedDatabase } from './database.js';
import type { TestDatabase } from './database.js';
import { unique } from './db.js';
import { freePort } from './net.js';
import { sampleValue, scrape } from './prometheus.js';
import { startPrivateRedis } from './private-redis.js';
import type { PrivateRedis } from './private-redis.js';
import { spawnServer, statusOf, waitFor } from './server-process.js';
import type { LogLine, ServerProcess } from './server-process.js';

/** Fast reliability settings for tests: the production defaults are seconds to minutes. */
export const FAST_JOB_ENV = Object.freeze({
  JOB_BACKOFF_MS: '300',
  JOB_STALLED_INTERVAL_MS: '1000',
  JOB_TIMEOUT_MS: '20000',
  SHUTDOWN_TIMEOUT_MS: '30000',
});

/**
 * A private Redis and database, the API (in process, every component) and real `app/src/bin/worker.ts` processes on
 * them: one per test file, so no other file's workers take its jobs.
 */
export interface JobsRig {
  readonly api: TestApp;
  readonly redis: PrivateRedis;
  readonly database: TestDatabase;
  readonly customer: Account;
  readonly customerToken: string;
  readonly adminToken: string;
  readonly env: NodeJS.ProcessEnv;
  /** Orders of the customer, written straight in the database (n at once). */
  createOrders(count: number): Promise<string[]>;
  /** Runs SQL as the database owner, e.g. a trigger that makes the worker's write fail or slow. */
  sql(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  spawnWorker(env?: NodeJS.ProcessEnv): Promise<ServerProcess>;
  /** Sums one sample over the /metrics of every worker this rig spawned that still runs. */
  workerMetric(name: string, labels: Readonly<Record<string, string>>): Promise<number>;
  /** The base URLs of the workers this rig spawned, oldest first. */
  workerUrls(): string[];
  /** SIGKILLs every worker this rig spawned that still runs. */
  stopWorkers(): Promise<void>;
  /** The log lines of every worker this rig spawned, in time order. */
  workerLogs(): LogLine[];
  call(method: string, path: string, token?: string): Promise<Reply>;
  close(): Promise<void>;
}

export async function startJobsRig(
  name: string,
  options: { readonly appendOnly?: boolean; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<JobsRig> {
  const dir = join(scopeDir('test'), `run-${process.pid}-${name}`);
  const workers: ServerProcess[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(workers.map((worker) => worker.kill()));
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const redis = await startPrivateRedis(dir, { appendOnly: options.appendOnly === true });
    cleanups.push(() => redis.close());
    const database = await createMigratedDatabase();
    cleanups.push(() => database.drop());
    const env = { DATABASE_URL: database.url, REDIS_URL: redis.url, ...FAST_JOB_ENV, ...options.env };
    const api = await startTestApp({
      env: { TRUST_PROXY: '1', ...env },
      routers: (deps) => createComponents(deps).routers,
    });
    cleanups.push(() => api.close());
    const customer = await registerAccount(api.url);
    const admin = await registerAccount(api.url);
    await grantAccountRole(api.db, admin.id, 'admin');
    const customerToken = (await signIn(api.url, customer)).accessToken;
    const adminToken = (await signIn(api.url, admin)).accessToken;
    const owner = new Client({ connectionString: database.url });
    await owner.connect();
    cleanups.push(() => owner.end());
    const sql = async (text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> =>
      (await owner.query(text, params)).rows as Record<string, unknown>[];
    const [product] = await sql(
      "INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, 'Invoice widget', 1250, 1000000) RETURNING id",
      [unique('SKU').replace(/[^A-Za-z0-9._-]/g, '')],
    );
    return {
      api,
      redis,
      database,
      customer,
      customerToken,
      adminToken,
      env,
      sql,
      createOrders: async (count) => {
        const rows = await sql(
          `WITH made AS (
             INSERT INTO orders (user_id, status, total_cents)
             SELECT $1, 'pending', 2500 FROM generate_series(1, $2) RETURNING id
           ), lines AS (
             INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
             SELECT id, $3, 2, 1250 FROM made
           )
           SELECT id FROM made`,
          [customer.id, count, product?.id],
        );
        return rows.map((row) => String(row.id));
      },
      spawnWorker: async (extra = {}) => {
        const port = await freePort();
        const worker = spawnServer(port, { ...testEnv(env), LOG_LEVEL: 'info', ...extra }, 'app/src/bin/worker.ts');
        workers.push(worker);
        await waitFor(`the worker on ${port} to be ready`, async () => {
          if (worker.child.exitCode !== null) {
            throw new Error(`the worker exited (${worker.child.exitCode}):\n${worker.stdout()}\n${worker.stderr()}`);
          }
          return (await statusOf(`${worker.url}/health/ready`)) === 200 ? true : undefined;
        });
        return worker;
      },
      workerMetric: async (name, labels) => {
        const running = workers.filter((worker) => worker.child.exitCode === null && worker.child.signalCode === null);
        const values = await Promise.all(
          running.map(async (worker) => sampleValue(await scrape(worker.url), name, labels) ?? 0),
        );
        return values.reduce((sum, value) => sum + value, 0);
      },
      workerUrls: () => workers.map((worker) => worker.url),
      stopWorkers: async () => {
        await Promise.all(workers.map((worker) => worker.kill()));
      },
      workerLogs: () =>
        workers
          .flatMap((worker) => worker.logs())
          .sort((a, b) => Date.parse(String(a.time)) - Date.parse(String(b.time))),
      call: (method, path, token) => call(api.url, method, path, token === undefined ? {} : { token }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
