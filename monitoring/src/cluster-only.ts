import { analyzePromql } from './promql.js';
import { RECORDING_RULES } from './rules.js';

/**
 * Metrics that only exist inside a Kubernetes cluster, with the reason: a query built on them returns nothing on
 * the local platform. The dashboard preview lists such panels as cluster-only, and the live check expects nothing
 * from them; every other query must return data locally once the app has had traffic.
 */
export interface ClusterOnlySource {
  readonly metrics: readonly string[];
  readonly reason: string;
}

export const CLUSTER_ONLY: readonly ClusterOnlySource[] = [
  {
    metrics: ['nginx_ingress_controller_requests'],
    reason: 'ingress-nginx runs in the cluster only (the local nginx exports no metrics)',
  },
  {
    metrics: [
      'kube_cronjob_status_last_successful_time',
      'kube_cronjob_created',
      'kube_job_created',
      'kube_job_failed',
    ],
    reason: 'kube-state-metrics runs in the cluster only; no backup CronJob runs locally',
  },
];

/**
 * Metrics the local platform has only once a release ran there: no cluster is needed, but until
 * `npm run release -- deploy` nothing exports them. The dashboard preview lists such panels apart from cluster-only.
 */
export const RELEASE_ONLY: readonly ClusterOnlySource[] = [
  {
    metrics: ['analysis_run_info', 'analysis_run_metric_phase', 'rollout_info'],
    reason:
      "the Argo Rollouts controller's metrics: locally the release executor (npm run release -- deploy) and the platform's argo-rollouts service export them once a release has run",
  },
];

/** The metrics a recorded series is computed from, followed through the recording rules that match its selector. */
function sourcesOf(metric: string, matchers: Readonly<Record<string, string>>, seen: Set<string>): string[] {
  const rules = RECORDING_RULES.filter(
    (rule) =>
      rule.record === metric && Object.entries(matchers).every(([label, value]) => rule.labels[label] === value),
  );
  if (rules.length === 0 || seen.has(metric)) return [metric];
  return rules.flatMap((rule) =>
    analyzePromql(rule.expr).selectors.flatMap((selector) =>
      selector.metric === undefined
        ? []
        : sourcesOf(selector.metric, equalities(selector.matchers), new Set([...seen, metric])),
    ),
  );
}

function equalities(matchers: readonly { label: string; operator: string; value: string }[]): Record<string, string> {
  return Object.fromEntries(matchers.filter((m) => m.operator === '=').map((m) => [m.label, m.value]));
}

/**
 * Why `expr` returns nothing outside a cluster, or undefined when it should return data locally. A recorded series is
 * followed to the metrics its rules read (`slo:sli_error:ratio_rate5m{slo="edge-availability"}` reads ingress-nginx).
 */
export function clusterOnlyReason(expr: string): string | undefined {
  return reasonFrom(CLUSTER_ONLY, expr);
}

/** Why `expr` returns nothing on a local platform where no release has run yet, or undefined. */
export function releaseOnlyReason(expr: string): string | undefined {
  return reasonFrom(RELEASE_ONLY, expr);
}

function reasonFrom(list: readonly ClusterOnlySource[], expr: string): string | undefined {
  const selectors = analyzePromql(expr).selectors;
  for (const selector of selectors) {
    if (selector.metric === undefined) continue;
    const sources = sourcesOf(selector.metric, equalities(selector.matchers), new Set());
    const entry = list.find((candidate) => sources.every((source) => candidate.metrics.includes(source)));
    if (entry !== undefined) return entry.reason;
  }
  return undefined;
}

/** Every metric of {@link CLUSTER_ONLY}. */
export const CLUSTER_ONLY_METRICS: ReadonlySet<string> = new Set(CLUSTER_ONLY.flatMap((entry) => entry.metrics));
