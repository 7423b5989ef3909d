import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { removeDirectory } from '../src/platform/accounts.js';
import {
  adminPasswordFile,
  APP_DATABASE,
  LOCAL_ADMIN_EMAIL,
  localPaths,
  localPlatform,
  RUNNING_FOOTER,
} from '../src/platform/local.js';
import { repoRoot } from '../src/platform/paths.js';
import { freePlatformPorts } from './platform-env.js';
import { isAlive } from '../src/platform/processes.js';
import type { PostgresService } from '../src/platform/services/postgres.js';
import { readState } from '../src/platform/supervisor.js';
import { waitUntil } from '../src/testing/wait.js';

const HOST = '127.0.0.1';
const scope = `tracing-${process.pid}`;

/** A span as Jaeger's HTTP query API (`/api/traces/<id>`) returns it. */
interface JaegerSpan {
  readonly spanID: string;
  readonly operationName: string;
  readonly references: readonly { refType: string; spanID: string; traceID: string }[];
  readonly tags: readonly { key: string; value: unknown }[];
}

interface JaegerTrace {
  readonly traceID: string;
  readonly spans: readonly JaegerSpan[];
}

function present<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`no ${what}`);
  return value;
}

const tag = (span: JaegerSpan, key: string): unknown => span.tags.find((t) => t.key === key)?.value;
/** The database a client span talks to, under the stable semantic convention's name or the older one. */
const system = (span: JaegerSpan): unknown => tag(span, 'db.system.name') ?? tag(span, 'db.system');

let env: NodeJS.ProcessEnv & { PORT: string; SLIPWAY_JAEGER_PORT: string };
let platform: ChildProcess | undefined;
let output = '';
let appUrl: string;
let jaegerUrl: string;
let token: string;

