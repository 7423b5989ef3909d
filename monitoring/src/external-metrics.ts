import { TARGET_LABELS } from './config.js';

/**
 * Metrics the rules and dashboards use that erp-api does not export: Prometheus's own `up`, the exporters and
 * controllers of the cluster. Every query is checked against these or the app's catalogue, nothing else.
 */
export interface ExternalMetric {
  readonly name: string;
  readonly type: 'counter' | 'gauge';
  /** Who exports it, and what must run in the cluster for it to exist. */
  readonly source: string;
  readonly labelNames: readonly string[];
  readonly labelValues?: Readonly<Record<string, readonly string[]>>;
}

const SCRAPED = [...TARGET_LABELS];
// kube-state-metrics is scraped with honor_labels, so `namespace` is the object's namespace, not its own.
const KSM = ['job', 'instance', 'namespace'];
// The argo-rollouts chart's ServiceMonitor sets no honorLabels: the object's namespace arrives as exported_namespace.
const ARGO = [...SCRAPED, 'exported_namespace', 'name'];
const ANALYSIS_PHASES = ['Pending', 'Running', 'Successful', 'Failed', 'Error', 'Inconclusive'];

export const EXTERNAL_METRICS: readonly ExternalMetric[] = [
  {
    name: 'up',
    type: 'gauge',
    source: 'Prometheus itself: 1 when the last scrape of a target succeeded',
    labelNames: SCRAPED,
  },
  {
    name: 'prometheus_rule_evaluation_failures_total',
    type: 'counter',
    source: 'Prometheus itself: failed evaluations per rule group (used by the Watchdog runbook)',
    labelNames: ['job', 'instance', 'namespace', 'pod', 'rule_group'],
  },
  {
    name: 'nginx_ingress_controller_requests',
    type: 'counter',
    source:
      'ingress-nginx controller (its chart ServiceMonitor): requests it answered per Ingress; the Ingress namespace and Service arrive as exported_*',
    labelNames: [
      ...SCRAPED,
      'canary',
      'controller_class',
      'controller_namespace',
      'controller_pod',
      'exported_namespace',
      'exported_service',
      'host',
      'ingress',
      'method',
      'path',
      'status',
    ],
  },
  {
    name: 'kube_cronjob_status_last_successful_time',
    type: 'gauge',
    source: 'kube-state-metrics (kube-prometheus-stack): last time a CronJob completed a Job successfully',
    labelNames: [...KSM, 'cronjob'],
  },
  {
    name: 'kube_cronjob_created',
    type: 'gauge',
    source: 'kube-state-metrics: creation time of a CronJob',
    labelNames: [...KSM, 'cronjob'],
  },
  {
    name: 'kube_job_created',
    type: 'gauge',
    source: 'kube-state-metrics: creation time of a Job',
    labelNames: [...KSM, 'job_name'],
  },
  {
    name: 'kube_job_failed',
    type: 'gauge',
    source: 'kube-state-metrics: 1 while a Job has failed',
    labelNames: [...KSM, 'job_name', 'condition'],
    labelValues: { condition: ['true', 'false', 'unknown'] },
  },
  {
    name: 'analysis_run_info',
    type: 'gauge',
    source: 'Argo Rollouts controller: one series per AnalysisRun and its phase',
    labelNames: [...ARGO, 'phase'],
    labelValues: { phase: ANALYSIS_PHASES },
  },
  {
    name: 'analysis_run_metric_phase',
    type: 'gauge',
    source: 'Argo Rollouts controller: 1 for the current phase of each metric of an AnalysisRun',
    labelNames: [...ARGO, 'metric', 'type', 'phase'],
    labelValues: { phase: ANALYSIS_PHASES },
  },
  {
    name: 'rollout_info',
    type: 'gauge',
    source: 'Argo Rollouts controller: one series per Rollout with its phase',
    labelNames: [...ARGO, 'strategy', 'traffic_router', 'phase'],
    labelValues: { phase: ['Progressing', 'Paused', 'Healthy', 'Degraded'] },
  },
];
