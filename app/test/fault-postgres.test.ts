import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { scopeDir } from '@slipway/pipelines/platform/paths';
import { testEnv } from './support/app.js';
import { call, registerAccount, signIn } from './support/auth.js';
import type { Reply, Tokens } from './support/auth.js';
import { unique } from './support/db.js';
import { freePort } from './support/net.js';
import { startPrivatePostgres } from './support/private-postgres.js';
import type { PrivatePostgres } from './support/private-postgres.js';
import { spawnServer, statusOf, waitFor, waitUntilReady } from './support/server-process.js';
import type { ServerProcess } from './support/server-process.js';

// A run-* folder, so the harness's sweep stops this PostgreSQL if the worker dies before afterAll.
const dir = join(scopeDir('test'), `run-${process.pid}-fault-postgres`);
// The readiness probe bounds each check by HEALTH_CHECK_TIMEOUT_MS (1 s); allow a little for HTTP and the event loop.
const READY_ANSWER_BUDGET_MS = 1_200;
// Filled as things start, so afterAll stops exactly what did start, even when beforeAll failed halfway.
const started: { postgres?: PrivatePostgres; server?: ServerProcess } = {};

afterAll(async () => {
  await started.server?.kill();
  await started.postgres?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Probe {
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly status: number | undefined;
  readonly body: { status?: string; checks?: Record<string, { status: string; error?: string }> };
}

async function probeReady(url: string): Promise<Probe> {
  const sentAt = Date.now();
  try {
    const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(5_000) });
    const body = (await response.json()) as Probe['body'];
    return { sentAt, answeredAt: Date.now(), status: response.status, body };
  } catch {
    return { sentAt, answeredAt: Date.now(), status: undefined, body: {} };
  }
}

async function insertProduct(url: string): Promise<string> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(
      "INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, 'Fault test widget', 1250, 5) RETURNING id",
      [unique('SKU').replace(/[^A-Za-z0-9._-]/g, '')],
    );
    return (rows[0] as { id: string }).id;
  } finally {
    await client.end();
  }
}

/** Places an order for one unit: a request that must write to PostgreSQL, whatever caches sit in front of reads. */
function placeOrder(url: string, tokens: Tokens, productId: string): Promise<Reply> {
  return call(url, 'POST', '/api/v1/orders', {
    token: tokens.accessToken,
    body: { items: [{ product_id: productId, quantity: 1 }] },
  });
}

