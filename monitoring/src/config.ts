/**
 * Names every generated artefact shares: the service, the Prometheus job that scrapes it, and where runbooks live.
 */

/** The service label on every alert; Alertmanager groups by it. */
export const SERVICE = 'erp-api';

/** The scrape job of the app: the ServiceMonitor's Service name in the cluster, the job name locally. */
export const APP_JOB = 'erp-api';

/** Matcher every app query starts with, so another job's series never leak into erp-api's numbers. */
export const APP_SELECTOR = `job="${APP_JOB}"`;

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
