/**
 * The seam between the worker's Deployment, its ServiceMonitor, KEDA's trigger and the job alerts, on real processes:
 * `erp-api worker` started with the environment the dev stack gives its pods, scraped by a real Prometheus through the
 * relabelling prometheus-operator writes for the rendered ServiceMonitor, with the Service and pod labels the stack
 * renders. KEDA's query must return a sample there (an empty one is an error, see ignoreNullValues), and
 * JobQueueNotConsumed's `up` selector must find the worker, so the alert is quiet once the worker is deployed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';

import { createMigratedDatabase, type TestDatabase } from '@slipway/app/testing/database';
import { testServices } from '@slipway/app/testing/services';
import { APP_METRICS } from '@slipway/app/observability/metric-catalogue';
import { WORKER_JOB } from '@slipway/monitoring/config';
import { analyzePromql } from '@slipway/monitoring/promql';
import {
  discoveryLabels,
  operatorRelabelConfigs,
  relabel,
  type ServiceMonitorSpec,
} from '@slipway/monitoring/service-monitor';
import { requireTool } from '@slipway/monitoring/testing/tools';
import { freePort } from '@slipway/pipelines/platform/ports';
import { silentProgress } from '@slipway/pipelines/platform/progress';
import { workerService } from '@slipway/pipelines/platform/services/worker';
import { Supervisor, type ServiceDefinition } from '@slipway/pipelines/platform/supervisor';
import { MONITORING_GENERATED_DIR } from '../src/monitoring-sources.js';
import { scaledObjectOf, workerOf, workloadEnvironment } from './support/contracts.js';
import { ofType, runStack, unwrapSecrets, type StackRun } from './support/stack.js';

const HOST = '127.0.0.1';
type Props = Record<string, unknown>;
const rec = (value: unknown): Props =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Props) : {};

/** What the dev stack renders for the worker: its pod, metrics Service, ServiceMonitor and KEDA trigger. */
interface RenderedWorker {
  readonly namespace: string;
  readonly podLabels: Record<string, string>;
  readonly container: string;
  readonly environment: Record<string, string>;
  readonly service: { readonly name: string; readonly labels: Record<string, string> };
  readonly monitor: ServiceMonitorSpec;
  readonly trigger: { readonly query: string; readonly threshold: string };
}

function renderedWorker(run: StackRun): RenderedWorker {
  const worker = workerOf(run);
  if (worker === undefined) throw new Error('the dev stack has no worker Deployment');
  const namespace = String(rec(worker.resource.inputs.metadata).namespace);
  const service = ofType(run, 'kubernetes:core/v1:Service')
    .map((resource) => rec(resource.inputs))
    .find(
      (inputs) =>
        rec(inputs.metadata).namespace === namespace &&
        Object.entries(rec(rec(inputs.spec).selector)).every(([key, value]) => worker.podLabels[key] === value) &&
        rec(rec(inputs.metadata).labels)['slipway.dev/metrics'] === 'true',
    );
  if (service === undefined) throw new Error('no metrics Service selects the worker pods');
  const serviceName = String(rec(service.metadata).name);
  const serviceLabels = rec(rec(service.metadata).labels) as Record<string, string>;
  const monitor = ofType(run, 'kubernetes:monitoring.coreos.com/v1:ServiceMonitor')
    .map((resource) => rec(unwrapSecrets(resource.inputs)).spec as ServiceMonitorSpec)
    .find(
      (spec) =>
        spec.namespaceSelector.matchNames.includes(namespace) &&
        Object.entries(spec.selector.matchLabels).every(([key, value]) => serviceLabels[key] === value),
    );
  if (monitor === undefined) throw new Error(`no ServiceMonitor selects Service ${serviceName}`);
  const scaler = scaledObjectOf(run, worker.resource);
  const trigger = rec((rec(scaler?.inputs.spec).triggers as unknown[] | undefined)?.[0]);
  const metadata = rec(trigger.metadata);
  if (trigger.type !== 'prometheus' || typeof metadata.query !== 'string')
    throw new Error('the worker has no ScaledObject with a Prometheus trigger');
  const container = rec((worker.pod.containers as unknown[])[0]);
  return {
    namespace,
    podLabels: worker.podLabels as Record<string, string>,
    container: String(container.name),
    environment: workloadEnvironment(run, worker.resource),
    service: { name: serviceName, labels: serviceLabels },
    monitor,
    trigger: { query: metadata.query, threshold: String(metadata.threshold) },
  };
}

/** The alert rules of monitoring/generated/rules.json by name: every expression Prometheus loads. */
function alertExpressions(name: string): string[] {
  const rules = JSON.parse(readFileSync(join(MONITORING_GENERATED_DIR, 'rules.json'), 'utf8')) as {
    groups: { rules: { alert?: string; expr: string }[] }[];
  };
  return rules.groups.flatMap((group) => group.rules.filter((rule) => rule.alert === name).map((rule) => rule.expr));
}

