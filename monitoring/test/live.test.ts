import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';

import { createTestDatabase } from '@slipway/app/testing/database';
import type { TestDatabase } from '@slipway/app/testing/database';
import { parseExposition } from '@slipway/app/testing/prometheus';
import { testServices } from '@slipway/app/testing/services';
import { freePort } from '@slipway/pipelines/platform/ports';
import { silentProgress } from '@slipway/pipelines/platform/progress';
import { appService } from '@slipway/pipelines/platform/services/app';
import { workerService } from '@slipway/pipelines/platform/services/worker';
import { Supervisor } from '@slipway/pipelines/platform/supervisor';
import type { ServiceDefinition } from '@slipway/pipelines/platform/supervisor';
import { appUnderTestEnv } from '@slipway/pipelines/testing/app-under-test';
import { waitUntil } from '@slipway/pipelines/testing/wait';
import { CLUSTER_ONLY, RELEASE_ONLY } from '../src/cluster-only.js';
import {
  APP_JOB,
  APP_JOB_LABEL,
  APP_SELECTOR,
  METRICS_PORT,
  METRICS_SERVICE,
  WORKER_JOB,
  WORKER_METRICS_SERVICE,
  WORKER_SELECTOR,
} from '../src/config.js';
import { FIXTURE_SERVICE_LABELS, FIXTURE_WORKER_SERVICE_LABELS } from '../src/fixtures.js';
import {
  appServiceMonitorSpec,
  discoveryLabels,
  operatorRelabelConfigs,
  relabel,
  workerServiceMonitorSpec,
} from '../src/service-monitor.js';
import type { DiscoveredEndpoint } from '../src/service-monitor.js';
import { DASHBOARDS } from '../src/dashboards/index.js';
import { metricsIn } from '../src/metric-check.js';
import { RECORDING_RULES } from '../src/rules.js';
import { EDGE_AVAILABILITY, ROUTE_GROUPS } from '../src/slo.js';
import { GENERATED } from './support/paths.js';
import { requireTool } from './support/tools.js';

const HOST = '127.0.0.1';
const LIVE_NAMESPACE = 'live';

function withoutLabel(labels: Readonly<Record<string, string>>, name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([key]) => key !== name));
}

/** The app process as Kubernetes discovery would describe a pod of the metrics Service. */
function liveEndpoint(address: string): DiscoveredEndpoint {
  return {
    address,
    namespace: LIVE_NAMESPACE,
    service: { name: METRICS_SERVICE, labels: FIXTURE_SERVICE_LABELS },
    pod: {
      name: `${APP_JOB}-stable-0`,
      labels: { 'app.kubernetes.io/name': APP_JOB, 'rollouts-pod-template-hash': 'stable' },
      container: APP_JOB,
    },
    portName: METRICS_PORT,
  };
}
/** The worker process as discovery would describe a pod of the worker's metrics Service. */
function liveWorkerEndpoint(address: string): DiscoveredEndpoint {
  return {
    address,
    namespace: LIVE_NAMESPACE,
    service: { name: WORKER_METRICS_SERVICE, labels: FIXTURE_WORKER_SERVICE_LABELS },
    pod: { name: `${WORKER_JOB}-0`, labels: { [APP_JOB_LABEL]: WORKER_JOB }, container: WORKER_JOB },
    portName: METRICS_PORT,
  };
}

const workerRelabelling = () =>
  operatorRelabelConfigs(workerServiceMonitorSpec(LIVE_NAMESPACE, FIXTURE_WORKER_SERVICE_LABELS));

/** What Grafana substitutes for $__rate_interval at a 1 s scrape interval and a short range. */
const RATE_INTERVAL = '1m';

interface Query {
  readonly where: string;
  readonly expr: string;
  readonly sources?: readonly string[];
}

/**
 * Queries allowed to return nothing here, and why: the cluster-only metrics (monitoring/src/cluster-only.ts, the list
 * the dashboard preview uses too), and app metrics this test's traffic does not reach. Each app entry is checked: a
 * metric listed as absent must really be absent from the app's /metrics, so the list shrinks as the app grows.
 */
const ABSENT_HERE: readonly { readonly metrics: readonly string[]; readonly reason: string; readonly app: boolean }[] =
  [
    ...[...CLUSTER_ONLY, ...RELEASE_ONLY].map((entry) => ({ ...entry, app: false })),
    {
      metrics: [
        'db_queries_total',
        'db_query_duration_seconds_bucket',
        'db_query_duration_seconds_count',
        'cache_operations_total',
        'cache_operation_duration_seconds_bucket',
      ],
      reason:
        'no endpoint of the app issues labelled database queries or cache lookups yet (the series appear on first use)',
      app: true,
    },
  ];

