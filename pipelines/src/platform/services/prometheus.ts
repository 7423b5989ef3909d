import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { stringify } from 'yaml';

import {
  APP_JOB,
  APP_JOB_LABEL,
  METRICS_PORT,
  METRICS_SERVICE,
  WORKER_JOB,
  WORKER_METRICS_SERVICE,
} from '@slipway/monitoring/config';
import { FIXTURE_SERVICE_LABELS, FIXTURE_WORKER_SERVICE_LABELS } from '@slipway/monitoring/fixtures';
import {
  appServiceMonitorSpec,
  discoveryLabels,
  operatorRelabelConfigs,
  workerServiceMonitorSpec,
} from '@slipway/monitoring/service-monitor';
import { repoRoot } from '../paths.js';
import { PUSHGATEWAY_JOB } from './pushgateway.js';
import type { ServiceDefinition } from '../supervisor.js';
import { httpProbe } from './local-service.js';

/** The namespace the local platform's series carry, as a cluster's carry the app's namespace. */
export const LOCAL_NAMESPACE = 'local';

/** The `rollouts_pod_template_hash` of the app `npm start` runs from its source (no image, so no template hash). */
export const SOURCE_POD_TEMPLATE_HASH = 'source';

/** How often the local Prometheus scrapes and evaluates: short, so a canary's errors show within seconds. */
export const LOCAL_SCRAPE_INTERVAL = '2s';

/** The rules every Prometheus of Slipway loads, generated from monitoring/. */
export const RULES_FILE = join(repoRoot, 'monitoring', 'generated', 'rules.yaml');

/** One app instance Prometheus scrapes, described as Kubernetes discovery would describe its pod. */
export interface AppScrapeTarget {
  /** `host:port` of its /metrics. */
  readonly address: string;
  /** Pod name; unique per instance. */
  readonly pod: string;
  /** The version's `rollouts-pod-template-hash` pod label: what tells canary from stable. */
  readonly podTemplateHash: string;
}

