import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What infra renders from monitoring/ (the monitoring issue generates it). The contract, in
 * `monitoring/generated/`:
 * - `rules.json`: the Prometheus rule groups (`{ "groups": [...] }`, the same content as the rules YAML);
 * - `dashboards/*.json`: one Grafana dashboard per file;
 * - `alertmanager.yaml`: the Alertmanager config; it reads the Slack webhook from `SLACK_WEBHOOK_FILE` and the
 *   PagerDuty routing key from `PAGERDUTY_ROUTING_KEY_FILE`;
 * - `loki/rules.yaml`: the Loki ruler's LogQL alerts.
 * Any of them missing: the placeholder below is used (no Loki rules at all), and `pending` names it.
 */
export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly Record<string, unknown>[];
}

export interface Dashboard {
  /** File name without `.json`; becomes the ConfigMap name. */
  readonly name: string;
  readonly json: string;
}

export interface MonitoringSources {
  readonly ruleGroups: readonly RuleGroup[];
  readonly dashboards: readonly Dashboard[];
  /** Alertmanager config as YAML text; `undefined` when the placeholder is built in code. */
  readonly alertmanagerConfig: string | undefined;
  /** The Loki ruler's rule file (Prometheus rule-file format, LogQL expressions) as YAML text. */
  readonly lokiRules: string | undefined;
  /** Which parts are still placeholders. */
  readonly pending: readonly ('rules' | 'dashboards' | 'alertmanager' | 'lokiRules')[];
}

/** A Secret the Prometheus operator mounts into Alertmanager at `/etc/alertmanager/secrets/<name>/<key>`. */
export interface AlertmanagerSecretFile {
  readonly secretName: string;
  readonly key: string;
}

export const SLACK_WEBHOOK_SECRET: AlertmanagerSecretFile = { secretName: 'alertmanager-slack', key: 'url' };
export const PAGERDUTY_ROUTING_KEY_SECRET: AlertmanagerSecretFile = {
  secretName: 'alertmanager-pagerduty',
  key: 'routing-key',
};

export function alertmanagerSecretPath(file: AlertmanagerSecretFile): string {
  return `/etc/alertmanager/secrets/${file.secretName}/${file.key}`;
}

/** Where the Alertmanager pod finds the Slack webhook URL (mounted from a Secret, never in the config). */
export const SLACK_WEBHOOK_FILE = alertmanagerSecretPath(SLACK_WEBHOOK_SECRET);
/** Where the Alertmanager pod finds the PagerDuty routing key; monitoring/src/alertmanager.ts reads the same path. */
export const PAGERDUTY_ROUTING_KEY_FILE = alertmanagerSecretPath(PAGERDUTY_ROUTING_KEY_SECRET);

export const MONITORING_GENERATED_DIR = fileURLToPath(new URL('../../monitoring/generated/', import.meta.url));

/** PENDING (monitoring issue): replaced by the generated burn-rate alerts. */
export const PENDING_RULE_GROUPS: readonly RuleGroup[] = [
  {
    name: 'erp-api-pending',
    rules: [
      {
        alert: 'ErpApiDown',
        expr: 'sum(up{job="erp-api"}) == 0',
        for: '5m',
        labels: { severity: 'critical' },
        annotations: {
          summary: 'No erp-api pod is scraped',
          description: 'Prometheus has scraped no erp-api target for 5 minutes.',
        },
      },
    ],
  },
];

/** PENDING (monitoring issue): replaced by the dashboards built with the Grafana Foundation SDK. */
export const PENDING_DASHBOARDS: readonly Dashboard[] = [
  {
    name: 'erp-api-pending',
    json: JSON.stringify({
      uid: 'erp-api-pending',
      title: 'erp-api (placeholder until monitoring/ generates dashboards)',
      schemaVersion: 39,
      panels: [
        {
          type: 'timeseries',
          title: 'Requests per second by status',
          gridPos: { x: 0, y: 0, w: 24, h: 8 },
          targets: [{ expr: 'sum by (status) (rate(http_requests_total{job="erp-api"}[5m]))' }],
        },
      ],
    }),
  },
];

export function loadMonitoringSources(dir: string = MONITORING_GENERATED_DIR): MonitoringSources {
  const pending: MonitoringSources['pending'][number][] = [];

  const rulesFile = join(dir, 'rules.json');
  let ruleGroups = PENDING_RULE_GROUPS;
  if (existsSync(rulesFile)) {
    const parsed = JSON.parse(readFileSync(rulesFile, 'utf8')) as { groups?: RuleGroup[] };
    if (!Array.isArray(parsed.groups)) throw new Error(`${rulesFile} has no "groups" array: regenerate monitoring/`);
    ruleGroups = parsed.groups;
  } else pending.push('rules');

  const dashboardDir = join(dir, 'dashboards');
  let dashboards = PENDING_DASHBOARDS;
  const files = existsSync(dashboardDir) ? readdirSync(dashboardDir).filter((file) => file.endsWith('.json')) : [];
  if (files.length > 0)
    dashboards = files.sort().map((file) => ({
      name: file.slice(0, -'.json'.length),
      json: readFileSync(join(dashboardDir, file), 'utf8'),
    }));
  else pending.push('dashboards');

  const alertmanagerFile = join(dir, 'alertmanager.yaml');
  let alertmanagerConfig: string | undefined;
  if (existsSync(alertmanagerFile)) alertmanagerConfig = readFileSync(alertmanagerFile, 'utf8');
  else pending.push('alertmanager');

  const lokiRulesFile = join(dir, 'loki', 'rules.yaml');
  let lokiRules: string | undefined;
  if (existsSync(lokiRulesFile)) lokiRules = readFileSync(lokiRulesFile, 'utf8');
  else pending.push('lokiRules');

  return { ruleGroups, dashboards, alertmanagerConfig, lokiRules, pending };
}

/** PENDING (monitoring issue): the placeholder Alertmanager config, one Slack receiver for everything. */
export function placeholderAlertmanagerConfig(slackChannel: string): string {
  return JSON.stringify({
    route: { receiver: 'slack', group_by: ['alertname', 'namespace'], repeat_interval: '4h' },
    receivers: [
      {
        name: 'slack',
        slack_configs: [{ api_url_file: SLACK_WEBHOOK_FILE, channel: slackChannel, send_resolved: true }],
      },
    ],
  });
}
