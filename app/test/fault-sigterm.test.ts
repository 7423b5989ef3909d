import { readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { Client } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

import { scopeDir } from '@slipway/pipelines/platform/paths';
import { testEnv } from './support/app.js';
import { call, registerAccount, signIn } from './support/auth.js';
import { createMigratedDatabase, migrateSharedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { unique } from './support/db.js';
import { startSteadyLoad } from './support/load-driver.js';
import type { LoadSample, SteadyLoad } from './support/load-driver.js';
import { freePort } from './support/net.js';
import { startNginx } from './support/nginx.js';
import type { Nginx } from './support/nginx.js';
import { spawnServer, statusOf, waitFor, waitUntilReady } from './support/server-process.js';
import type { ServerProcess } from './support/server-process.js';
import { testServices } from './support/services.js';

// A run-* folder, so the harness's sweep stops nginx if the worker dies before afterAll.
const dir = join(scopeDir('test'), `run-${process.pid}-fault-sigterm`);
const servers: ServerProcess[] = [];
let nginx: Nginx | undefined;
let load: SteadyLoad | undefined;
let database: TestDatabase | undefined;
const clients: Client[] = [];

afterAll(async () => {
  await load?.stop();
  await nginx?.stop();
  await Promise.all(servers.map((server) => server.kill()));
  await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** Every step the server logs on its way out, in order (server.ts). */
const SHUTDOWN_STEPS = [
  'shutdown started; readiness now reports 503 while still serving',
  'drain period over; no longer accepting connections',
  'in-flight requests finished; http server closed',
  'postgres pool closed',
  'redis connection closed',
  'shutdown complete',
];

function shutdownSteps(server: ServerProcess): string[] {
  return server
    .logs()
    .map((line) => line.msg ?? '')
    .filter((msg) => SHUTDOWN_STEPS.includes(msg));
}

function startServer(port: number, env: NodeJS.ProcessEnv): ServerProcess {
  const server = spawnServer(port, testEnv({ LOG_LEVEL: 'info', TRUST_PROXY: '1', ...env }));
  servers.push(server);
  return server;
}

async function connectClient(url: string): Promise<Client> {
  const client = new Client({ connectionString: url });
  clients.push(client);
  await client.connect();
  return client;
}

async function insertProduct(client: Client): Promise<string> {
  const { rows } = await client.query<{ id: string }>(
    "INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, 'Drain test widget', 700, 10) RETURNING id",
    [unique('SKU').replace(/[^A-Za-z0-9._-]/g, '')],
  );
  return (rows[0] as { id: string }).id;
}

/** True once a fresh TCP connection to the port is refused: the listener is closed. */
/**
 * Whether process `pid` still holds a listening TCP socket on `port`, read from /proc. Not a connect attempt: once the
 * server lets the port go, another test's process may bind it (or a connection may meet itself on it), and that
 * connection would succeed although this server accepts nothing.
 */
/* eslint-disable security/detect-non-literal-fs-filename -- /proc files of the kernel and of this test's own child */
function listensOn(pid: number, port: number): boolean {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const listening = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      // sl local_address rem_address st … inode: state 0A is LISTEN
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(local) && fields[3] === '0A' && fields[9] !== undefined) listening.add(fields[9]);
    }
  }
  return readdirSync(`/proc/${String(pid)}/fd`).some((fd) => {
    try {
      return listening.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${String(pid)}/fd/${fd}`))?.[1] ?? '');
    } catch {
      return false; // the descriptor closed while we read
    }
  });
}
/* eslint-enable security/detect-non-literal-fs-filename */

function describeFailures(samples: readonly LoadSample[]): string {
  return JSON.stringify(
    samples.filter((sample) => sample.status === undefined || sample.status >= 300).slice(0, 10),
    null,
    1,
  );
}

describe('SIGTERM to one of two instances behind nginx, under steady load', () => {
  it('loses no client request: the instance drains, still serves, then exits 0', async () => {
    await migrateSharedDatabase();
    const productId = await insertProduct(await connectClient(testServices().postgres.url));
    const [portA, portB] = [await freePort(), await freePort()];
    // A short drain delay keeps the test quick; production uses 5 s (SHUTDOWN_DRAIN_MS).
    const settings = { SHUTDOWN_DRAIN_MS: '1500', SHUTDOWN_TIMEOUT_MS: '10000' };
    const a = startServer(portA, settings);
    const b = startServer(portB, settings);
    await Promise.all([waitUntilReady(a), waitUntilReady(b)]);
    nginx = await startNginx({
      dir: join(dir, 'nginx'),
      upstreams: [`127.0.0.1:${portA}`, `127.0.0.1:${portB}`],
      stateFile: join(dir, 'state.json'),
    });
    const upstreamA = `127.0.0.1:${portA}`;
    const upstreamB = `127.0.0.1:${portB}`;

    const tokens = await signIn(nginx.url, await registerAccount(nginx.url));
    const steady = startSteadyLoad({
      url: `${nginx.url}/api/v1/products/${productId}`,
      headers: { Authorization: `Bearer ${tokens.accessToken}` },
      ratePerSecond: 40,
    });
    load = steady;
    const servedBy = (upstream: string, from = 0): number =>
      steady.samples.filter((sample) => sample.upstream === upstream && sample.sentAt >= from).length;
    await waitFor('both instances to serve 20 requests of the load', () =>
      Promise.resolve(servedBy(upstreamA) >= 20 && servedBy(upstreamB) >= 20 ? true : undefined),
    );

    const signalledAt = Date.now();
    a.child.kill('SIGTERM');
    await waitFor(
      'the terminating instance to report 503 on readiness',
      async () => ((await statusOf(`${a.url}/health/ready`)) === 503 ? true : undefined),
      1_000,
    );
    const readinessDownAfterMs = Date.now() - signalledAt;
    const exit = await a.exited;
    const exitedAt = Date.now();
    await waitFor('40 more requests after the instance exited', () =>
      Promise.resolve(steady.samples.filter((sample) => sample.sentAt > exitedAt).length >= 40 ? true : undefined),
    );
    const samples = await steady.stop();
    load = undefined;

    const failed = samples.filter(
      (sample) => sample.status === undefined || sample.status < 200 || sample.status >= 300,
    );
    const servedByADuringDrain = samples.filter(
      (sample) => sample.upstream === upstreamA && sample.sentAt >= signalledAt,
    );
    const retried = samples.filter((sample) => sample.tried.length > 1);
    const afterExit = samples.filter((sample) => sample.sentAt > exitedAt);
    const slowest = Math.max(...samples.map((sample) => sample.doneAt - sample.sentAt));
    console.table({
      'requests sent through nginx': samples.length,
      'failed (non-2xx or network error)': failed.length,
      'served by A before SIGTERM': samples.filter((s) => s.upstream === upstreamA && s.sentAt < signalledAt).length,
      'served by A after SIGTERM (drain)': servedByADuringDrain.length,
      'served by B after A exited': afterExit.filter((sample) => sample.upstream === upstreamB).length,
      'retried by nginx on the other instance': retried.length,
      'readiness 503 after SIGTERM (ms)': readinessDownAfterMs,
      'SIGTERM to exit (ms)': exitedAt - signalledAt,
      'slowest request (ms)': slowest,
    });

    expect(failed, describeFailures(failed)).toEqual([]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(a.stderr()).toBe('');
    expect(shutdownSteps(a)).toEqual(SHUTDOWN_STEPS);
    expect(readinessDownAfterMs).toBeLessThan(1_000);
    // It kept serving through the drain delay, so endpoints that had not yet noticed lost nothing.
    expect(servedByADuringDrain.length).toBeGreaterThan(0);
    expect(Math.max(...servedByADuringDrain.map((sample) => sample.doneAt))).toBeGreaterThanOrEqual(
      signalledAt + 1_000,
    );
    expect(exitedAt - signalledAt).toBeGreaterThanOrEqual(1_500);
    expect(afterExit.every((sample) => sample.upstream === upstreamB)).toBe(true);
    expect(b.child.exitCode).toBeNull();
    expect(nginx.errorLog()).not.toMatch(/\[(emerg|alert|crit)\]/);
  });
});

describe('SIGTERM with slow requests in flight, no proxy', () => {
  it('lets requests already running finish with 200, refusing new connections meanwhile', async () => {
    database = await createMigratedDatabase();
    const owner = await connectClient(database.url);
    const productId = await insertProduct(owner);
    const port = await freePort();
    const server = startServer(port, {
      DATABASE_URL: database.url,
      SHUTDOWN_DRAIN_MS: '300',
      SHUTDOWN_TIMEOUT_MS: '15000',
    });
    await waitUntilReady(server);
    const tokens = await signIn(server.url, await registerAccount(server.url));

    // Holding an exclusive lock on products makes every product read wait on PostgreSQL: slow requests, for real.
    await owner.query('BEGIN');
    await owner.query('LOCK TABLE products IN ACCESS EXCLUSIVE MODE');
    const paths = [`/api/v1/products/${productId}`, '/api/v1/products?limit=5', `/api/v1/products/${productId}`];
    const inFlight = paths.map((path) => call(server.url, 'GET', path, { token: tokens.accessToken }));
    const waiting = await connectClient(database.url);
    await waitFor('the three reads to wait on the lock', async () => {
      const { rows } = await waiting.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
        [database?.name],
      );
      return (rows[0]?.n ?? 0) >= paths.length ? true : undefined;
    });

    expect(listensOn(server.child.pid ?? 0, port)).toBe(true);
    const signalledAt = Date.now();
    server.child.kill('SIGTERM');
    await waitFor('the drain period to end', () =>
      Promise.resolve(
        shutdownSteps(server).includes('drain period over; no longer accepting connections') ? true : undefined,
      ),
    );
    expect(listensOn(server.child.pid ?? 0, port)).toBe(false);
    expect(server.child.exitCode).toBeNull();

    const releasedAt = Date.now();
    await owner.query('COMMIT');
    const replies = await Promise.all(inFlight);
    expect(replies.map((reply) => reply.status)).toEqual([200, 200, 200]);
    expect(replies[0]?.body).toMatchObject({ id: productId });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    console.info(
      `slow requests: held ${releasedAt - signalledAt} ms past SIGTERM, all ${replies.length} answered 200; ` +
        `exit ${Date.now() - signalledAt} ms after SIGTERM`,
    );
    expect(shutdownSteps(server)).toEqual(SHUTDOWN_STEPS);
    expect(server.logs().map((line) => line.msg)).not.toContain(
      'in-flight requests still running after the shutdown timeout; forcing their connections closed',
    );
  });
});
