import { readFileSync } from 'node:fs';
import { request } from 'node:http';

import { Router } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  APP_METRICS,
  DEFAULT_METRICS,
  HTTP_DURATION_BUCKETS,
  METRIC_CATALOGUE,
  PUSHED_METRICS,
} from '../src/observability/metric-catalogue.js';
import { waitUntil } from '@slipway/pipelines/testing/wait';
import type { MetricDefinition } from '../src/observability/metric-catalogue.js';
import { isUnmeasured, joinRoute, methodLabel } from '../src/observability/http-metrics.js';
import { Metrics } from '../src/observability/metrics.js';
import type { QueryObservation } from '../src/observability/metrics.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';
import { parseExposition, sampleValue, scrape } from './support/prometheus.js';

/** What a registered metric looks like at runtime: prom-client keeps the label names on the instance. */
interface RegisteredMetric {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly labelNames: readonly string[];
}

function shape(definition: MetricDefinition | RegisteredMetric): string {
  return JSON.stringify({
    name: definition.name,
    type: definition.type,
    help: definition.help,
    labelNames: [...definition.labelNames],
  });
}

describe('metric catalogue', () => {
  it('is what the registry exposes: the same names, types, help and label names, nothing more', () => {
    const metrics = new Metrics();
    const registered = (metrics.registry.getMetricsAsArray() as unknown as RegisteredMetric[]).map(shape).sort();
    // the drill's metrics are pushed to the Pushgateway by the command, never served on /metrics
    const pushed = new Set<MetricDefinition>(Object.values(PUSHED_METRICS));
    const expected = METRIC_CATALOGUE.filter((definition) => !pushed.has(definition))
      .filter(
        (definition) => process.platform === 'linux' || !('linuxOnly' in definition && definition.linuxOnly === true),
      )
      .map(shape)
      .sort();
    expect(registered).toEqual(expected);
  });

  it('is plain data: the module imports nothing, so monitoring can read it without prom-client', () => {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the catalogue's own source file
    const source = readFileSync(new URL('../src/observability/metric-catalogue.ts', import.meta.url), 'utf8');
    expect(source).not.toMatch(/^\s*import\b/m);
    expect(source).not.toMatch(/\bawait\b|\bnew\b|\brequire\(/);
  });

  it('names every metric once, in Prometheus style, with the unit suffixes Prometheus expects', () => {
    const names = METRIC_CATALOGUE.map((definition) => definition.name);
    expect(new Set(names).size).toBe(names.length);
    for (const definition of METRIC_CATALOGUE) {
      expect(definition.name).toMatch(/^[a-z][a-z0-9_]*$/);
      for (const label of definition.labelNames) expect(label).toMatch(/^[a-z][a-z0-9_]*$/);
      if (definition.type === 'counter') expect(definition.name).toMatch(/_total$/);
      if (definition.type === 'histogram') expect(definition.name).toMatch(/_seconds$/);
    }
    for (const definition of Object.values(APP_METRICS)) {
      const values = 'labelValues' in definition ? definition.labelValues : {};
      for (const label of Object.keys(values)) expect(definition.labelNames).toContain(label);
    }
  });

  it('has request-duration buckets from 5 ms to 5 s with an edge at the 500 ms SLO', () => {
    expect(HTTP_DURATION_BUCKETS[0]).toBe(0.005);
    expect(HTTP_DURATION_BUCKETS.at(-1)).toBe(5);
    expect(HTTP_DURATION_BUCKETS).toContain(0.5);
    expect([...HTTP_DURATION_BUCKETS].sort((a, b) => a - b)).toEqual([...HTTP_DURATION_BUCKETS]);
  });

  it('lists the default process metrics apart, so monitoring can tell them from the service’s own', () => {
    expect(DEFAULT_METRICS.map((definition) => definition.name)).toContain('process_resident_memory_bytes');
    expect(DEFAULT_METRICS.map((definition) => definition.name)).toContain('nodejs_eventloop_lag_p99_seconds');
  });
});

describe('Metrics recording functions', () => {
  async function samples(metrics: Metrics) {
    return parseExposition((await metrics.exposition()).body);
  }

  it('starts the closed label sets at zero, so rate() works before the first event', async () => {
    const all = await samples(new Metrics({ defaultMetrics: false }));
    for (const result of ['success', 'failure', 'locked', 'rate_limited']) {
      expect(sampleValue(all, 'auth_login_attempts_total', { result })).toBe(0);
    }
    expect(sampleValue(all, 'rate_limit_blocks_total', { limiter: 'general' })).toBe(0);
    expect(sampleValue(all, 'auth_lockouts_total')).toBe(0);
    expect(sampleValue(all, 'auth_address_lockouts_total')).toBe(0);
    expect(sampleValue(all, 'backup_last_success_timestamp_seconds')).toBe(0);
  });

  it('records what each component reports, on its own registry only', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const other = new Metrics({ defaultMetrics: false });
    metrics.authLoginAttempt('failure');
    metrics.authLoginAttempt('failure');
    metrics.authLockout();
    metrics.authTokenValidation('expired');
    metrics.dbQuery('orders.findById', 0.004, true);
    metrics.dbQuery('orders.findById', 0.2, false);
    metrics.dbTransactionRetry();
    metrics.dbTransactionRollback();
    metrics.cacheOperation('permissions', 'hit', 0.0007);
    metrics.rateLimitBlock('login');
    metrics.userCreated();
    metrics.backupSucceeded(new Date('2026-01-02T03:04:05Z'));

    const all = await samples(metrics);
    expect(sampleValue(all, 'auth_login_attempts_total', { result: 'failure' })).toBe(2);
    expect(sampleValue(all, 'auth_lockouts_total')).toBe(1);
    expect(sampleValue(all, 'auth_token_validations_total', { result: 'expired' })).toBe(1);
    expect(sampleValue(all, 'db_queries_total', { operation: 'orders.findById', result: 'success' })).toBe(1);
    expect(sampleValue(all, 'db_queries_total', { operation: 'orders.findById', result: 'error' })).toBe(1);
    expect(sampleValue(all, 'db_query_duration_seconds_bucket', { operation: 'orders.findById', le: '0.005' })).toBe(1);
    expect(sampleValue(all, 'db_query_duration_seconds_count', { operation: 'orders.findById' })).toBe(2);
    expect(sampleValue(all, 'db_transaction_retries_total')).toBe(1);
    expect(sampleValue(all, 'db_transaction_rollbacks_total')).toBe(1);
    expect(sampleValue(all, 'cache_operations_total', { cache: 'permissions', result: 'hit' })).toBe(1);
    expect(sampleValue(all, 'cache_operation_duration_seconds_count', { cache: 'permissions' })).toBe(1);
    expect(sampleValue(all, 'rate_limit_blocks_total', { limiter: 'login' })).toBe(1);
    expect(sampleValue(all, 'users_created_total')).toBe(1);
    expect(sampleValue(all, 'backup_last_success_timestamp_seconds')).toBe(Date.UTC(2026, 0, 2, 3, 4, 5) / 1000);

    const untouched = await samples(other);
    expect(sampleValue(untouched, 'auth_login_attempts_total', { result: 'failure' })).toBe(0);
    expect(sampleValue(untouched, 'db_queries_total', { operation: 'orders.findById', result: 'success' })).toBe(
      undefined,
    );
  });

  it('follows a database through its query events and reads its pool at every scrape', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const listeners = new Set<(event: QueryObservation) => void>();
    let pool = { total: 3, idle: 1, waiting: 0 };
    const stop = metrics.observeDatabase({
      onQuery: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      stats: () => pool,
    });
    for (const listener of listeners) listener({ operation: 'users.create', durationMs: 12, ok: true });

    let all = await samples(metrics);
    expect(sampleValue(all, 'db_queries_total', { operation: 'users.create', result: 'success' })).toBe(1);
    expect(sampleValue(all, 'db_query_duration_seconds_sum', { operation: 'users.create' })).toBeCloseTo(0.012);
    expect(sampleValue(all, 'db_pool_connections', { state: 'total' })).toBe(3);
    expect(sampleValue(all, 'db_pool_connections', { state: 'idle' })).toBe(1);
    expect(sampleValue(all, 'db_pool_connections', { state: 'waiting' })).toBe(0);

    pool = { total: 10, idle: 0, waiting: 4 };
    all = await samples(metrics);
    expect(sampleValue(all, 'db_pool_connections', { state: 'waiting' })).toBe(4);

    stop();
    expect(listeners.size).toBe(0);
  });
});