/** A target of another job (e.g. the release executor's Argo Rollouts metrics), scraped as it is. */
export interface PlainScrapeTarget {
  readonly address: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** The job name and target files prometheus-operator's ServiceMonitor for the app would make. */
const APP_SCRAPE_JOB = `serviceMonitor/${LOCAL_NAMESPACE}/${APP_JOB}/0`;

/** The same for the worker's ServiceMonitor: its series get `job="${WORKER_JOB}"` as in the cluster. */
const WORKER_SCRAPE_JOB = `serviceMonitor/${LOCAL_NAMESPACE}/${WORKER_JOB}/0`;

/** One `erp-api worker` process Prometheus scrapes, described as discovery would describe its pod. */
export interface WorkerScrapeTarget {
  readonly address: string;
  readonly pod: string;
}

export interface PrometheusOptions {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
  /** Alertmanager's `host:port`; alerts go nowhere without it. */
  readonly alertmanager?: string;
  /** The app instances scraped from the first start; the release executor rewrites the list later. */
  readonly appTargets: readonly AppScrapeTarget[];
  /** The worker processes; none unless set. */
  readonly workerTargets?: readonly WorkerScrapeTarget[];
  readonly rulesFile?: string;
  /** The Pushgateway's `host:port`, scraped with honor_labels so pushed job and instance labels stay as pushed. */
  readonly pushgateway?: string;
}

export interface PrometheusService extends ServiceDefinition {
  /** File-discovery folder: {@link writeAppTargets} and {@link writeJobTargets} write there. */
  readonly targetsDir: string;
}

/** The file-discovery entries of app instances: the meta labels discovery would attach, relabelled by the operator's rules. */
function appTargetGroups(targets: readonly AppScrapeTarget[]): object[] {
  return targets.map((target) => {
    const labels = discoveryLabels({
      address: target.address,
      namespace: LOCAL_NAMESPACE,
      service: { name: METRICS_SERVICE, labels: FIXTURE_SERVICE_LABELS },
      pod: {
        name: target.pod,
        labels: { 'app.kubernetes.io/name': APP_JOB, 'rollouts-pod-template-hash': target.podTemplateHash },
        container: APP_JOB,
      },
      portName: METRICS_PORT,
    });
    const { __address__: address, ...meta } = labels;
    return { targets: [address], labels: meta };
  });
}

/** The file-discovery entries of worker processes, as discovery describes pods of the worker's metrics Service. */
export function workerTargetGroups(targets: readonly WorkerScrapeTarget[]): object[] {
  return targets.map((target) => {
    const { __address__: address, ...meta } = discoveryLabels({
      address: target.address,
      namespace: LOCAL_NAMESPACE,
      service: { name: WORKER_METRICS_SERVICE, labels: FIXTURE_WORKER_SERVICE_LABELS },
      pod: { name: target.pod, labels: { [APP_JOB_LABEL]: WORKER_JOB }, container: WORKER_JOB },
      portName: METRICS_PORT,
    });
    return { targets: [address], labels: meta };
  });
}

/** Replaces a target file in one rename, so Prometheus never reads half of it. */
function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${String(process.pid)}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Sets which app instances Prometheus scrapes (it re-reads the file within seconds, no restart). */
export function writeAppTargets(targetsDir: string, targets: readonly AppScrapeTarget[]): void {
  mkdirSync(targetsDir, { recursive: true });
  writeAtomically(join(targetsDir, 'app.json'), `${JSON.stringify(appTargetGroups(targets), null, 2)}\n`);
}

/** Sets the targets of another scrape job named in {@link EXTRA_JOBS}; `part` names a second writer's own file. */
export function writeJobTargets(
  targetsDir: string,
  job: ExtraJob,
  targets: readonly PlainScrapeTarget[],
  part?: string,
): void {
  mkdirSync(targetsDir, { recursive: true });
  const groups = targets.map((target) => ({ targets: [target.address], labels: target.labels ?? {} }));
  writeAtomically(
    join(targetsDir, `${job}${part === undefined ? '' : `-${part}`}.json`),
    `${JSON.stringify(groups, null, 2)}\n`,
  );
}

/** Jobs besides the app's; the release executor exports Argo Rollouts' metrics under the controller's job name. */
export const EXTRA_JOBS = ['argo-rollouts-metrics'] as const;
export type ExtraJob = (typeof EXTRA_JOBS)[number];

/** prometheus.yml of the local platform: the app's job relabelled exactly as prometheus-operator does it in the cluster. */
export function prometheusConfig(options: {
  targetsDir: string;
  rulesFile: string;
  alertmanager?: string;
  pushgateway?: string;
}): string {
  return stringify({
    global: { scrape_interval: LOCAL_SCRAPE_INTERVAL, evaluation_interval: LOCAL_SCRAPE_INTERVAL },
    rule_files: [options.rulesFile],
    ...(options.alertmanager === undefined
      ? {}
      : { alerting: { alertmanagers: [{ static_configs: [{ targets: [options.alertmanager] }] }] } }),
    scrape_configs: [
      {
        job_name: APP_SCRAPE_JOB,
        file_sd_configs: [{ files: [join(options.targetsDir, 'app.json')], refresh_interval: '5s' }],
        relabel_configs: operatorRelabelConfigs(appServiceMonitorSpec(LOCAL_NAMESPACE, FIXTURE_SERVICE_LABELS)),
      },
      {
        job_name: WORKER_SCRAPE_JOB,
        file_sd_configs: [{ files: [join(options.targetsDir, 'worker.json')], refresh_interval: '5s' }],
        relabel_configs: operatorRelabelConfigs(
          workerServiceMonitorSpec(LOCAL_NAMESPACE, FIXTURE_WORKER_SERVICE_LABELS),
        ),
      },
      ...EXTRA_JOBS.map((job) => ({
        job_name: job,
        file_sd_configs: [
          {
            files: [join(options.targetsDir, `${job}.json`), join(options.targetsDir, `${job}-*.json`)],
            refresh_interval: '5s',
          },
        ],
      })),
      ...(options.pushgateway === undefined
        ? []
        : [
            {
              job_name: PUSHGATEWAY_JOB,
              honor_labels: true,
              static_configs: [{ targets: [options.pushgateway] }],
            },
          ]),
    ],
  });
}

/** Debian's Prometheus with the generated rules, scraping the app as the cluster's Prometheus does. */
export function prometheusService(options: PrometheusOptions): PrometheusService {
  const { host, port } = options;
  const url = `http://${host}:${port}`;
  const targetsDir = join(options.dir, 'targets');
  const config = join(options.dir, 'prometheus.yml');
  return {
    name: 'prometheus',
    host,
    port,
    portEnv: options.portEnv,
    url,
    targetsDir,
    command: 'prometheus',
    args: [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(options.dir, 'data')}`,
      `--web.listen-address=${host}:${port}`,
      // a local platform keeps a day; the SLO windows that need 30 days exist only in the cluster
      '--storage.tsdb.retention.time=1d',
      '--web.enable-lifecycle',
      // an alert fired before Alertmanager was discovered is sent again within seconds, not after a minute
      '--rules.alert.resend-delay=5s',
    ],
    stopSignal: 'SIGTERM',
    readyTimeoutMs: 30_000,
    prepare(): Promise<void> {
      mkdirSync(join(options.dir, 'data'), { recursive: true });
      writeAppTargets(targetsDir, options.appTargets);
      writeAtomically(
        join(targetsDir, 'worker.json'),
        `${JSON.stringify(workerTargetGroups(options.workerTargets ?? []), null, 2)}\n`,
      );
      for (const job of EXTRA_JOBS) writeJobTargets(targetsDir, job, []);
      writeFileSync(
        config,
        prometheusConfig({
          targetsDir,
          rulesFile: options.rulesFile ?? RULES_FILE,
          ...(options.alertmanager === undefined ? {} : { alertmanager: options.alertmanager }),
          ...(options.pushgateway === undefined ? {} : { pushgateway: options.pushgateway }),
        }),
      );
      return Promise.resolve();
    },
    probe: httpProbe(url, '/-/ready'),
  };
}
