import { parser } from '@grafana/lezer-logql';

import { SERVICE, runbookUrl } from './config.js';
import { AUDIT_VERIFY_INTERVAL_HOURS } from './rules.js';
import type { Severity } from './rules.js';

/**
 * Loki in single-binary mode (one process: distributor, ingester, querier, ruler, compactor) with filesystem
 * storage, 30 days of retention applied by the compactor, and LogQL alert rules for its ruler.
 */

export const LOKI_RETENTION = '720h';
/** Where Loki keeps its data inside the container or the local platform directory. */
export const LOKI_DATA_DIR = '/var/loki';

/** Loki's index and chunk schema, the same for the cluster's Loki (Helm values) and the local one. */
export const LOKI_SCHEMA_CONFIGS = [
  {
    from: '2025-01-01',
    store: 'tsdb',
    object_store: 'filesystem',
    schema: 'v13',
    index: { prefix: 'index_', period: '24h' },
  },
];

export interface LokiOptions {
  readonly dataDir: string;
  readonly httpPort: number;
  readonly alertmanagerUrl: string;
}

export const DEFAULT_LOKI_OPTIONS: LokiOptions = {
  dataDir: LOKI_DATA_DIR,
  httpPort: 3100,
  alertmanagerUrl: 'http://kube-prometheus-stack-alertmanager.monitoring.svc:9093',
};

export function lokiConfig(options: LokiOptions = DEFAULT_LOKI_OPTIONS): object {
  const dir = options.dataDir;
  return {
    target: 'all',
    auth_enabled: false,
    server: { http_listen_port: options.httpPort, grpc_listen_port: 9096, log_level: 'info' },
    common: {
      instance_addr: '127.0.0.1',
      path_prefix: dir,
      replication_factor: 1,
      ring: { kvstore: { store: 'inmemory' } },
      storage: { filesystem: { chunks_directory: `${dir}/chunks`, rules_directory: `${dir}/rules` } },
    },
    schema_config: { configs: LOKI_SCHEMA_CONFIGS },
    limits_config: {
      retention_period: LOKI_RETENTION,
      reject_old_samples: true,
      reject_old_samples_max_age: '168h',
      allow_structured_metadata: true,
    },
    compactor: {
      working_directory: `${dir}/compactor`,
      compaction_interval: '10m',
      retention_enabled: true,
      retention_delete_delay: '2h',
      retention_delete_worker_count: 150,
      delete_request_store: 'filesystem',
    },
    ruler: {
      alertmanager_url: options.alertmanagerUrl,
      enable_api: true,
      enable_alertmanager_v2: true,
      rule_path: `${dir}/rules-temp`,
      storage: { type: 'local', local: { directory: `${dir}/rules` } },
      ring: { kvstore: { store: 'inmemory' } },
    },
    analytics: { reporting_enabled: false },
  };
}

/** The retention part of the config, as values of the grafana/loki Helm chart (`loki:` key) that infra installs. */
export function lokiRetentionHelmValues(): object {
  return {
    limits_config: { retention_period: LOKI_RETENTION },
    compactor: {
      retention_enabled: true,
      retention_delete_delay: '2h',
      delete_request_store: 'filesystem',
      compaction_interval: '10m',
    },
  };
}

/** Stream labels Alloy attaches (infra/src/components/observability.ts): the only ones a selector may use. */
export const LOG_STREAM_LABELS = ['namespace', 'pod', 'app'] as const;
/** Fields of erp-api's pino JSON lines that rules filter on after `| json`. */
export const LOG_FIELDS = ['level', 'event', 'msg', 'service', 'env'] as const;
/** The field of erp-api's log lines that names their trace (app/src/observability/trace-context.ts). */
export const TRACE_ID_FIELD = 'trace_id';
/** Grafana's uid of the tracing (Jaeger) data source that log lines link to. */
export const TRACING_DATASOURCE_UID = 'jaeger';

/** Grafana's Loki data source derived field: a JSON log line's trace id, opened in the tracing data source. */
export function traceDerivedField(): Record<string, string> {
  return {
    name: 'TraceID',
    matcherType: 'regex',
    matcherRegex: `"${TRACE_ID_FIELD}":"([0-9a-f]{32})"`,
    // $$ keeps Grafana's provisioning from reading ${__value.raw} (the matched id) as an environment variable
    url: '$${__value.raw}',
    datasourceUid: TRACING_DATASOURCE_UID,
  };
}

