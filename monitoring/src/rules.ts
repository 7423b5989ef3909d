import { SERVICE, runbookUrl } from './config.js';
import { GROUPS } from './alerts/common.js';
import { sloRecordingRules } from './alerts/slo.js';
import { errorBudgetBurn } from './alerts/slo.js';
import { highErrorRate, highLatencyP99, instanceDown, serviceDown } from './alerts/service.js';
import {
  databaseDown,
  redisDown,
  connectionPoolNearExhaustion,
  lowCacheHitRate,
  slowQueriesRising,
} from './alerts/dependencies.js';
import { highAuthFailureRate, accountLockoutSpike, signInLockoutBurst } from './alerts/security.js';
import { backupMissing, backupFailed, restoreDrillStale, auditVerifyStale } from './alerts/backups.js';
import { canaryAnalysisFailed } from './alerts/delivery.js';
import { jobBacklogGrowing, jobDeadLetterGrowth, jobOldestWaitingTooOld, jobQueueNotConsumed } from './alerts/jobs.js';
import { watchdog } from './alerts/meta.js';
import { SLOS } from './slo.js';

export { GROUPS } from './alerts/common.js';
export { MIN_QUERIES_PER_SECOND, NOT_A_CACHE } from './alerts/dependencies.js';
export { MIN_REQUESTS_PER_SECOND } from './slo.js';
export {
  AUDIT_VERIFY_CRONJOB,
  AUDIT_VERIFY_INTERVAL_HOURS,
  BACKUP_CRONJOB,
  RESTORE_DRILL_CRONJOB,
} from './alerts/backups.js';
export { RECORDING_RULES, sloRecordingRules } from './alerts/slo.js';

/** critical pages someone, warning opens a ticket, info and none reach no person (Alertmanager routes them). */
export type Severity = 'critical' | 'warning' | 'info' | 'none';

/** One series of a promtool test, in promtool's expanding notation (`0+10x30`). */
export interface TestSeries {
  readonly series: string;
  readonly values: string;
}

/** One alert expected at a check; its labels are the rule's (severity, service) plus these. */
export interface ExpectedAlert {
  /** Picks the rule by severity when an alert has several (ErrorBudgetBurn pages and tickets). */
  readonly severity?: Severity;
  readonly labels?: Readonly<Record<string, string>>;
  /** The description as Prometheus renders it from the template. */
  readonly description: string;
}

/** At `at` (time since the series start), exactly `alerts` fire; an empty list means it must not fire. */
export interface AlertCheck {
  readonly at: string;
  readonly alerts: readonly ExpectedAlert[];
}

export interface AlertTestCase {
  readonly name: string;
  /** Step between the values of `series`; 1m unless set. */
  readonly interval?: string;
  readonly series: readonly TestSeries[];
  readonly checks: readonly AlertCheck[];
}

/** One Prometheus alerting rule; several may share an alert name. */
export interface AlertRuleDefinition {
  readonly expr: string;
  readonly for?: string;
  readonly severity: Severity;
  /** Labels beyond `severity` and `service`. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Plain text, no template: what is wrong, for a notification's title. */
  readonly summary: string;
  /** Templated: the numbers and the affected thing. */
  readonly description: string;
}

/** An alert: its rules, its runbook page (runbooks/<name>.md) and the promtool cases that pin it. */
export interface AlertDefinition {
  readonly name: string;
  readonly group: string;
  readonly rules: readonly AlertRuleDefinition[];
  readonly tests: readonly AlertTestCase[];
  /** How often promtool evaluates the rules in its tests; the smallest test interval unless set. */
  readonly testEvaluationInterval?: string;
}

export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Prometheus rule-file shapes, as promtool, the rules YAML and the PrometheusRule CRD hold them. */
export interface PrometheusAlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<'summary' | 'description' | 'runbook_url', string>>;
}
export interface PrometheusRecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly labels: Readonly<Record<string, string>>;
}
export interface PrometheusRuleGroup {
  readonly name: string;
  readonly rules: readonly (PrometheusAlertingRule | PrometheusRecordingRule)[];
}

/** Every Prometheus alert, in the order of the rules file. */
export const ALERTS: readonly AlertDefinition[] = [
  errorBudgetBurn,
  highErrorRate,
  highLatencyP99,
  instanceDown,
  serviceDown,
  databaseDown,
  redisDown,
  connectionPoolNearExhaustion,
  lowCacheHitRate,
  slowQueriesRising,
  highAuthFailureRate,
  accountLockoutSpike,
  signInLockoutBurst,
  backupMissing,
  backupFailed,
  restoreDrillStale,
  auditVerifyStale,
  canaryAnalysisFailed,
  jobBacklogGrowing,
  jobOldestWaitingTooOld,
  jobDeadLetterGrowth,
  jobQueueNotConsumed,
  watchdog,
];

// ---------------------------------------------------------------------------------------------------------------
// Rendering

/** The labels Prometheus puts on an alert of `rule` besides its expression's own. */
export function staticLabels(rule: AlertRuleDefinition): Record<string, string> {
  return { severity: rule.severity, service: SERVICE, ...rule.labels };
}

export function renderAlertingRule(
  alert: AlertDefinition,
  rule: AlertRuleDefinition,
  runbookBaseUrl: string,
): PrometheusAlertingRule {
  return {
    alert: alert.name,
    expr: rule.expr,
    ...(rule.for === undefined ? {} : { for: rule.for }),
    labels: staticLabels(rule),
    annotations: {
      summary: rule.summary,
      description: rule.description,
      runbook_url: runbookUrl(alert.name, runbookBaseUrl),
    },
  };
}

/** The rule groups of the rules file and the PrometheusRule: SLO recordings first, then alerts by area. */
export function ruleGroups(runbookBaseUrl: string): PrometheusRuleGroup[] {
  // One group per SLO, as Sloth does: its records evaluate in order (5m before the windows derived from it).
  const groups: PrometheusRuleGroup[] = SLOS.map((slo) => ({
    name: `${GROUPS.slo}-${slo.name}`,
    rules: sloRecordingRules(slo),
  }));
  for (const name of Object.values(GROUPS)) {
    if (name === GROUPS.slo) continue;
    const rules = ALERTS.filter((alert) => alert.group === name).flatMap((alert) =>
      alert.rules.map((rule) => renderAlertingRule(alert, rule, runbookBaseUrl)),
    );
    if (rules.length > 0) groups.push({ name, rules });
  }
  return groups;
}
