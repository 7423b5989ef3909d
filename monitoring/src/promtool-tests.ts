import { runbookUrl } from './config.js';
import { staticLabels } from './rules.js';
import type { AlertDefinition, AlertRuleDefinition, ExpectedAlert } from './rules.js';

/** promtool's unit-test file format (`promtool test rules`). */
export interface PromtoolTestFile {
  readonly rule_files: readonly string[];
  readonly evaluation_interval: string;
  readonly tests: readonly {
    readonly name: string;
    readonly interval: string;
    readonly input_series: readonly { readonly series: string; readonly values: string }[];
    readonly alert_rule_test: readonly {
      readonly eval_time: string;
      readonly alertname: string;
      readonly exp_alerts: readonly {
        readonly exp_labels: Readonly<Record<string, string>>;
        readonly exp_annotations: Readonly<Record<string, string>>;
      }[];
    }[];
  }[];
}

const DEFAULT_INTERVAL = '1m';

function ruleFor(alert: AlertDefinition, expected: ExpectedAlert): AlertRuleDefinition {
  const candidates = alert.rules.filter(
    (rule) =>
      (expected.severity === undefined || rule.severity === expected.severity) &&
      Object.entries(rule.labels ?? {}).every(([name, value]) => (expected.labels?.[name] ?? value) === value),
  );
  const rule = candidates[0];
  if (rule === undefined)
    throw new Error(
      `${alert.name} has no rule of severity ${String(expected.severity)}: its test expects one; fix the test or the rule`,
    );
  return rule;
}

function seconds(duration: string): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(duration);
  if (match === null) throw new Error(`duration ${JSON.stringify(duration)} is not like 30s, 5m, 1h or 7d`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

/**
 * The promtool test file of one alert: each case's series, and at each check the exact alerts with all their
 * labels and annotations (summary, rendered description, runbook_url), or none.
 */
export function promtoolTestFile(
  alert: AlertDefinition,
  runbookBaseUrl: string,
  rulesFile = '../rules.yaml',
): PromtoolTestFile {
  const intervals = alert.tests.map((test) => test.interval ?? DEFAULT_INTERVAL);
  // Evaluating every minute over a 9-day test costs minutes of CPU; the coarsest step the series allow is enough.
  const evaluationInterval =
    alert.testEvaluationInterval ??
    intervals.reduce(
      (smallest, interval) => (seconds(interval) < seconds(smallest) ? interval : smallest),
      intervals[0] ?? DEFAULT_INTERVAL,
    );
  return {
    rule_files: [rulesFile],
    evaluation_interval: evaluationInterval,
    tests: alert.tests.map((test) => ({
      name: `${alert.name}: ${test.name}`,
      interval: test.interval ?? DEFAULT_INTERVAL,
      input_series: test.series.map((series) => ({ series: series.series, values: series.values })),
      alert_rule_test: test.checks.map((check) => ({
        eval_time: check.at,
        alertname: alert.name,
        exp_alerts: check.alerts.map((expected) => {
          const rule = ruleFor(alert, expected);
          return {
            // The rule's labels replace the series' own, as Prometheus does (`service` of the target among them).
            exp_labels: { ...expected.labels, ...staticLabels(rule) },
            exp_annotations: {
              summary: rule.summary,
              description: expected.description,
              runbook_url: runbookUrl(alert.name, runbookBaseUrl),
            },
          };
        }),
      })),
    })),
  };
}
