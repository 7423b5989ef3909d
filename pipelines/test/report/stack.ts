import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { stringify } from 'yaml';

import { createTestDatabase, type TestDatabase } from '@slipway/app/testing/database';
import { testServices } from '@slipway/app/testing/services';
import { APP_JOB, WORKER_JOB } from '@slipway/monitoring/config';
import { GENERATED_DIR } from '@slipway/monitoring/generate';
import { POD_TEMPLATE_HASH_LABEL } from '@slipway/monitoring/slo';
import { freePort } from '../../src/platform/ports.js';
import { silentProgress } from '../../src/platform/progress.js';
import { appService } from '../../src/platform/services/app.js';
import { workerService } from '../../src/platform/services/worker.js';
import { type ServiceDefinition, Supervisor } from '../../src/platform/supervisor.js';
import type { VersionSeries } from '../../src/release/release-record.js';
import { appUnderTestEnv } from '../../src/testing/app-under-test.js';
import { waitUntil } from '../../src/testing/wait.js';

const HOST = '127.0.0.1';
export const NAMESPACE = 'report-test';

export interface Version extends VersionSeries {
  readonly url: string;
}

/** Two erp-api processes (canary and stable) scraped by one real Prometheus, with the generated rules. */
export interface ReleaseStack {
  readonly prometheusUrl: string;
  readonly canary: Version;
  readonly stable: Version;
  stop(): Promise<void>;
}

function prometheusService(dir: string, port: number, config: string): ServiceDefinition {
  const url = `http://${HOST}:${port}`;
  return {
    name: 'prometheus',
    host: HOST,
    port,
    portEnv: 'none (the test picks a free port)',
    url,
    command: 'prometheus',
    args: [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=${HOST}:${port}`,
    ],
    readyTimeoutMs: 20_000,
    probe: async () => {
      const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      if (!response.ok) throw new Error(`/-/ready answered ${response.status}`);
    },
  };
}

/**
 * Starts the stack: each app as a pod of its version would be scraped in the cluster, with the job, namespace and
 * `rollouts_pod_template_hash` labels the monitoring queries select on.
 */
export async function startReleaseStack(): Promise<ReleaseStack> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-report-'));
  let database: TestDatabase | undefined;
  const supervisor = new Supervisor(join(dir, 'state.json'), join(dir, 'logs'), silentProgress);
  try {
    database = await createTestDatabase('report_pages');
    // TRUST_PROXY lets the traffic sign in from many client addresses, under the per-address sign-in limit.
    const env = {
      ...appUnderTestEnv({ databaseUrl: database.url, redisUrl: testServices().redis.url }),
      TRUST_PROXY: '1',
    };
    const versions: Version[] = [];
    for (const [name, hash] of [
      ['stable', `stable${randomBytes(3).toString('hex')}`],
      ['canary', `canary${randomBytes(3).toString('hex')}`],
    ] as const) {
      const port = await freePort(HOST);
      await supervisor.start({
        ...appService({ host: HOST, port, portEnv: 'none (the test picks a free port)', env }),
        name: `app-${name}`,
      });
      versions.push({
        url: `http://${HOST}:${port}`,
        digest: `sha256:${randomBytes(32).toString('hex')}`,
        namespace: NAMESPACE,
        podTemplateHash: hash,
      });
    }
    const [stable, canary] = versions as [Version, Version];
    // The worker serves the job-queue metrics of the Jobs dashboard.
    const workerPort = await freePort(HOST);
    await supervisor.start(
      workerService({
        host: HOST,
        port: workerPort,
        portEnv: 'none (the test picks a free port)',
        // The outbox scan is an email job every second, so the attempt panels have data; no mail leaves the host.
        env: { ...env, SMTP_URL: 'smtp://127.0.0.1:1', EMAIL_OUTBOX_POLL_MS: '1000' },
      }),
    );

    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [join(GENERATED_DIR, 'rules.yaml')],
        scrape_configs: [
          {
            job_name: APP_JOB,
            static_configs: versions.map((version) => ({
              targets: [new URL(version.url).host],
              labels: { namespace: version.namespace, [POD_TEMPLATE_HASH_LABEL]: version.podTemplateHash },
            })),
          },
          {
            job_name: WORKER_JOB,
            static_configs: [{ targets: [`${HOST}:${String(workerPort)}`], labels: { namespace: NAMESPACE } }],
          },
        ],
      }),
    );
    const port = await freePort(HOST);
    const prometheus = prometheusService(dir, port, config);
    await supervisor.start(prometheus);
    const owned = database;
    return {
      prometheusUrl: prometheus.url,
      canary,
      stable,
      stop: async () => {
        await supervisor.stopAll();
        await owned.drop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await supervisor.stopAll();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function call(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; token?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'X-Forwarded-For': `127.1.${randomInt(256)}.${randomInt(1, 255)}` };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    body = { text };
  }
  return { status: response.status, body };
}

/**
 * A little of every kind of traffic the dashboards chart, to both versions for `seconds`: sign-ups, good and bad
 * sign-ins, token checks, product and order reads (database queries, the permission cache), health and unknown routes.
 */
export async function driveTraffic(versions: readonly Version[], seconds: number): Promise<number> {
  const accounts = await Promise.all(
    versions.map(async (version) => {
      const name = `report${randomBytes(5).toString('hex')}`;
      const account = {
        email: `${name}@example.com`,
        username: name,
        password: `pw-${randomBytes(8).toString('hex')}`,
      };
      const registered = await call(version.url, 'POST', '/api/v1/auth/register', { body: account });
      if (registered.status !== 201)
        throw new Error(`register at ${version.url} answered ${registered.status}: ${JSON.stringify(registered.body)}`);
      return { version, account };
    }),
  );
  let requests = 0;
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    await Promise.all(
      accounts.map(async ({ version, account }) => {
        const login = await call(version.url, 'POST', '/api/v1/auth/login', {
          body: { email: account.email, password: account.password },
        });
        const token = login.body.access_token;
        if (login.status !== 200 || typeof token !== 'string')
          throw new Error(`login at ${version.url} answered ${login.status}: ${JSON.stringify(login.body)}`);
        const calls = [
          call(version.url, 'POST', '/api/v1/auth/login', {
            body: { email: account.email, password: 'wrong-password' },
          }),
          call(version.url, 'GET', '/api/v1/auth/me', { token }),
          call(version.url, 'GET', '/api/v1/products', { token }),
          call(version.url, 'GET', '/api/v1/orders', { token }),
          call(version.url, 'GET', '/health/live'),
          call(version.url, 'GET', '/health/ready'),
          call(version.url, 'GET', '/no-such-route'),
        ];
        await Promise.all(calls);
        requests += calls.length + 1;
      }),
    );
    await sleep(100);
  }
  return requests;
}

/** Waits until `expr` returns a series, so charts drawn after it have data. */
export async function waitForSeries(prometheusUrl: string, expr: string, timeoutMs = 30_000): Promise<void> {
  let last = '';
  await waitUntil(
    `a series for ${expr} in Prometheus at ${prometheusUrl}`,
    async () => {
      const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await response.json()) as { data?: { result?: unknown[] } };
      last = `${response.status} ${JSON.stringify(body).slice(0, 500)}`;
      return (body.data?.result?.length ?? 0) > 0;
    },
    { timeoutMs, intervalMs: 500, seen: () => `last answer: ${last}` },
  );
}
