/** The public API of the monitoring workspace: what pipelines, infra and load import. */
export * from './config.js';
export * from './slo.js';
export { ALERTS, RECORDING_RULES, ruleGroups } from './rules.js';
export type { AlertDefinition, AlertRuleDefinition, PrometheusRuleGroup, RecordingRule, Severity } from './rules.js';
export { DASHBOARDS, renderDashboards } from './dashboards/index.js';
export { alertmanagerConfig, DEFAULT_ALERTMANAGER_OPTIONS } from './alertmanager.js';
export type { AlertmanagerOptions } from './alertmanager.js';
export { AUDIT_INTEGRITY_EVENT, LOG_ALERTS, lokiConfig, lokiRetentionHelmValues, lokiRuleGroups } from './loki.js';
export { EXTERNAL_METRICS } from './external-metrics.js';
export { GENERATED_DIR, generatedFiles } from './generate.js';
export * from './service-monitor.js';
export {
  CLUSTER_ONLY,
  CLUSTER_ONLY_METRICS,
  clusterOnlyReason,
  RELEASE_ONLY,
  releaseOnlyReason,
} from './cluster-only.js';
export type { ClusterOnlySource } from './cluster-only.js';