function npm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('npm', ['--silent', ...args], { cwd: repoRoot, env, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The app log's JSON lines of one request, by the X-Request-Id the test sent. */
function appLogLines(requestId: string): Record<string, unknown>[] {
  const log = readFileSync(join(localPaths(scope).logDir, 'app.log'), 'utf8');
  return log
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes(`"requestId":"${requestId}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The trace id the access-log line of a request names; waits for the line, written when the response ends. */
async function traceIdOf(requestId: string): Promise<string> {
  return waitUntil(
    `an access-log line with a trace_id for request ${requestId}`,
    () => {
      const access = appLogLines(requestId).find((line) => line.msg === 'request');
      return typeof access?.trace_id === 'string' ? access.trace_id : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 100, seen: () => `its log lines: ${JSON.stringify(appLogLines(requestId))}` },
  );
}

/** Asks Jaeger for a trace until `complete` accepts its spans (the app exports in batches every few seconds). */
async function jaegerTraces(
  traceId: string,
  complete: (spans: readonly JaegerSpan[]) => boolean,
): Promise<JaegerTrace[]> {
  let last = '';
  return waitUntil(
    `a complete trace ${traceId} in Jaeger`,
    async () => {
      const response = await fetch(`${jaegerUrl}/api/traces/${traceId}`);
      const body = await response.text();
      last = `${response.status} ${body}`;
      if (response.status !== 200) return undefined;
      const { data } = JSON.parse(body) as { data: JaegerTrace[] };
      return complete(data.flatMap((t) => t.spans)) ? data : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500, seen: () => `last answer: ${last.slice(0, 2_000)}` },
  );
}

async function api(path: string, requestId: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${appUrl}${path}`, {
    ...init,
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      'X-Request-Id': requestId,
    },
  });
}

beforeAll(async () => {
  env = {
    ...process.env,
    SLIPWAY_SCOPE: scope,
    ...(await freePlatformPorts()),
  };
  appUrl = `http://${HOST}:${env.PORT}`;
  jaegerUrl = `http://${HOST}:${env.SLIPWAY_JAEGER_PORT}`;
  const child = spawn('npm', ['--silent', 'start'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  platform = child;
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not come up in 150 s:\n${output}`)), 150_000);
    child.stdout.on('data', () => {
      if (!output.includes(RUNNING_FOOTER)) return;
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${String(code)} before it was up:\n${output}`));
    });
  });
  const password = readFileSync(adminPasswordFile(scope), 'utf8').trim();
  const login = await fetch(`${appUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: LOCAL_ADMIN_EMAIL, password }),
  });
  expect(login.status).toBe(200);
  ({ access_token: token } = (await login.json()) as { access_token: string });
}, 180_000);

afterAll(async () => {
  if (platform?.exitCode === null) {
    npm(['stop']);
    await new Promise((resolve) => (platform?.exitCode === null ? platform.once('exit', resolve) : resolve(null)));
  }
  const { dir } = localPaths(scope);
  removeDirectory(join(dir, 'postgres', 'data'));
  removeDirectory(join(dir, 'redis', 'data'));
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('traces of the local platform, in its Jaeger', () => {
  test('npm start runs Jaeger and shows its UI; npm run status lists it', () => {
    const words = (text: string, name: string): string[] =>
      text
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .find((line) => line[0] === name) ?? [];
    expect(words(output, 'jaeger')[1]).toBe(jaegerUrl);
    const status = npm(['run', 'status']);
    expect(words(status.stdout, 'jaeger')).toEqual([
      'jaeger',
      'running',
      'pid',
      expect.stringMatching(/^\d+$/),
      'restarts',
      '0',
      jaegerUrl,
    ]);
  });

  test('a read through the app is one trace: the HTTP handler, PostgreSQL and Redis, each span under its parent', async () => {
    const created = await api('/api/v1/products', 'trace-create', {
      method: 'POST',
      body: JSON.stringify({ sku: `TRACE-${process.pid}`, name: 'Traced', price_cents: 100, stock: 5 }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    // the first read misses the product cache: PostgreSQL, then Redis to fill it
    const read = await api(`/api/v1/products/${id}`, 'trace-read');
    expect(read.status).toBe(200);

    const traceId = await traceIdOf('trace-read');
    const traces = await jaegerTraces(
      traceId,
      (spans) =>
        spans.some((span) => system(span) === 'postgresql') &&
        spans.some((span) => system(span) === 'redis') &&
        spans.some((span) => span.references.length === 0),
    );
    expect(traces).toHaveLength(1);
    const spans = traces[0]?.spans ?? [];
    const byId = new Map(spans.map((span) => [span.spanID, span]));
    const parentOf = (span: JaegerSpan): JaegerSpan | undefined =>
      byId.get(span.references.find((ref) => ref.refType === 'CHILD_OF')?.spanID ?? '');

    const roots = spans.filter((span) => span.references.length === 0);
    expect(roots).toHaveLength(1);
    const root = present(roots[0], 'root span');
    expect(tag(root, 'span.kind')).toBe('server');
    expect(root.operationName).toBe('GET /api/v1/products/:id');
    expect(tag(root, 'http.route')).toBe('/api/v1/products/:id');
    expect(tag(root, 'app.request_id')).toBe('trace-read');
    // every other span names a parent inside this trace, and its chain of parents ends at the server span
    for (const span of spans.filter((s) => s !== root)) {
      const chain: JaegerSpan[] = [];
      for (let at = parentOf(span); at !== undefined; at = parentOf(at)) chain.push(at);
      expect(chain.at(-1), `${span.operationName} is not under the server span`).toBe(root);
    }
    const database = spans.filter((span) => system(span) === 'postgresql');
    const redis = spans.filter((span) => system(span) === 'redis');
    expect(database.length).toBeGreaterThanOrEqual(1);
    expect(redis.length).toBeGreaterThanOrEqual(1);
    // the product query runs inside the route's handler, not beside it
    const statement = (span: JaegerSpan): string => String(tag(span, 'db.statement') ?? tag(span, 'db.query.text'));
    const productQuery = database.find((span) => statement(span).includes('FROM products WHERE id'));
    expect(productQuery).toBeDefined();
    expect(parentOf(present(productQuery, 'products.get query span'))?.operationName).toMatch(/^request handler/);

    // the runbook's slow-trace query (runbooks/HighLatencyP99.md), with a threshold this read is above, lists it
    const slow = await fetch(
      `${jaegerUrl}/api/traces?service=erp-api&minDuration=1us&limit=1000&start=${(Date.now() - 3_600_000) * 1000}`,
    );
    expect(((await slow.json()) as { data: JaegerTrace[] }).data.map((t) => t.traceID)).toContain(traceId);

    // the app's log lines of the request carry the same trace id
    const lines = appLogLines('trace-read');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line.trace_id).toBe(traceId);
  }, 60_000);

  test('a request that fails with 500 is a trace marked as an error, and its error log line names that trace', async () => {
    const postgres = localPlatform(env, scope).find((service) => service.name === 'postgres') as PostgresService;
    const client = new pg.Client({ connectionString: postgres.connectionString(APP_DATABASE) });
    await client.connect();
    // a schema the app does not expect: its list query fails with an unmapped SQLSTATE (42P01), a 500
    await client.query('ALTER TABLE products RENAME TO products_hidden_by_test');
    let response: Response;
    try {
      response = await api('/api/v1/products', 'trace-500');
    } finally {
      await client.query('ALTER TABLE products_hidden_by_test RENAME TO products');
      await client.end();
    }
    expect(response.status).toBe(500);
    const envelope = (await response.json()) as { error: { requestId: string } };
    expect(envelope.error.requestId).toBe('trace-500');

    const failed = appLogLines('trace-500').find((line) => line.msg === 'request failed');
    expect(failed).toBeDefined();
    const traceId = failed?.trace_id as string;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(await traceIdOf('trace-500')).toBe(traceId);

    const [trace] = await jaegerTraces(traceId, (spans) => spans.some((span) => span.references.length === 0));
    const root = present(
      trace?.spans.find((span) => span.references.length === 0),
      'root span',
    );
    expect(tag(root, 'http.response.status_code')).toBe(500);
    expect(tag(root, 'otel.status_code')).toBe('ERROR');
    expect(tag(root, 'error')).toBe(true);
    // the reference in the error envelope finds the trace through Jaeger's search
    const search = await fetch(
      `${jaegerUrl}/api/traces?service=erp-api&tags=${encodeURIComponent(JSON.stringify({ 'app.request_id': 'trace-500' }))}`,
    );
    const found = (await search.json()) as { data: JaegerTrace[] };
    expect(found.data.map((t) => t.traceID)).toEqual([traceId]);
    // and the runbook's query for failed requests (runbooks/HighErrorRate.md) lists it; Jaeger 2.12's memory store
    // cannot search by error=true (it reads the tag's string value as a boolean)
    const failures = await fetch(
      `${jaegerUrl}/api/traces?service=erp-api&limit=20&start=${(Date.now() - 3_600_000) * 1000}&tags=${encodeURIComponent(JSON.stringify({ 'http.response.status_code': '500' }))}`,
    );
    const errorTraces = ((await failures.json()) as { data: JaegerTrace[] }).data.map((t) => t.traceID);
    expect(errorTraces).toContain(traceId);
  }, 60_000);

  test('with Jaeger frozen (SIGSTOP: exports hang instead of failing fast), requests still succeed', async () => {
    // frozen, not killed: the supervisor stops the whole platform when a service dies, and a hung backend is the
    // harder case for the exporter (a dead one refuses at once)
    const jaeger = readState(localPaths(scope).stateFile)?.services.find((service) => service.name === 'jaeger');
    expect(jaeger).toBeDefined();
    const pid = jaeger?.pid ?? 0;
    expect(isAlive(pid)).toBe(true);
    process.kill(pid, 'SIGSTOP');
    try {
      // more than one export batch's worth of spans, sent while nothing answers on the OTLP port
      for (let i = 0; i < 50; i++) {
        const response = await api('/api/v1/products?limit=1', `no-jaeger-${i}`);
        expect(response.status).toBe(200);
      }
      expect((await fetch(`${appUrl}/health/ready`)).status).toBe(200);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }, 60_000);
});
