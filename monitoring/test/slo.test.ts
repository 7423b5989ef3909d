import { describe, expect, test } from 'vitest';

import { alertmanagerSecretIsPlain } from './support/kubernetes.js';
import { alertmanagerConfigSecret, dashboardConfigMaps, lokiConfigMap, prometheusRule } from '../src/kubernetes.js';
import { ALERTS, RECORDING_RULES } from '../src/rules.js';
import { BURN_RATE_WINDOWS, ERROR_RATIO_WINDOWS, errorBudget, SLO_ANALYSIS_QUERIES, SLOS } from '../src/slo.js';

describe('SLOs', () => {
  test('availability 99.9% and latency 99% over 30 days, for the API, auth and orders', () => {
    expect(SLOS.map((slo) => `${slo.name} ${slo.objective} ${slo.windowDays}d`)).toEqual([
      'api-availability 0.999 30d',
      'api-latency 0.99 30d',
      'auth-availability 0.999 30d',
      'auth-latency 0.99 30d',
      'orders-availability 0.999 30d',
      'orders-latency 0.99 30d',
    ]);
    const [first] = SLOS;
    expect(first === undefined ? undefined : errorBudget(first)).toBe(0.001);
  });

  test('each SLO records its error ratio over 5m, 30m, 1h, 2h, 6h, 1d, 3d and 30d, and its budget left', () => {
    expect(ERROR_RATIO_WINDOWS).toEqual(['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d']);
    for (const slo of SLOS) {
      const records = RECORDING_RULES.filter((rule) => rule.labels.slo === slo.name).map((rule) => rule.record);
      expect(records).toEqual([
        ...ERROR_RATIO_WINDOWS.map((window) => `slo:sli_error:ratio_rate${window}`),
        'slo:error_budget_remaining:ratio',
      ]);
    }
  });

  test('burn-rate alerts page at 14.4x (1h and 5m) or 6x (6h and 30m), ticket at 3x (1d and 2h) or 1x (3d and 6h)', () => {
    expect(BURN_RATE_WINDOWS.map((w) => `${w.severity} ${w.burnRate} ${w.longWindow}/${w.shortWindow}`)).toEqual([
      'critical 14.4 1h/5m',
      'critical 6 6h/30m',
      'warning 3 1d/2h',
      'warning 1 3d/6h',
    ]);
    const burn = ALERTS.find((alert) => alert.name === 'ErrorBudgetBurn');
    expect(burn?.rules).toHaveLength(SLOS.length * 2);
    const page = burn?.rules.find((rule) => rule.severity === 'critical' && rule.labels?.slo === 'api-availability');
    expect(page?.expr).toBe(
      '(slo:sli_error:ratio_rate1h{slo="api-availability"} > 0.0144 and slo:sli_error:ratio_rate5m{slo="api-availability"} > 0.0144)' +
        ' or (slo:sli_error:ratio_rate6h{slo="api-availability"} > 0.006 and slo:sli_error:ratio_rate30m{slo="api-availability"} > 0.006)',
    );
  });

  test('the canary analysis comes from the objectives (load/test/thresholds.test.ts holds the load thresholds to them)', () => {
    expect(SLO_ANALYSIS_QUERIES.availability).toMatchObject({ comparison: 'atLeast', threshold: 0.999 });
    expect(SLO_ANALYSIS_QUERIES.latency).toMatchObject({ comparison: 'atLeast', threshold: 0.99 });
    expect(SLO_ANALYSIS_QUERIES.latency.query).toContain('le="0.5"');
  });
});

describe('Kubernetes objects for infra', () => {
  test('a PrometheusRule, one labelled ConfigMap per dashboard, the Alertmanager Secret and the Loki ConfigMap', () => {
    const rule = prometheusRule({ namespace: 'monitoring' });
    expect(rule).toMatchObject({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule' });
    expect((rule.spec as { groups: unknown[] }).groups.length).toBeGreaterThan(3);
    const maps = dashboardConfigMaps({ namespace: 'monitoring' });
    expect(maps).toHaveLength(5);
    for (const map of maps) expect(map.metadata.labels.grafana_dashboard).toBe('1');
    const secret = alertmanagerConfigSecret({ name: 'alertmanager-slipway', namespace: 'monitoring' });
    expect(alertmanagerSecretIsPlain(secret)).toBe(true);
    const loki = lokiConfigMap({ name: 'loki-config', namespace: 'monitoring' });
    expect(Object.keys(loki.data as object)).toEqual(['config.yaml', 'rules.yaml']);
  });
});
