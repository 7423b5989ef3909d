import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';

import {
  analyzeLogql,
  LOG_ALERTS,
  LOG_FIELDS,
  LOG_STREAM_LABELS,
  LOKI_RETENTION,
  lokiConfig,
  TRACE_ID_FIELD,
  TRACING_DATASOURCE_UID,
  traceDerivedField,
} from '../src/loki.js';
import { AUDIT_VERIFY_SCHEDULE, BACKUP_SCHEDULE, RESTORE_DRILL_SCHEDULE } from '@slipway/infra/components/backups';
import { AUDIT_VERIFY_INTERVAL_HOURS } from '../src/rules.js';
import { GENERATED } from './support/paths.js';

describe('Loki: LogQL rules and config (offline checks; no Loki binary runs here)', () => {
  test.each(LOG_ALERTS.map((alert) => [alert.name, alert.expr]))('%s parses as a LogQL metric query', (_name, expr) => {
    const analysis = analyzeLogql(expr);
    expect(analysis.syntaxErrors).toEqual([]);
    expect(analysis.isMetricQuery).toBe(true);
    expect(analysis.streamLabels.length).toBeGreaterThan(0);
    for (const label of analysis.streamLabels) expect(LOG_STREAM_LABELS as readonly string[]).toContain(label);
    for (const label of analysis.filterLabels) expect(LOG_FIELDS as readonly string[]).toContain(label);
  });

  test('the grammar check can fail: broken LogQL is reported', () => {
    expect(analyzeLogql('sum(count_over_time({app="erp-api"} | json [5m])').syntaxErrors).not.toEqual([]);
    expect(analyzeLogql('count_over_time({app="erp-api" | json [5m])').syntaxErrors).not.toEqual([]);
  });

  test('stream labels are told apart from parsed-field filters', () => {
    const analysis = analyzeLogql('sum(count_over_time({app="erp-api", namespace="erp"} | json | level="error" [5m]))');
    expect(analysis.streamLabels).toEqual(['app', 'namespace']);
    expect(analysis.filterLabels).toEqual(['level']);
  });

  test('the config keeps 30 days, applied by the compactor, on a schema that supports retention', () => {
    const config = parse(readFileSync(join(GENERATED, 'loki/config.yaml'), 'utf8')) as ReturnType<typeof lokiConfig> & {
      limits_config: { retention_period: string };
      compactor: { retention_enabled: boolean; delete_request_store: string };
      schema_config: { configs: { store: string; schema: string }[] };
      target: string;
    };
    expect(LOKI_RETENTION).toBe(`${30 * 24}h`);
    expect(config.target).toBe('all');
    expect(config.limits_config.retention_period).toBe(LOKI_RETENTION);
    expect(config.compactor.retention_enabled).toBe(true);
    expect(config.compactor.delete_request_store).toBe('filesystem');
    for (const schema of config.schema_config.configs) {
      expect(schema.store).toBe('tsdb');
      expect(schema.schema).toBe('v13');
    }
  });

  test('every log alert has severity, a plain summary and a templated description in the ruler file', () => {
    const file = parse(readFileSync(join(GENERATED, 'loki/rules.yaml'), 'utf8')) as {
      groups: { rules: { alert: string; labels: Record<string, string>; annotations: Record<string, string> }[] }[];
    };
    const rules = file.groups.flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.alert)).toEqual(LOG_ALERTS.map((alert) => alert.name));
    for (const rule of rules) {
      expect(rule.labels.severity).toMatch(/^(critical|warning|info|none)$/);
      expect(rule.annotations.summary).not.toContain('{{');
      expect(rule.annotations.description).toContain('{{');
    }
  });
});

describe('alerts on the CronJobs infra schedules', () => {
  // Hours between two runs of a cron schedule of the forms infra uses: hourly, every n hours, weekly.
  function intervalHours(schedule: string): number {
    const [, hour = '', , , weekday = ''] = schedule.split(' ');
    if (weekday !== '*') return 7 * 24;
    if (hour === '*') return 1;
    const every = /^\*\/(\d+)$/.exec(hour);
    if (every?.[1] !== undefined) return Number(every[1]);
    return 24;
  }

  test("audit-verify runs as often as monitoring assumes, and AuditIntegrityFailure's window spans a run", () => {
    expect(intervalHours(AUDIT_VERIFY_SCHEDULE)).toBe(AUDIT_VERIFY_INTERVAL_HOURS);
    const rule = LOG_ALERTS.find((alert) => alert.name === 'AuditIntegrityFailure');
    const minutes = Number(/\[(\d+)m\]/.exec(rule?.expr ?? '')?.[1]);
    // A shorter window resolves between two runs that both find the break, and the alert flaps every hour.
    expect(minutes).toBeGreaterThan(AUDIT_VERIFY_INTERVAL_HOURS * 60);
  });

  test('the backup and restore-drill schedules are the ones the staleness alerts assume', () => {
    expect(intervalHours(BACKUP_SCHEDULE)).toBe(6);
    expect(intervalHours(RESTORE_DRILL_SCHEDULE)).toBe(7 * 24);
  });
});

describe("Grafana's link from a log line to its trace", () => {
  test('the derived field finds the trace_id of an erp-api JSON line and opens it in the Jaeger data source', () => {
    const field = traceDerivedField();
    const line = JSON.stringify({
      level: 'info',
      service: 'erp-api',
      requestId: 'req-1',
      [TRACE_ID_FIELD]: '0af7651916cd43dd8448eb211c80319c',
      span_id: 'b7ad6b7169203331',
      msg: 'request',
    });
    expect(new RegExp(field.matcherRegex ?? '').exec(line)?.[1]).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(field).toMatchObject({ datasourceUid: TRACING_DATASOURCE_UID, url: '$${__value.raw}' });
    // the app's log field (app/src/observability/trace-context.ts), not the camelCase it used before
    expect(TRACE_ID_FIELD).toBe('trace_id');
  });
});