describe('the worker as deployed: KEDA and the job alerts select the series it really exports', () => {
  let rendered: RenderedWorker;
  let dir: string;
  let database: TestDatabase;
  let supervisor: Supervisor;
  let prometheusUrl: string;
  let workerAddress: string;

  async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${String(body.error)}`);
    return body.data?.result ?? [];
  }

  /** Polls until Prometheus has scraped the worker (1 s interval) and the result is non-empty, or 15 s passed. */
  async function eventually<T>(read: () => Promise<T[]>): Promise<T[]> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const result = await read();
      if (result.length > 0 || Date.now() > deadline) return result;
      await sleep(500);
    }
  }

  beforeAll(async () => {
    requireTool('prometheus');
    rendered = renderedWorker(await runStack('dev'));
    dir = mkdtempSync(join(tmpdir(), 'slipway-worker-scaling-'));
    database = await createMigratedDatabase();
    supervisor = new Supervisor(join(dir, 'state.json'), join(dir, 'logs'), silentProgress);

    const workerPort = await freePort(HOST);
    workerAddress = `${HOST}:${workerPort}`;
    await supervisor.start(
      workerService({
        host: HOST,
        port: workerPort,
        portEnv: 'none (the test picks a free port)',
        env: {
          // The pod's own environment, with the cluster's addresses swapped for the test's.
          ...rendered.environment,
          DATABASE_URL: database.url,
          REDIS_URL: testServices().redis.url,
          SMTP_URL: 'smtp://127.0.0.1:1',
          OTEL_EXPORTER_OTLP_ENDPOINT: '',
          LOG_LEVEL: 'warn',
        },
      }),
    );

    const endpoint = {
      address: workerAddress,
      namespace: rendered.namespace,
      service: rendered.service,
      pod: { name: `${rendered.container}-6b8d4f7c9-h4n2v`, labels: rendered.podLabels, container: rendered.container },
      portName: rendered.monitor.endpoints[0]?.port ?? '',
    };
    const meta = Object.fromEntries(
      Object.entries(discoveryLabels(endpoint)).filter(([name]) => name !== '__address__'),
    );
    const promPort = await freePort(HOST);
    prometheusUrl = `http://${HOST}:${promPort}`;
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        scrape_configs: [
          {
            // The job name and relabelling prometheus-operator writes for the rendered ServiceMonitor.
            job_name: `serviceMonitor/monitoring/${rendered.service.name}/0`,
            static_configs: [{ targets: [workerAddress], labels: meta }],
            relabel_configs: operatorRelabelConfigs(rendered.monitor),
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
  }, 120_000);

  afterAll(async () => {
    await supervisor.stopAll();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  test("KEDA's query names a metric of the catalogue, with its labels, and the scrape labels the worker gets", () => {
    const target = relabel(
      discoveryLabels({
        address: workerAddress,
        namespace: rendered.namespace,
        service: rendered.service,
        pod: { name: `${rendered.container}-0`, labels: rendered.podLabels, container: rendered.container },
        portName: rendered.monitor.endpoints[0]?.port ?? '',
      }),
      operatorRelabelConfigs(rendered.monitor),
    );
    expect(target?.job).toBe(WORKER_JOB);
    const { selectors, syntaxErrors } = analyzePromql(rendered.trigger.query);
    expect(syntaxErrors).toEqual([]);
    expect(selectors.map((selector) => selector.metric)).toEqual([APP_METRICS.jobsQueueDepth.name]);
    // The metric's own labels (from the catalogue the worker's registry is built from), then the scrape's.
    const metricLabels: Readonly<Record<string, readonly string[]>> = APP_METRICS.jobsQueueDepth.labelValues;
    for (const matcher of selectors[0]?.matchers ?? []) {
      const scraped = target?.[matcher.label];
      const known = metricLabels[matcher.label] ?? (scraped === undefined ? [] : [scraped]);
      const pattern = new RegExp(`^(?:${matcher.value})$`);
      const matching = known.filter((value) =>
        matcher.operator === '=' ? value === matcher.value : pattern.test(value),
      );
      expect(
        matching,
        `${matcher.label}${matcher.operator}"${matcher.value}" selects no value the worker has`,
      ).not.toEqual([]);
    }
  });

  test("Prometheus answers KEDA's query with one sample per scrape of the worker", async () => {
    const result = await eventually(() => query(rendered.trigger.query));
    expect(result, `${rendered.trigger.query} returned nothing: KEDA would fall back instead of scaling`).toHaveLength(
      1,
    );
    const waitingOrActive = Number(result[0]?.value[1]);
    expect(waitingOrActive).toBeGreaterThanOrEqual(0);
    // What the worker's own /metrics says, summed the same way.
    const exposition = await (await fetch(`http://${workerAddress}/metrics`)).text();
    const own = exposition
      .split('\n')
      .filter((line) => /^jobs_queue_depth\{.*state="(waiting|active)"/.test(line))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
    expect(waitingOrActive).toBe(own);
  });

  test("JobQueueNotConsumed's up selector finds the deployed worker, so the alert's condition is empty", async () => {
    const expressions = alertExpressions('JobQueueNotConsumed');
    expect(expressions.length).toBeGreaterThan(0);
    const upSelectors = expressions
      .flatMap((expr) => analyzePromql(expr).selectors)
      .filter((selector) => selector.metric === 'up')
      .map((selector) => selector.text);
    expect(upSelectors.length).toBeGreaterThan(0);
    for (const selector of upSelectors) {
      const up = await eventually(() => query(selector));
      expect(
        up.map((sample) => sample.value[1]),
        `${selector} finds no deployed worker`,
      ).toEqual(['1']);
    }
    for (const expr of expressions) expect(await query(expr), expr).toEqual([]);
  });
});
