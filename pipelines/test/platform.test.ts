import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';

import { removeDirectory } from '../src/platform/accounts.js';
import {
  adminPasswordFile,
  LOCAL_ADMIN_EMAIL,
  localPaths,
  LOCAL_ARCHIVE_TIMEOUT_SECONDS,
  LOCAL_BACKUP_BUCKET,
  localPlatform,
  LOCAL_APP_LIMITS,
  RUNNING_FOOTER,
  SOURCE_WORKER_POD,
} from '../src/platform/local.js';
import { repoRoot } from '../src/platform/paths.js';
import { isPortFree } from '../src/platform/ports.js';
import { freePlatformPorts } from './platform-env.js';
import { isAlive } from '../src/platform/processes.js';
import { readState } from '../src/platform/supervisor.js';
import { notifications } from '../src/platform/services/alert-receiver.js';
import { appliedSplit } from '../src/platform/services/nginx.js';
import { waitUntil } from '../src/testing/wait.js';
import { LOCAL_NAMESPACE, SOURCE_POD_TEMPLATE_HASH } from '../src/platform/services/prometheus.js';
import {
  APP_JOB,
  APP_SELECTOR,
  METRICS_PORT,
  METRICS_SERVICE,
  WORKER_JOB,
  WORKER_METRICS_SERVICE,
  WORKER_SELECTOR,
} from '@slipway/monitoring/config';
import { FIXTURE_SERVICE_LABELS, FIXTURE_WORKER_SERVICE_LABELS } from '@slipway/monitoring/fixtures';
import {
  appServiceMonitorSpec,
  discoveryLabels,
  operatorRelabelConfigs,
  relabel,
  workerServiceMonitorSpec,
} from '@slipway/monitoring/service-monitor';

const HOST = '127.0.0.1';
const scopes: string[] = [];

/** The env of one isolated `npm start`: its own .local/<scope> and free ports, beside any developer's platform. */
async function platformEnv(): Promise<
  NodeJS.ProcessEnv & {
    PORT: string;
    SLIPWAY_SCOPE: string;
    SLIPWAY_NGINX_PORT: string;
    SLIPWAY_PROMETHEUS_PORT: string;
    SLIPWAY_ALERTMANAGER_PORT: string;
    SLIPWAY_ALERT_RECEIVER_PORT: string;
  }
> {
  const scope = `e2e-${process.pid}-${scopes.length}`;
  scopes.push(scope);
  return {
    ...process.env,
    SLIPWAY_SCOPE: scope,
    ...(await freePlatformPorts()),
  };
}

function npm(args: string[], env: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('npm', ['--silent', ...args], { cwd: repoRoot, env, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `npm start` in the background and resolves once it says the platform runs (or rejects with its output). */
function startPlatform(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn('npm', ['--silent', 'start'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not come up in 120 s:\n${output}`)), 120_000);
    child.stdout.on('data', () => {
      if (output.includes(RUNNING_FOOTER)) {
        clearTimeout(timer);
        resolve({ child, output: () => output });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${String(code)} before it was up:\n${output}`));
    });
  });
}

/** Polls `find` every 250 ms until it gives a value, for at most 45 s; a failed try counts as nothing found. */
async function poll<T>(what: string, find: () => Promise<T | undefined>): Promise<T> {
  let last = 'nothing found yet';
  return waitUntil(
    what,
    () =>
      find().catch((error: unknown) => {
        last = `last try failed: ${(error as Error).message}`;
        return undefined;
      }),
    { timeoutMs: 45_000, intervalMs: 250, seen: () => last },
  );
}

