/**
 * Names every generated artefact shares: the service, the Prometheus job that scrapes it, and where runbooks live.
 */

/** The service label on every alert; Alertmanager groups by it. */
export const SERVICE = 'erp-api';

/** The scrape job of the app: in the cluster the value of the metrics Service's `APP_JOB_LABEL`, locally the job name. */
export const APP_JOB = 'erp-api';

/** The Service label the ServiceMonitor's `jobLabel` names; without it prometheus-operator uses the Service's name. */
export const APP_JOB_LABEL = 'app.kubernetes.io/name';

/** The Service prometheus-operator scrapes (infra names it `<app>-metrics`); it becomes the `service` label. */
export const METRICS_SERVICE = 'erp-api-metrics';

/** The label that marks that Service for the ServiceMonitor's selector. */
export const METRICS_SERVICE_LABEL: Readonly<Record<string, string>> = { 'slipway.dev/metrics': 'true' };

/** The named Service port /metrics is served on; it becomes the `endpoint` label. */
export const METRICS_PORT = 'http';

/** Pod labels copied onto every series: the canary analysis tells canary from stable by this one. */
export const POD_TARGET_LABELS = ['rollouts-pod-template-hash'] as const;

/** Matcher every app query starts with, so another job's series never leak into erp-api's numbers. */
export const APP_SELECTOR = `job="${APP_JOB}"`;

/** The scrape job of the worker (`erp-api worker`): its metrics Service's `APP_JOB_LABEL` in the cluster. */
export const WORKER_JOB = 'erp-api-worker';

/** The worker's metrics Service (infra names it `<app>-worker-metrics`); it becomes the `service` label. */
export const WORKER_METRICS_SERVICE = 'erp-api-worker-metrics';

/** Matcher every job-queue query starts with: queue metrics come from the worker, not from the API. */
export const WORKER_SELECTOR = `job="${WORKER_JOB}"`;

/** The Ingress of erp-api (infra names it after the app): ingress-nginx labels its request metrics with it. */
export const APP_INGRESS = 'erp-api';

/** Matcher of the requests ingress-nginx forwarded to erp-api, counted even when no pod was ready to answer. */
export const EDGE_SELECTOR = `ingress="${APP_INGRESS}"`;

/** The repository's runbooks folder on main; `RUNBOOK_BASE_URL` moves it (a fork, an internal mirror). */
export const DEFAULT_RUNBOOK_BASE_URL = 'https://github.com/slipway-dev/slipway/blob/main/runbooks';

/**
 * Labels Prometheus adds to every app series when it scrapes a pod: the ServiceMonitor's target labels, plus
 * `rollouts_pod_template_hash` (the pod label the canary analysis tells canary from stable by).
 */
export const TARGET_LABELS = [
  'job',
  'instance',
  'namespace',
  'pod',
  'service',
  'endpoint',
  'container',
  'rollouts_pod_template_hash',
] as const;

/** Mirrors the app's DATABASE_DEFAULTS.maxConnections (a test pins it); the pool metric has no `max` state. */
export const DB_POOL_MAX_CONNECTIONS = 10;

/** The runbook base URL from the environment, without a trailing slash; rejects what is not an http(s) URL. */
export function runbookBaseUrl(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const raw = env.RUNBOOK_BASE_URL;
  if (raw === undefined || raw === '') return DEFAULT_RUNBOOK_BASE_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(
      `RUNBOOK_BASE_URL=${JSON.stringify(raw)} is not a URL: set it to the http(s) address of the runbooks folder, or unset it for ${DEFAULT_RUNBOOK_BASE_URL}`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new Error(
      `RUNBOOK_BASE_URL=${JSON.stringify(raw)} uses ${url.protocol}: use an http(s) address of the runbooks folder`,
    );
  return raw.replace(/\/+$/, '');
}

/** Where the page for `name` (an alert or a procedure) lives. */
export function runbookUrl(name: string, baseUrl: string = DEFAULT_RUNBOOK_BASE_URL): string {
  return `${baseUrl}/${name}.md`;
}
