import { describe, expect, test } from 'vitest';

import { DATABASE_DEFAULTS } from '@slipway/app/db/pool';
import { HTTP_DURATION_BUCKETS, METRIC_CATALOGUE } from '@slipway/app/observability/metric-catalogue';
import { DB_POOL_MAX_CONNECTIONS, TARGET_LABELS } from '../src/config.js';
import { DASHBOARDS, DEPLOY_ANNOTATION } from '../src/dashboards/index.js';
import { EXTERNAL_METRICS } from '../src/external-metrics.js';
import { knownSeries, metricsIn, queryProblems } from '../src/metric-check.js';
import type { CatalogueMetric } from '../src/metric-check.js';
import { ALERTS, RECORDING_RULES } from '../src/rules.js';
import { CANARY_SELECTOR, LATENCY_THRESHOLD_SECONDS, SLO_ANALYSIS_QUERIES } from '../src/slo.js';

const catalogue: readonly CatalogueMetric[] = METRIC_CATALOGUE;

/** Every PromQL expression monitoring ships, named for error messages. */
function allQueries(): { where: string; expr: string }[] {
  return [
    ...RECORDING_RULES.map((rule) => ({
      where: `recording rule ${rule.record}{slo="${rule.labels.slo ?? ''}"}`,
      expr: rule.expr,
    })),
    ...ALERTS.flatMap((alert) =>
      alert.rules.map((rule) => ({ where: `alert ${alert.name} (${rule.severity})`, expr: rule.expr })),
    ),
    ...DASHBOARDS.flatMap((dashboard) =>
      dashboard.rows.flatMap((row) =>
        row.panels.flatMap((panel) =>
          panel.queries.map((query) => ({
            where: `dashboard ${dashboard.uid} panel "${panel.title}"`,
            expr: query.expr.replaceAll('$__rate_interval', '5m'),
          })),
        ),
      ),
    ),
    { where: `dashboard annotation ${DEPLOY_ANNOTATION.name}`, expr: DEPLOY_ANNOTATION.expr },
    ...Object.values(SLO_ANALYSIS_QUERIES).map((query) => ({
      where: `canary analysis ${query.slo}`,
      expr: query.query.replaceAll(CANARY_SELECTOR, 'namespace="erp",rollouts_pod_template_hash="abc"'),
    })),
  ];
}

function problemsWith(metrics: readonly CatalogueMetric[]): string[] {
  const known = knownSeries(metrics, EXTERNAL_METRICS, RECORDING_RULES);
  return allQueries().flatMap(({ where, expr }) => queryProblems(expr, known).map((problem) => `${where}: ${problem}`));
}

describe('every query uses metrics that exist, with their labels', () => {
  test('every metric named in a rule, dashboard or canary query is in the app catalogue, the external list or a recording rule, with matching labels and values', () => {
    expect(problemsWith(catalogue)).toEqual([]);
  });

  test('removing any app metric a query uses from the catalogue makes the check fail, naming it', () => {
    const used = new Set(allQueries().flatMap(({ expr }) => metricsIn(expr)));
    const appMetrics = catalogue.filter((metric) =>
      [metric.name, `${metric.name}_bucket`, `${metric.name}_count`, `${metric.name}_sum`].some((name) =>
        used.has(name),
      ),
    );
    expect(appMetrics.length).toBeGreaterThan(10);
    for (const removed of appMetrics) {
      const problems = problemsWith(catalogue.filter((metric) => metric !== removed));
      expect(
        problems.some((problem) => problem.includes(removed.name)),
        removed.name,
      ).toBe(true);
    }
  });

  test('a label the metric does not carry, or a value a closed label never takes, is reported', () => {
    const known = knownSeries(catalogue, EXTERNAL_METRICS, RECORDING_RULES);
    expect(queryProblems('sum(rate(http_requests_total{job="erp-api",path="/x"}[5m]))', known)).toEqual([
      expect.stringContaining('has no label path'),
    ]);
    expect(queryProblems('auth_login_attempts_total{result="failed"}', known)).toEqual([
      expect.stringContaining('never takes'),
    ]);
    expect(queryProblems('cache_operations_total{result=~"hits|misses"}', known)).toEqual([
      expect.stringContaining('matches none'),
    ]);
    expect(queryProblems('http_request_duration_seconds_bucket{le="0.3"}', known)).toEqual([
      expect.stringContaining('never takes'),
    ]);
    expect(queryProblems('sum by (operation) (rate(http_requests_total[5m]))', known)).toEqual([
      expect.stringContaining('names label operation'),
    ]);
    expect(queryProblems('sum(rate(http_request_total[5m]))', known)).toEqual([
      expect.stringContaining('http_request_total is neither'),
    ]);
    expect(queryProblems('sum(rate(http_requests_total[5m])', known)[0]).toContain('syntax error');
  });

  test('external metrics are few and say where they come from', () => {
    for (const metric of EXTERNAL_METRICS) {
      expect(metric.source.length, metric.name).toBeGreaterThan(10);
      expect(
        catalogue.some((m) => m.name === metric.name),
        `${metric.name} is the app's own`,
      ).toBe(false);
    }
  });

  test('the target labels the checks allow are the ones Prometheus adds, not app labels', () => {
    for (const metric of catalogue)
      for (const label of metric.labelNames) expect(TARGET_LABELS as readonly string[]).not.toContain(label);
  });
});

describe('values monitoring mirrors from other workspaces', () => {
  test('the latency SLO threshold is a bucket edge of the request histogram', () => {
    expect(HTTP_DURATION_BUCKETS as readonly number[]).toContain(LATENCY_THRESHOLD_SECONDS);
  });

  test('the pool maximum used by the pool alert is the app default', () => {
    expect(DB_POOL_MAX_CONNECTIONS).toBe(DATABASE_DEFAULTS.maxConnections);
  });
});