afterAll(() => {
  for (const scope of scopes) {
    const { dir } = localPaths(scope);
    removeDirectory(join(dir, 'postgres', 'data'));
    removeDirectory(join(dir, 'redis', 'data'));
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('npm start / npm stop (the local platform)', () => {
  test('brings up PostgreSQL, Redis, the registry, Jaeger, the backup store, the app, the worker and its SMTP sink, the Pushgateway, Prometheus, Alertmanager with its receiver, nginx and the Argo Rollouts history, says so when started twice, and stop leaves nothing behind', async () => {
    const env = await platformEnv();
    const { child, output } = await startPlatform(env);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

    const appUrl = `http://${HOST}:${env.PORT}`;
    const table = new Map(
      output()
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((words) => words.length >= 2)
        .map((words) => [words[0], words[1]]),
    );
    expect(table.get('app')).toBe(appUrl);
    expect(table.get('postgres')).toBe(`postgresql://slipway@${HOST}:${env.SLIPWAY_POSTGRES_PORT}/erp`);
    expect(table.get('redis')).toBe(`redis://${HOST}:${env.SLIPWAY_REDIS_PORT}`);
    expect(table.get('jaeger')).toBe(`http://${HOST}:${env.SLIPWAY_JAEGER_PORT ?? ''}`);
    expect(table.get('registry')).toBe(`http://${HOST}:${env.SLIPWAY_REGISTRY_PORT ?? ''}`);
    expect((await fetch(`http://${HOST}:${env.SLIPWAY_REGISTRY_PORT ?? ''}/v2/`)).status).toBe(200);
    const objectStore = `http://${HOST}:${env.SLIPWAY_OBJECT_STORE_PORT ?? ''}`;
    expect(table.get('object-store')).toBe(objectStore);
    expect((await fetch(`${objectStore}/${LOCAL_BACKUP_BUCKET}?list-type=2`)).status).toBe(200);
    expect(output()).not.toMatch(/postgresql:\/\/slipway:/); // no password printed
    expect((await fetch(`${appUrl}/health/live`)).status).toBe(200);
    expect((await fetch(`${appUrl}/health/ready`)).status).toBe(200);

    // the administrator it made can sign in and use an admin-only route; the docs it points at are served
    const password = readFileSync(adminPasswordFile(env.SLIPWAY_SCOPE), 'utf8').trim();
    expect(output()).not.toContain(password);
    const login = await fetch(`${appUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: LOCAL_ADMIN_EMAIL, password }),
    });
    expect(login.status).toBe(200);
    const { access_token: token } = (await login.json()) as { access_token: string };
    const users = await fetch(`${appUrl}/api/v1/users`, { headers: { Authorization: `Bearer ${token}` } });
    expect(users.status).toBe(200);
    expect((await fetch(`${appUrl}/api/docs/openapi.json`)).status).toBe(200);

    // the app signs in to PostgreSQL as erp_app, which owns nothing: it cannot turn the audit triggers off
    const { dir } = localPaths(env.SLIPWAY_SCOPE);
    const secret = (file: string) => encodeURIComponent(readFileSync(file, 'utf8').trim());
    const database = (user: string, password: string) =>
      `postgresql://${user}:${password}@${HOST}:${env.SLIPWAY_POSTGRES_PORT ?? ''}/erp`;
    const owner = new pg.Client({ connectionString: database('slipway', secret(join(dir, 'postgres', 'password'))) });
    const app = new pg.Client({
      connectionString: database('erp_app', secret(join(dir, 'secrets', 'app-database-password'))),
    });
    await owner.connect();
    await app.connect();
    try {
      const users = await owner.query<{ usename: string }>(
        "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'erp' AND pid <> pg_backend_pid()",
      );
      expect(users.rows).toEqual([{ usename: 'erp_app' }]);
      await expect(app.query('ALTER TABLE audit_logs DISABLE TRIGGER ALL')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('ALTER TABLE users ADD COLUMN is_root boolean')).rejects.toMatchObject({ code: '42501' });

      // point-in-time recovery: the server archives each WAL file into the object store, within archive_timeout
      const settings = await owner.query<{ name: string; setting: string }>(
        "SELECT name, setting FROM pg_settings WHERE name IN ('archive_mode', 'archive_timeout') ORDER BY name",
      );
      expect(settings.rows).toEqual([
        { name: 'archive_mode', setting: 'on' },
        { name: 'archive_timeout', setting: String(LOCAL_ARCHIVE_TIMEOUT_SECONDS) },
      ]);
      const switched = await owner.query<{ segment: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS segment');
      const segment = switched.rows[0]?.segment ?? '';
      const archived = await poll('WAL segment in the object store', async () => {
        const listing = await fetch(`${objectStore}/${LOCAL_BACKUP_BUCKET}?list-type=2&prefix=wal/${segment}`);
        const body = await listing.text();
        return body.includes(`wal/${segment}.gz`) ? body : undefined;
      });
      expect(archived).toContain(segment);
    } finally {
      await app.end();
      await owner.end();
    }

    // the front door proxies to the app and says which version answered
    const frontDoor = `http://${HOST}:${env.SLIPWAY_NGINX_PORT}`;
    expect(table.get('nginx')).toBe(frontDoor);
    const viaFrontDoor = await fetch(`${frontDoor}/health/ready`);
    expect(viaFrontDoor.status).toBe(200);
    expect(viaFrontDoor.headers.get('x-upstream-addr')).toBe(`${HOST}:${env.PORT}`);
    expect((await appliedSplit(frontDoor)).servers).toEqual([{ address: `${HOST}:${env.PORT}`, weight: 100 }]);
    expect(output()).toContain(`${frontDoor}/api/docs`);

    // Prometheus labels the app's series exactly as prometheus-operator's relabelling of the ServiceMonitor does
    const prometheusUrl = `http://${HOST}:${env.SLIPWAY_PROMETHEUS_PORT}`;
    expect(table.get('prometheus')).toBe(prometheusUrl);
    // backups and drills push here; Prometheus scrapes it (honor_labels, pipelines/test/pushgateway.test.ts)
    const pushgatewayUrl = `http://${HOST}:${env.SLIPWAY_PUSHGATEWAY_PORT}`;
    expect(table.get('pushgateway')).toBe(pushgatewayUrl);
    expect((await fetch(`${pushgatewayUrl}/-/ready`)).status).toBe(200);
    const expected = relabel(
      discoveryLabels({
        address: `${HOST}:${env.PORT}`,
        namespace: LOCAL_NAMESPACE,
        service: { name: METRICS_SERVICE, labels: FIXTURE_SERVICE_LABELS },
        pod: {
          name: 'erp-api-source-0',
          labels: { 'app.kubernetes.io/name': APP_JOB, 'rollouts-pod-template-hash': SOURCE_POD_TEMPLATE_HASH },
          container: APP_JOB,
        },
        portName: METRICS_PORT,
      }),
      operatorRelabelConfigs(appServiceMonitorSpec(LOCAL_NAMESPACE, FIXTURE_SERVICE_LABELS)),
    );
    expect(Object.keys(expected ?? {}).sort()).toEqual(
      ['container', 'endpoint', 'instance', 'job', 'namespace', 'pod', 'rollouts_pod_template_hash', 'service'].sort(),
    );
    const query = async (expr: string): Promise<{ metric: Record<string, string> }[]> => {
      const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
      return ((await response.json()) as { data: { result: { metric: Record<string, string> }[] } }).data.result;
    };
    const scraped = await poll(
      'the app scraped by Prometheus',
      async () => (await query(`up{${APP_SELECTOR}} == 1`))[0],
    );
    expect(Object.fromEntries(Object.entries(scraped.metric).filter(([key]) => key !== '__name__'))).toEqual(expected);
    // The worker too, as its own ServiceMonitor's relabelling would label it: the job-queue alerts select that job
    const expectedWorker = relabel(
      discoveryLabels({
        address: `${HOST}:${env.SLIPWAY_WORKER_PORT ?? ''}`,
        namespace: LOCAL_NAMESPACE,
        service: { name: WORKER_METRICS_SERVICE, labels: FIXTURE_WORKER_SERVICE_LABELS },
        pod: { name: SOURCE_WORKER_POD, labels: { 'app.kubernetes.io/name': WORKER_JOB }, container: WORKER_JOB },
        portName: METRICS_PORT,
      }),
      operatorRelabelConfigs(workerServiceMonitorSpec(LOCAL_NAMESPACE, FIXTURE_WORKER_SERVICE_LABELS)),
    );
    expect(expectedWorker?.job).toBe(WORKER_JOB);
    const scrapedWorker = await poll(
      'the worker scraped by Prometheus',
      async () => (await query(`up{${WORKER_SELECTOR}} == 1`))[0],
    );
    expect(Object.fromEntries(Object.entries(scrapedWorker.metric).filter(([key]) => key !== '__name__'))).toEqual(
      expectedWorker,
    );
    const rules = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as { data: { groups: unknown[] } };
    expect(rules.data.groups.length).toBeGreaterThan(3);

    // Alertmanager routes the always-firing Watchdog to its receiver, and the local receiver keeps the notification
    const receiverUrl = `http://${HOST}:${env.SLIPWAY_ALERT_RECEIVER_PORT}`;
    expect(table.get('alertmanager')).toBe(`http://${HOST}:${env.SLIPWAY_ALERTMANAGER_PORT}`);
    expect(table.get('alert-receiver')).toBe(receiverUrl);
    // the AnalysisRuns of finished releases, as the Argo Rollouts controller keeps them
    expect(table.get('argo-rollouts')).toBe(`http://${HOST}:${env.SLIPWAY_ARGO_ROLLOUTS_PORT}`);
    const watchdog = await poll('a Watchdog notification at the receiver', async () =>
      (await notifications(receiverUrl, 'watchdog')).find((n) =>
        n.payload.alerts?.some((alert) => alert.labels.alertname === 'Watchdog'),
      ),
    );
    expect(watchdog.payload.status).toBe('firing');

    const status = npm(['run', 'status'], env);
    for (const url of [appUrl, frontDoor, prometheusUrl, receiverUrl, objectStore])
      expect(status.stdout).toContain(url);

    const state = readState(localPaths(env.SLIPWAY_SCOPE).stateFile);
    const pids = state?.services.map((s) => s.pid) ?? [];
    // the above with the backup store and the Pushgateway, plus the job worker and the SMTP sink it sends to
    expect(pids).toHaveLength(14);
    expect(table.get('worker')).toBe(`http://${HOST}:${env.SLIPWAY_WORKER_PORT ?? ''}`);
    expect(table.get('smtp-sink')).toBe(`http://${HOST}:${env.SLIPWAY_SMTP_HTTP_PORT ?? ''}`);
    expect((await fetch(`http://${HOST}:${env.SLIPWAY_WORKER_PORT ?? ''}/health/ready`)).status).toBe(200);

    const again = npm(['start'], env);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('Slipway is already running');
    expect(again.stdout).toContain(appUrl);

    const stopped = npm(['stop'], env);
    expect(stopped.stdout).toContain('Slipway is stopped.');
    expect(stopped.status).toBe(0);
    expect(await exited).toBe(0);
    expect(pids.filter(isAlive)).toEqual([]);
    for (const port of [
      env.PORT,
      env.SLIPWAY_POSTGRES_PORT,
      env.SLIPWAY_REDIS_PORT,
      env.SLIPWAY_REGISTRY_PORT,
      env.SLIPWAY_JAEGER_PORT,
      env.SLIPWAY_JAEGER_OTLP_PORT,
      env.SLIPWAY_NGINX_PORT,
      env.SLIPWAY_PROMETHEUS_PORT,
      env.SLIPWAY_ALERTMANAGER_PORT,
      env.SLIPWAY_ALERT_RECEIVER_PORT,
      env.SLIPWAY_WORKER_PORT,
      env.SLIPWAY_SMTP_PORT,
      env.SLIPWAY_SMTP_HTTP_PORT,
    ]) {
      expect(await isPortFree(HOST, Number(port))).toBe(true);
    }
    expect(existsSync(localPaths(env.SLIPWAY_SCOPE).stateFile)).toBe(false);
    expect(npm(['stop'], env).stdout).toContain('Slipway is not running.');
  }, 240_000);

  test('restarts a killed Redis and counts it; after a kill -9 of the supervisor, npm stop leaves nothing and npm start works again', async () => {
    // a tiny per-IP limit that the calls below use up, as a busy machine would: the administrator is still made
    const env: Awaited<ReturnType<typeof platformEnv>> = {
      ...(await platformEnv()),
      RATE_LIMIT_PER_MINUTE: '2',
      TRUST_PROXY: '1',
    };
    const { child } = await startPlatform(env);
    const { stateFile } = localPaths(env.SLIPWAY_SCOPE);
    const appUrl = `http://${HOST}:${env.PORT}`;
    const serviceOf = (name: string) => readState(stateFile)?.services.find((s) => s.name === name);
    const statusLine = (name: string) =>
      npm(['run', 'status'], env)
        .stdout.split('\n')
        .find((line) => line.trim().startsWith(`${name} `)) ?? '';

    // Redis rewrites its title; the status still sees it running
    expect(statusLine('redis')).toMatch(/redis\s+running\s+pid \d+\s+restarts 0/);
    const redisPid = serviceOf('redis')?.pid ?? 0;
    process.kill(redisPid, 'SIGKILL');
    await expect
      .poll(() => serviceOf('redis'), { timeout: 30_000, interval: 250 })
      .toMatchObject({ restarts: 1, restarting: false });
    expect(serviceOf('redis')?.pid).not.toBe(redisPid);
    expect(statusLine('redis')).toMatch(/redis\s+running\s+pid \d+\s+restarts 1/);
    await expect.poll(async () => (await fetch(`${appUrl}/health/ready`)).status, { timeout: 30_000 }).toBe(200);

    // spend this address's per-minute budget, kept in Redis across the restart below
    for (let n = 0; n < 3; n += 1) await fetch(`${appUrl}/api/v1/roles`);
    expect((await fetch(`${appUrl}/api/v1/roles`)).status).toBe(429);

    const exited = new Promise((resolve) => child.once('exit', resolve));
    const state = readState(stateFile);
    const pids = state?.services.map((s) => s.pid) ?? [];
    process.kill(state?.supervisorPid ?? 0, 'SIGKILL');
    await exited;
    expect(pids.every(isAlive)).toBe(true);

    const stopped = npm(['stop'], env);
    expect(stopped.stdout).toContain('Slipway is stopped.');
    expect(stopped.status).toBe(0);
    expect(pids.filter(isAlive)).toEqual([]);
    for (const port of [env.PORT, env.SLIPWAY_POSTGRES_PORT, env.SLIPWAY_REDIS_PORT, env.SLIPWAY_REGISTRY_PORT]) {
      expect(await isPortFree(HOST, Number(port))).toBe(true);
    }

    const again = await startPlatform(env);
    const againExited = new Promise((resolve) => again.child.once('exit', resolve));
    try {
      const password = readFileSync(adminPasswordFile(env.SLIPWAY_SCOPE), 'utf8').trim();
      const login = await fetch(`${appUrl}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': '10.9.8.7' },
        body: JSON.stringify({ email: LOCAL_ADMIN_EMAIL, password }),
      });
      expect(login.status).toBe(200);
    } finally {
      expect(npm(['stop'], env).status).toBe(0);
      await againExited;
    }
  }, 300_000);

  test('a taken app port fails with the port and the variable to change, and stops what it had started', async () => {
    const env = await platformEnv();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(Number(env.PORT), HOST, resolve));
    try {
      const result = npm(['start'], env);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`app cannot listen on ${HOST}:${env.PORT}`);
      expect(result.stderr).toContain('PORT=<port> npm start');
      for (const port of [env.SLIPWAY_POSTGRES_PORT, env.SLIPWAY_REDIS_PORT]) {
        expect(await isPortFree(HOST, Number(port))).toBe(true);
      }
      expect(existsSync(localPaths(env.SLIPWAY_SCOPE).stateFile)).toBe(false);
    } finally {
      blocker.close();
    }
  }, 240_000);

  test('a malformed port variable is refused before anything starts', async () => {
    const env = { ...(await platformEnv()), SLIPWAY_REDIS_PORT: 'six-thousand' };
    const result = npm(['start'], env);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('SLIPWAY_REDIS_PORT="six-thousand" is not a TCP port');
  });
});

describe('the app settings of the local platform', () => {
  test("lifts the per-client limits by default, hands through the caller's, and nothing else of the caller", async () => {
    const base = await platformEnv();
    const env = {
      ...base,
      RATE_LIMIT_PER_MINUTE: '1000000',
      TRUST_PROXY: '1',
      DATABASE_URL: 'postgresql://elsewhere.invalid/erp',
    };
    const app = localPlatform(env, env.SLIPWAY_SCOPE).find((service) => service.name === 'app');
    expect(app?.env).toMatchObject({ RATE_LIMIT_PER_MINUTE: '1000000', TRUST_PROXY: '1' });
    // the platform's own database, not the caller's
    expect(app?.env?.DATABASE_URL).toContain(`127.0.0.1:${base.SLIPWAY_POSTGRES_PORT ?? '?'}/erp`);
    const plain = localPlatform(
      { ...env, RATE_LIMIT_PER_MINUTE: undefined, TRUST_PROXY: undefined },
      env.SLIPWAY_SCOPE,
    );
    // unset, the local limits apply: every local client is 127.0.0.1 behind nginx, the cluster's one proxy hop
    expect(plain.find((service) => service.name === 'app')?.env).toMatchObject(LOCAL_APP_LIMITS);
    const production = localPlatform({ ...env, RATE_LIMIT_PER_MINUTE: '100', TRUST_PROXY: 'false' }, env.SLIPWAY_SCOPE);
    expect(production.find((service) => service.name === 'app')?.env).toMatchObject({
      RATE_LIMIT_PER_MINUTE: '100',
      TRUST_PROXY: 'false',
    });
  });
});