/** The `event` field the audit component logs when the hash chain of audit_logs does not verify. */
export const AUDIT_INTEGRITY_EVENT = 'audit.integrity_failed';

export interface LogAlertDefinition {
  readonly name: string;
  readonly expr: string;
  readonly for?: string;
  readonly severity: Severity;
  readonly summary: string;
  readonly description: string;
}

const STREAM = `{app="${SERVICE}"}`;

/** One audit-verify interval plus 15 minutes for a slow run: a tampered chain keeps the alert firing. */
export const AUDIT_INTEGRITY_WINDOW = `${AUDIT_VERIFY_INTERVAL_HOURS * 60 + 15}m`;

export const LOG_ALERTS: readonly LogAlertDefinition[] = [
  {
    name: 'ErrorLogBurst',
    expr: `sum by (namespace) (count_over_time(${STREAM} | json | level=~"error|fatal" [5m])) > 50`,
    for: '5m',
    severity: 'warning',
    summary: 'erp-api logs errors in a burst',
    description:
      'erp-api in namespace {{ $labels.namespace }} logged {{ $value }} error or fatal lines in the last 5 minutes (threshold 50).',
  },
  {
    name: 'AuditIntegrityFailure',
    // audit-verify logs a break once per run: the window spans a run interval, so the alert holds between runs.
    expr: `sum by (namespace) (count_over_time(${STREAM} | json | event="${AUDIT_INTEGRITY_EVENT}" [${AUDIT_INTEGRITY_WINDOW}])) > 0`,
    severity: 'critical',
    summary: 'The audit log hash chain does not verify',
    description: `erp-api in namespace {{ $labels.namespace }} logged {{ $value }} audit integrity failures in the last ${AUDIT_INTEGRITY_WINDOW}: a row of audit_logs was changed or removed outside the app.`,
  },
];

/** The Loki ruler's rule file (Prometheus rule-file format with LogQL expressions). */
export function lokiRuleGroups(runbookBaseUrl: string): object {
  return {
    groups: [
      {
        name: 'erp-api-logs',
        rules: LOG_ALERTS.map((alert) => ({
          alert: alert.name,
          expr: alert.expr,
          ...(alert.for === undefined ? {} : { for: alert.for }),
          labels: { severity: alert.severity, service: SERVICE },
          annotations: {
            summary: alert.summary,
            description: alert.description,
            runbook_url: runbookUrl(alert.name, runbookBaseUrl),
          },
        })),
      },
    ],
  };
}

export interface LogqlAnalysis {
  readonly syntaxErrors: readonly string[];
  /** Labels used in stream selectors (`{…}`). */
  readonly streamLabels: readonly string[];
  /** Labels used in label filters after a parser (`| json | level="error"`). */
  readonly filterLabels: readonly string[];
  /** Whether a metric query (count_over_time, sum…) rather than a log query. */
  readonly isMetricQuery: boolean;
}

/** Parses LogQL with Grafana's Lezer grammar (the one Grafana's Loki editor uses). */
export function analyzeLogql(expr: string): LogqlAnalysis {
  const tree = parser.parse(expr);
  const syntaxErrors: string[] = [];
  const streamLabels: string[] = [];
  const filterLabels: string[] = [];
  let isMetricQuery = false;
  tree.iterate({
    enter: (ref) => {
      if (ref.type.isError)
        syntaxErrors.push(`syntax error at ${ref.from}: …${expr.slice(Math.max(0, ref.from - 20), ref.from + 20)}…`);
      if (ref.name === 'MetricExpr') isMetricQuery = true;
      if (ref.name !== 'Matcher') return;
      const identifier = ref.node.getChild('Identifier');
      if (identifier === null) return;
      const label = expr.slice(identifier.from, identifier.to);
      // A Matcher inside a Selector is a stream selector; inside a LabelFilter it filters parsed fields.
      let parent = ref.node.parent;
      while (parent !== null && parent.name !== 'Selector' && parent.name !== 'LabelFilter') parent = parent.parent;
      if (parent?.name === 'Selector') streamLabels.push(label);
      else filterLabels.push(label);
    },
  });
  return { syntaxErrors, streamLabels, filterLabels, isMetricQuery };
}