const dashboardQueries: Query[] = DASHBOARDS.flatMap((dashboard) =>
  dashboard.rows.flatMap((row) =>
    row.panels.flatMap((panel) =>
      panel.queries.map((query) => ({
        where: `${dashboard.uid} / ${panel.title}`,
        // What Grafana substitutes for All of the namespace and instance variables.
        expr: query.expr
          .replaceAll('$__rate_interval', RATE_INTERVAL)
          .replaceAll('$namespace', '.*')
          .replaceAll('$instance', '.*'),
      })),
    ),
  ),
);
const recordingQueries: Query[] = RECORDING_RULES.map((rule) => ({
  where: `recording rule for ${rule.labels.slo ?? '?'}`,
  expr: `${rule.record}{slo="${rule.labels.slo ?? ''}"}`,
  // The recorded series carry no metric name of their source; take it from the rule's expression.
  sources: metricsIn(rule.expr),
}));

describe('live: the real app scraped by a real Prometheus with the generated rules', () => {
  let dir: string;
  let database: TestDatabase;
  let supervisor: Supervisor;
  let appUrl: string;
  let appAddress: string;
  let workerAddress: string;
  let prometheusUrl: string;

  beforeAll(async () => {
    requireTool('prometheus');
    dir = mkdtempSync(join(tmpdir(), 'slipway-live-'));
    database = await createTestDatabase('monitoring_live');
    supervisor = new Supervisor(join(dir, 'state.json'), join(dir, 'logs'), silentProgress);
    const appPort = await freePort(HOST);
    appUrl = `http://${HOST}:${appPort}`;
    appAddress = `${HOST}:${appPort}`;
    // `targets` sets __address__; the rest is what discovery would attach.
    const scrapeMetaLabels = withoutLabel(discoveryLabels(liveEndpoint(appAddress)), '__address__');
    await supervisor.start(
      appService({
        host: HOST,
        port: appPort,
        portEnv: 'none (the test picks a free port)',
        env: appUnderTestEnv({ databaseUrl: database.url, redisUrl: testServices().redis.url }),
      }),
    );

    // The worker serves the job-queue metrics the Jobs dashboard and the job alerts read.
    const workerPort = await freePort(HOST);
    workerAddress = `${HOST}:${workerPort}`;
    await supervisor.start(
      workerService({
        host: HOST,
        port: workerPort,
        portEnv: 'none (the test picks a free port)',
        env: {
          ...appUnderTestEnv({ databaseUrl: database.url, redisUrl: testServices().redis.url }),
          // The outbox scan is an email job every second: attempt series exist; no row is due, so nothing is sent.
          SMTP_URL: 'smtp://127.0.0.1:1',
          EMAIL_OUTBOX_POLL_MS: '1000',
        },
      }),
    );

    const promPort = await freePort(HOST);
    prometheusUrl = `http://${HOST}:${promPort}`;
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [join(GENERATED, 'rules.yaml')],
        scrape_configs: [
          {
            // The job name and relabelling prometheus-operator writes for the app's ServiceMonitor.
            job_name: `serviceMonitor/monitoring/${APP_JOB}/0`,
            static_configs: [{ targets: [appAddress], labels: scrapeMetaLabels }],
            relabel_configs: operatorRelabelConfigs(appServiceMonitorSpec(LIVE_NAMESPACE, FIXTURE_SERVICE_LABELS)),
          },
          {
            job_name: `serviceMonitor/monitoring/${WORKER_JOB}/0`,
            static_configs: [
              {
                targets: [workerAddress],
                labels: withoutLabel(discoveryLabels(liveWorkerEndpoint(workerAddress)), '__address__'),
              },
            ],
            relabel_configs: workerRelabelling(),
          },
        ],
      }),
    );
    const prometheus: ServiceDefinition = {
      name: 'prometheus',
      host: HOST,
      port: promPort,
      portEnv: 'none (the test picks a free port)',
      url: prometheusUrl,
      command: 'prometheus',
      args: [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=${HOST}:${promPort}`,
      ],
      readyTimeoutMs: 20_000,
      probe: async () => {
        const response = await fetch(`${prometheusUrl}/-/ready`, { signal: AbortSignal.timeout(1_000) });
        if (!response.ok) throw new Error(`/-/ready answered ${response.status}`);
      },
    };
    await supervisor.start(prometheus);

    // Successes, 404s and readiness checks, so request, status and latency series all exist.
    const paths = ['/health/live', '/health/ready', '/no-such-route', '/api/v1/orders', '/api/v1/auth/login'];
    for (let round = 0; round < 60; round += 1)
      await Promise.all(paths.map((path) => fetch(`${appUrl}${path}`).then((response) => response.arrayBuffer())));
  }, 120_000);

  afterAll(async () => {
    await supervisor.stopAll();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  test('the app is scraped with the labels the ServiceMonitor relabelling gives it, job among them', async () => {
    const expected = relabel(
      discoveryLabels(liveEndpoint(appAddress)),
      operatorRelabelConfigs(appServiceMonitorSpec(LIVE_NAMESPACE, FIXTURE_SERVICE_LABELS)),
    );
    expect(expected?.job).toBe(APP_JOB);
    const labels = await scrapedLabels(`up{${APP_SELECTOR}}`);
    const scraped = withoutLabel(labels, '__name__');
    expect(scraped, 'the labels Prometheus attached differ from what the relabelling emulation predicts').toEqual(
      expected,
    );
  }, 30_000);

  test("the worker is scraped with the labels its ServiceMonitor's relabelling gives it, job among them", async () => {
    const expected = relabel(discoveryLabels(liveWorkerEndpoint(workerAddress)), workerRelabelling());
    expect(expected?.job).toBe(WORKER_JOB);
    const labels = await scrapedLabels(`up{${WORKER_SELECTOR}}`);
    expect(withoutLabel(labels, '__name__')).toEqual(expected);
  }, 30_000);

  /** The labels of the first series `expr` returns, once Prometheus has scraped it (at most 20 s). */
  async function scrapedLabels(expr: string): Promise<Record<string, string>> {
    return waitUntil(
      `Prometheus to scrape a series for ${expr}`,
      async () => {
        const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
        const body = (await response.json()) as { data?: { result: { metric: Record<string, string> }[] } };
        return body.data?.result[0]?.metric;
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
  }

  async function instant(expr: string): Promise<number> {
    const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as { status: string; error?: string; data?: { result: unknown[] } };
    if (body.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${body.error ?? response.status}`);
    return body.data?.result.length ?? 0;
  }

  test('every dashboard query and every recording rule returns data, except the reasoned absent list', async () => {
    const exposed = new Set(
      parseExposition(await (await fetch(`${appUrl}/metrics`)).text()).map((sample) => sample.name),
    );
    const absentApp = ABSENT_HERE.filter((entry) => entry.app).flatMap((entry) => entry.metrics);
    const nowPresent = absentApp.filter((metric) => exposed.has(metric));
    expect(
      nowPresent,
      'the app exports these now: drive traffic that fills them and remove them from ABSENT_HERE',
    ).toEqual([]);

    const absent = new Set(ABSENT_HERE.flatMap((entry) => entry.metrics));
    const routes = parseExposition(await (await fetch(`${appUrl}/metrics`)).text())
      .filter((sample) => sample.name === 'http_requests_total')
      .map((sample) => sample.labels.route ?? '');
    const groupServed = (group: string): boolean => {
      const matcher = ROUTE_GROUPS[group as keyof typeof ROUTE_GROUPS].routeMatcher;
      const pattern = /route=~"(.*)"/.exec(matcher)?.[1];
      // Anchored at both ends, as Prometheus anchors label regexes.
      return pattern === undefined || routes.some((route) => new RegExp(`^(?:${pattern})$`).test(route));
    };

    const expectData = (query: Query): boolean => {
      if ([...metricsIn(query.expr), ...(query.sources ?? [])].some((metric) => absent.has(metric))) return false;
      const group = /slo="(\w+)-/.exec(query.expr)?.[1];
      // The edge SLO's series come from ingress-nginx, absent here.
      if (group === EDGE_AVAILABILITY.name.split('-')[0]) return false;
      return group === undefined || groupServed(group);
    };
    const queries = [...dashboardQueries, ...recordingQueries];
    const wanted = queries.filter(expectData);
    expect(wanted.length).toBeGreaterThan(40);

    // Recording rules need two scrapes and an evaluation after the traffic; poll until all answer or time runs out.
    let empty: Query[] = wanted;
    await waitUntil(
      'every dashboard and recording-rule query to return data',
      async () => {
        const counts = await Promise.all(empty.map((query) => instant(query.expr)));
        empty = empty.filter((_query, index) => counts[index] === 0);
        return empty.length === 0;
      },
      {
        timeoutMs: 30_000,
        intervalMs: 1_000,
        seen: () =>
          `these queries returned no data from the live app:\n${empty.map((query) => `${query.where}: ${query.expr}`).join('\n')}`,
      },
    );

    // The rest must at least be valid PromQL to this Prometheus.
    for (const query of queries.filter((q) => !expectData(q))) await instant(query.expr);
  }, 60_000);
});