describe('route and method labels', () => {
  it.each([
    ['', '/api/v1/orders/:id', '/api/v1/orders/:id'],
    ['/api/v1/orders', '/:id', '/api/v1/orders/:id'],
    ['/api/v1/orders', '/', '/api/v1/orders'],
    ['/health', '/live', '/health/live'],
  ])('mount %j + route %j is %j', (mount, route, label) => {
    expect(joinRoute(mount, route)).toBe(label);
  });

  it('keeps standard methods and folds the rest into one value', () => {
    expect(methodLabel('GET')).toBe('GET');
    expect(methodLabel('PATCH')).toBe('PATCH');
    expect(methodLabel('BREW')).toBe('other');
  });
});

describe('/metrics on a running app', () => {
  let app: TestApp;
  let releaseSlow: (() => void) | undefined;
  let slowStarted: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    const orders = Router();
    orders.get('/:id', async (_req, res) => {
      await app.db.query('orders.probe', 'SELECT 1 AS one');
      res.json({ ok: true });
    });
    orders.get('/:id/fail', () => {
      throw new Error('boom on purpose');
    });
    const api = Router();
    api.use('/api/v1/orders', orders);
    api.get('/slow', async (_req, res) => {
      await new Promise<void>((resolve) => {
        releaseSlow = resolve;
      });
      res.json({ ok: true });
    });
    app = await startTestApp({ routers: [api] });
  });

  afterAll(async () => {
    await app.close();
  });

  it('serves the Prometheus text format, uncached', async () => {
    const response = await fetch(`${app.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const text = await response.text();
    expect(text).toContain('# TYPE http_requests_total counter');
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('labels requests with the route pattern joined with the mount path, never the raw path', async () => {
    for (const id of ['41', '42', '43']) expect((await fetch(`${app.url}/api/v1/orders/${id}`)).status).toBe(200);
    expect((await fetch(`${app.url}/api/v1/orders/44/fail`)).status).toBe(500);
    expect((await fetch(`${app.url}/no/such/thing/123`)).status).toBe(404);

    const all = await scrape(app.url);
    const route = (pattern: string, status: string) => ({ method: 'GET', route: pattern, status });
    expect(sampleValue(all, 'http_requests_total', route('/api/v1/orders/:id', '200'))).toBe(3);
    // The error left the nested router before the response; the pattern was taken when the route matched.
    expect(sampleValue(all, 'http_requests_total', route('/api/v1/orders/:id/fail', '500'))).toBe(1);
    expect(sampleValue(all, 'http_requests_total', route('unmatched', '404'))).toBeGreaterThanOrEqual(1);
    expect(sampleValue(all, 'http_request_duration_seconds_count', route('/api/v1/orders/:id', '200'))).toBe(3);
    expect(all.some((sample) => /\d{2}/.test(sample.labels.route ?? ''))).toBe(false);
    expect(sampleValue(all, 'db_queries_total', { operation: 'orders.probe', result: 'success' })).toBe(3);
    expect(sampleValue(all, 'db_pool_connections', { state: 'total' })).toBeGreaterThanOrEqual(1);
  });

  it('leaves probes and scrapes out of the request metrics, so they never dilute an SLI', async () => {
    const requests = async (): Promise<number> =>
      (await scrape(app.url))
        .filter((sample) => sample.name === 'http_requests_total')
        .reduce((total, sample) => total + sample.value, 0);
    const before = await requests();
    for (const path of ['/health/live', '/health/ready', '/health', '/metrics', '/metrics/'])
      await (await fetch(`${app.url}${path}`)).arrayBuffer();
    expect(await requests()).toBe(before);
    expect(isUnmeasured('/healthz')).toBe(false);
    expect(isUnmeasured('/api/v1/metrics')).toBe(false);
  });

  it('shows requests in flight while they run', async () => {
    slowStarted = new Promise((resolve) => {
      const waitForHandler = setInterval(() => {
        if (releaseSlow !== undefined) {
          clearInterval(waitForHandler);
          resolve();
        }
      }, 5);
    });
    const slow = fetch(`${app.url}/slow`);
    await slowStarted;
    // The scrape itself is not counted: /metrics is left out of the request metrics.
    expect(sampleValue(await scrape(app.url), 'http_requests_in_flight')).toBe(1);
    releaseSlow?.();
    releaseSlow = undefined;
    expect((await slow).status).toBe(200);
    expect(sampleValue(await scrape(app.url), 'http_requests_in_flight')).toBe(0);
  });

  it('records a request whose client went away as status 499', async () => {
    const call = request(`${app.url}/slow`);
    const aborted = new Promise<void>((resolve) => call.on('error', () => resolve()));
    call.end();
    await waitUntil('the /slow handler to run', () => releaseSlow !== undefined, { intervalMs: 5 });
    call.destroy();
    await aborted;
    // the server counts the request when it sees the connection close, while the handler still waits
    await waitUntil(
      'the aborted /slow request to be counted as 499',
      async () => sampleValue(await scrape(app.url), 'http_requests_total', { route: '/slow', status: '499' }) === 1,
    );
    releaseSlow?.();
    releaseSlow = undefined;
    const all = await scrape(app.url);
    expect(sampleValue(all, 'http_requests_total', { route: '/slow', status: '499' })).toBe(1);
    expect(sampleValue(all, 'http_requests_in_flight')).toBe(0);
  });
});
