import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, test } from 'vitest';

import { APP_JOB, APP_JOB_LABEL, DEFAULT_RUNBOOK_BASE_URL, METRICS_SERVICE_LABEL } from '../src/config.js';
import { appServiceMonitorSpec } from '../src/service-monitor.js';
import { ALERTS, RECORDING_RULES, ruleGroups } from '../src/rules.js';
import {
  BURN_RATE_WINDOWS,
  ERROR_RATIO_WINDOWS,
  errorBudget,
  PROMETHEUS_RETENTION_DAYS,
  SLO_ANALYSIS_QUERIES,
  SLOS,
} from '../src/slo.js';

describe('SLOs', () => {
  test('availability 99.9% and latency 99% over 30 days, for the API, auth and orders; availability at the ingress', () => {
    expect(SLOS.map((slo) => `${slo.name} ${slo.objective} ${slo.windowDays}d`)).toEqual([
      'api-availability 0.999 30d',
      'api-latency 0.99 30d',
      'auth-availability 0.999 30d',
      'auth-latency 0.99 30d',
      'orders-availability 0.999 30d',
      'orders-latency 0.99 30d',
      'edge-availability 0.999 30d',
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
      '(slo:sli_error:ratio_rate1h{slo="api-availability"} > 0.0144 and slo:sli_error:ratio_rate5m{slo="api-availability"} > 0.0144' +
        ' and on () sum(rate(http_requests_total{job="erp-api"}[5m])) > 1)' +
        ' or (slo:sli_error:ratio_rate6h{slo="api-availability"} > 0.006 and slo:sli_error:ratio_rate30m{slo="api-availability"} > 0.006' +
        ' and on () sum(rate(http_requests_total{job="erp-api"}[30m])) > 1)',
    );
  });

  test('the canary analysis comes from the objectives (load/test/thresholds.test.ts holds the load thresholds to them)', () => {
    expect(SLO_ANALYSIS_QUERIES.availability).toMatchObject({ comparison: 'atLeast', threshold: 0.999 });
    expect(SLO_ANALYSIS_QUERIES.latency).toMatchObject({ comparison: 'atLeast', threshold: 0.99 });
    expect(SLO_ANALYSIS_QUERIES.latency.query).toContain('le="0.5"');
  });
});

describe('the app ServiceMonitor', () => {
  test('sets jobLabel to the label whose value is the job every query selects', () => {
    const spec = appServiceMonitorSpec('erp', { [APP_JOB_LABEL]: APP_JOB });
    expect(spec.jobLabel).toBe(APP_JOB_LABEL);
    expect(spec.selector.matchLabels).toMatchObject(METRICS_SERVICE_LABEL);
    expect(() => appServiceMonitorSpec('erp', { [APP_JOB_LABEL]: 'erp-api-metrics' })).toThrow(
      /do not set app.kubernetes.io\/name=erp-api/,
    );
  });
});

describe('one SLO model', () => {
  /** What a second copy of the SLO model would contain: an objective, the canary placeholder or its matchers. */
  const COPY_MARKERS = [/\bobjective:\s*0\.\d/, /__CANARY_SELECTOR__/, /rollouts_pod_template_hash="/];
  const REPO = fileURLToPath(new URL('../../', import.meta.url));

  function sources(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sources(path);
      return entry.name.endsWith('.ts') ? [path] : [];
    });
  }

  test('no workspace but monitoring defines SLO objectives, the canary placeholder or the canary matchers', () => {
    const copies = ['app/src', 'infra/src', 'pipelines/src', 'load/src'].flatMap((dir) =>
      sources(join(REPO, dir)).flatMap((file) => {
        const text = readFileSync(file, 'utf8');
        return COPY_MARKERS.filter((marker) => marker.test(text)).map((marker) => `${file}: ${String(marker)}`);
      }),
    );
    expect(copies, 'import these from monitoring/src/slo.ts instead of defining them again').toEqual([]);
  });
});

describe('SLO recording cost', () => {
  const seconds = (duration: string): number => {
    const match = /^(\d+)([mhd])$/.exec(duration);
    return Number(match?.[1]) * { m: 60, h: 3600, d: 86400 }[(match?.[2] ?? 'm') as 'm' | 'h' | 'd'];
  };

  test('no rule reads raw samples over more than 6 hours; longer windows average the 5m record', () => {
    const groups = ruleGroups(DEFAULT_RUNBOOK_BASE_URL);
    const rawRanges = groups.flatMap((group) =>
      group.rules.flatMap((rule) =>
        [...rule.expr.matchAll(/\brate\([^[]*\[(\d+[mhd])\]/g)].map((match) => ({
          rule: 'record' in rule ? rule.record : rule.alert,
          range: match[1] ?? '',
        })),
      ),
    );
    expect(rawRanges.length).toBeGreaterThan(0);
    expect(rawRanges.filter(({ range }) => seconds(range) > 6 * 3600)).toEqual([]);
  });

  test('each SLO records in a group of its own, the 5m ratio before the windows derived from it', () => {
    const groups = ruleGroups(DEFAULT_RUNBOOK_BASE_URL).filter((group) => group.name.includes('-slo-recording'));
    expect(groups.map((group) => group.name)).toEqual(SLOS.map((slo) => `erp-api-slo-recording-${slo.name}`));
    for (const group of groups) {
      const records = group.rules.map((rule) => ('record' in rule ? rule.record : ''));
      expect(records.indexOf('slo:sli_error:ratio_rate5m')).toBeLessThan(
        records.indexOf('slo:sli_error:ratio_rate30d'),
      );
    }
  });

  test('Prometheus keeps at least the SLO window', () => {
    for (const slo of SLOS) expect(PROMETHEUS_RETENTION_DAYS).toBeGreaterThanOrEqual(slo.windowDays);
  });
});
