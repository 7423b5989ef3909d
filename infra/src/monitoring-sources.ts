import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { STACKS, type Stack } from '@slipway/monitoring/alertmanager';

/**
 * What infra renders from monitoring/ (`npm run generate -w monitoring` writes it, a drift test keeps it current),
 * in `monitoring/generated/`:
 * - `rules.json`: the Prometheus rule groups (`{ "groups": [...] }`, the same content as the rules YAML);
 * - `dashboards/*.json`: one Grafana dashboard per file;
 * - `alertmanager/<stack>.yaml`: each stack's Alertmanager config; it reads every endpoint from a mounted file;
 * - `loki/rules.yaml`: the Loki ruler's LogQL alerts.
 * A missing file is an error: there is no placeholder to fall back to.
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
  /** Alertmanager config as YAML text, per stack (its channels; only prod pages). */
  readonly alertmanagerConfigs: Readonly<Record<Stack, string>>;
  /** The Loki ruler's rule file (Prometheus rule-file format, LogQL expressions) as YAML text. */
  readonly lokiRules: string;
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

export const HEARTBEAT_URL_SECRET: AlertmanagerSecretFile = { secretName: 'alertmanager-heartbeat', key: 'url' };

export function alertmanagerSecretPath(file: AlertmanagerSecretFile): string {
  return `/etc/alertmanager/secrets/${file.secretName}/${file.key}`;
}

/** Where the Alertmanager pod finds the Slack webhook URL (mounted from a Secret, never in the config). */
export const SLACK_WEBHOOK_FILE = alertmanagerSecretPath(SLACK_WEBHOOK_SECRET);
/** Where the Alertmanager pod finds the PagerDuty routing key; monitoring/src/alertmanager.ts reads the same path. */
export const PAGERDUTY_ROUTING_KEY_FILE = alertmanagerSecretPath(PAGERDUTY_ROUTING_KEY_SECRET);

export const MONITORING_GENERATED_DIR = fileURLToPath(new URL('../../monitoring/generated/', import.meta.url));

/** Reads one generated file, or says which is missing and how to make it. */
function generated(dir: string, path: string): string {
  const file = join(dir, path);
  if (!existsSync(file))
    throw new Error(`${file} does not exist: run \`npm run generate -w monitoring\` and commit monitoring/generated/`);
  return readFileSync(file, 'utf8');
}

export function loadMonitoringSources(dir: string = MONITORING_GENERATED_DIR): MonitoringSources {
  const rulesFile = join(dir, 'rules.json');
  const parsed = JSON.parse(generated(dir, 'rules.json')) as { groups?: RuleGroup[] };
  if (!Array.isArray(parsed.groups)) throw new Error(`${rulesFile} has no "groups" array: regenerate monitoring/`);

  const dashboardDir = join(dir, 'dashboards');
  const files = existsSync(dashboardDir) ? readdirSync(dashboardDir).filter((file) => file.endsWith('.json')) : [];
  if (files.length === 0) throw new Error(`${dashboardDir} holds no dashboard: run \`npm run generate -w monitoring\``);
  const dashboards = files.sort().map((file) => ({
    name: file.slice(0, -'.json'.length),
    json: readFileSync(join(dashboardDir, file), 'utf8'),
  }));

  return {
    ruleGroups: parsed.groups,
    dashboards,
    alertmanagerConfigs: Object.fromEntries(
      STACKS.map((stack) => [stack, generated(dir, join('alertmanager', `${stack}.yaml`))]),
    ) as Record<Stack, string>,
    lokiRules: generated(dir, join('loki', 'rules.yaml')),
  };
}