describe('PostgreSQL stopped under a running server process', () => {
  let postgres: PrivatePostgres;
  let server: ServerProcess;
  let tokens: Tokens;
  let productId: string;

  beforeAll(async () => {
    postgres = started.postgres = await startPrivatePostgres(dir);
    server = started.server = spawnServer(
      await freePort(),
      testEnv({
        DATABASE_URL: postgres.url,
        LOG_LEVEL: 'info',
        SHUTDOWN_DRAIN_MS: '0',
        HEALTH_CHECK_TIMEOUT_MS: '1000',
      }),
    );
    await waitUntilReady(server);
    tokens = await signIn(server.url, await registerAccount(server.url));
    productId = await insertProduct(postgres.url);
  });

  it('turns readiness 503 within 1 s, keeps liveness 200, and recovers without a restart', async () => {
    const { url } = server;
    const db = postgres;
    const before = await call(url, 'GET', `/api/v1/products/${productId}`, { token: tokens.accessToken });
    expect(before.status).toBe(200);
    expect((await probeReady(url)).status).toBe(200);

    // Probe back to back while PostgreSQL goes down, as a kubelet would (only more often).
    const probes: Probe[] = [];
    const polling = new AbortController();
    const poller = (async () => {
      while (!polling.signal.aborted) probes.push(await probeReady(url));
    })();
    const stopIssuedAt = Date.now();
    let stoppedAt: number;
    try {
      await db.stop();
      stoppedAt = Date.now();
      await waitFor('a 503 from /health/ready after PostgreSQL stopped', () =>
        Promise.resolve(probes.some((probe) => probe.sentAt >= stoppedAt && probe.status === 503) ? true : undefined),
      );
    } finally {
      polling.abort();
      await poller;
    }

    const down = probes.find((probe) => probe.status === 503);
    if (down === undefined) throw new Error(`no readiness probe answered 503: ${JSON.stringify(probes)}`);
    const fromStop = down.answeredAt - stoppedAt;
    const fromSignal = down.answeredAt - stopIssuedAt;
    console.info(
      `postgres fault: fast shutdown took ${stoppedAt - stopIssuedAt} ms; first 503 ${fromStop} ms after the ` +
        `server was gone (${fromSignal} ms after the signal); ${probes.length} probes, slowest ` +
        `${Math.max(...probes.map((probe) => probe.answeredAt - probe.sentAt))} ms`,
    );
    expect(fromStop).toBeLessThan(1_000);
    for (const probe of probes) {
      expect(probe.status, 'every readiness probe gets an answer').toBeDefined();
      expect(probe.answeredAt - probe.sentAt).toBeLessThan(READY_ANSWER_BUDGET_MS);
    }
    expect(down.body).toMatchObject({
      status: 'not_ready',
      checks: { postgres: { status: 'down' }, redis: { status: 'up' } },
    });
    expect(down.body.checks?.postgres?.error).toEqual(expect.any(String));

    // While the database is away: still alive, still not ready, and API calls fail with a structured 503.
    const during = await probeReady(url);
    expect(during.status).toBe(503);
    expect(during.answeredAt - during.sentAt).toBeLessThan(READY_ANSWER_BUDGET_MS);
    expect(await statusOf(`${url}/health/live`)).toBe(200);
    // A write has to reach the database (reads may be answered from a cache): a structured 503, not a 500 or a hang.
    const refused = await placeOrder(url, tokens, productId);
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });

    await db.start();
    const restartedAt = Date.now();
    await waitFor('/health/ready to answer 200 again', async () =>
      (await statusOf(`${url}/health/ready`)) === 200 ? true : undefined,
    );
    console.info(`postgres fault: readiness back to 200 ${Date.now() - restartedAt} ms after PostgreSQL answered`);
    const after = await placeOrder(url, tokens, productId);
    expect(after.status).toBe(201);
    expect(after.body).toMatchObject({ status: 'pending', items: [{ product_id: productId, quantity: 1 }] });

    // Same process all along: it never exited and logged 'listening' once.
    expect(server.child.exitCode).toBeNull();
    expect(server.logs().filter((line) => line.msg === 'listening')).toHaveLength(1);
  });

  it('answers readiness 503 within the 1 s bound while PostgreSQL hangs, and 200 once it answers again', async () => {
    const { url } = server;
    const db = postgres;
    await waitFor('readiness 200 before the hang', async () =>
      (await statusOf(`${url}/health/ready`)) === 200 ? true : undefined,
    );

    db.freeze();
    const probes: Probe[] = [];
    let live: number | undefined;
    let liveTookMs = Number.NaN;
    try {
      // A hung dependency is what the timeout is for: no error comes back, the probe has to give up on its own.
      const started = Date.now();
      live = await statusOf(`${url}/health/live`);
      liveTookMs = Date.now() - started;
      while (probes.length < 3) probes.push(await probeReady(url));
    } finally {
      db.thaw();
    }
    console.info(
      `postgres hang: readiness answers ${probes.map((probe) => `${probe.status} in ${probe.answeredAt - probe.sentAt} ms`).join(', ')}; liveness ${live} in ${liveTookMs} ms`,
    );
    expect(live).toBe(200);
    expect(liveTookMs).toBeLessThan(500);
    for (const probe of probes) {
      expect(probe.status).toBe(503);
      expect(probe.answeredAt - probe.sentAt).toBeLessThan(READY_ANSWER_BUDGET_MS);
      expect(probe.body.checks?.postgres).toMatchObject({ status: 'down', error: 'no answer within 1000 ms' });
      expect(probe.body.checks?.redis).toMatchObject({ status: 'up' });
    }

    await waitFor('/health/ready to answer 200 after the hang', async () =>
      (await statusOf(`${url}/health/ready`)) === 200 ? true : undefined,
    );
    expect((await placeOrder(url, tokens, productId)).status).toBe(201);
  });
});
