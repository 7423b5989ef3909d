import { SERVICE } from './config.js';

/**
 * Alertmanager routing: critical pages, warning opens a ticket, info and none reach nobody. Every endpoint comes
 * from a file mounted from a Secret, so the config holds no secret. The webhook's `url_file` needs Alertmanager
 * 0.26 or later: the cluster runs kube-prometheus-stack's v0.28.1, and tools.versions pins the same for the tests.
 */
/** The stacks infra deploys (Pulumi.<stack>.yaml); each gets its own Alertmanager config. */
export const STACKS = ['dev', 'staging', 'prod'] as const;
export type Stack = (typeof STACKS)[number];

export interface AlertmanagerOptions {
  readonly stack: Stack;
  /** File holding the Slack incoming-webhook URL (one Slack app posts to every channel below). */
  readonly slackWebhookFile: string;
  /** erp-api's channel; equals the stack's `alertSlackChannel` (an infra check holds the two together). */
  readonly ticketChannel: string;
  /** Where alerts of other sources go (the cluster's own rules from kube-prometheus-stack). */
  readonly platformChannel: string;
  /** File holding the PagerDuty Events API v2 routing key; only a stack that pages has one. */
  readonly pagerDutyRoutingKeyFile?: string;
  /**
   * File holding the dead man's switch URL that receives Watchdog every minute. Heartbeat services (healthchecks.io,
   * Dead Man's Snitch, PagerDuty heartbeats) put the secret in the URL itself, so the whole URL lives in the file.
   */
  readonly heartbeatUrlFile: string;
}

const SLACK_WEBHOOK_FILE = '/etc/alertmanager/secrets/alertmanager-slack/url';
/** Each stack's Secret holds its own heartbeat URL: a silent dev cluster must not look like a healthy prod one. */
export const HEARTBEAT_URL_FILE = '/etc/alertmanager/secrets/alertmanager-heartbeat/url';

/** Per stack: its own channels; only prod pages a person, dev and staging post critical alerts to Slack. */
export const ALERTMANAGER_STACKS: Readonly<Record<Stack, AlertmanagerOptions>> = {
  dev: {
    stack: 'dev',
    slackWebhookFile: SLACK_WEBHOOK_FILE,
    ticketChannel: '#erp-alerts-dev',
    platformChannel: '#platform-alerts-dev',
    heartbeatUrlFile: HEARTBEAT_URL_FILE,
  },
  staging: {
    stack: 'staging',
    slackWebhookFile: SLACK_WEBHOOK_FILE,
    ticketChannel: '#erp-alerts-staging',
    platformChannel: '#platform-alerts-staging',
    heartbeatUrlFile: HEARTBEAT_URL_FILE,
  },
  prod: {
    stack: 'prod',
    slackWebhookFile: SLACK_WEBHOOK_FILE,
    ticketChannel: '#erp-alerts',
    platformChannel: '#platform-alerts',
    heartbeatUrlFile: HEARTBEAT_URL_FILE,
    pagerDutyRoutingKeyFile: '/etc/alertmanager/secrets/alertmanager-pagerduty/routing-key',
  },
};

/** The production config: what a single rendering without a stack means. */
export const DEFAULT_ALERTMANAGER_OPTIONS: AlertmanagerOptions = ALERTMANAGER_STACKS.prod;

export const RECEIVERS = {
  page: 'page',
  ticket: 'ticket',
  none: 'none',
  watchdog: 'watchdog',
  platform: 'platform',
} as const;

/**
 * Alerts a DatabaseDown makes fire on its own: errors, slowness and burn of a service that cannot reach its
 * database. ServiceDown covers the same for an API that does not answer at all.
 */
export const INHIBITED_BY_DATABASE_DOWN = [
  'HighErrorRate',
  'HighLatencyP99',
  'ErrorBudgetBurn',
  'ConnectionPoolNearExhaustion',
  'SlowQueriesRising',
] as const;
export const INHIBITED_BY_SERVICE_DOWN = [
  'InstanceDown',
  'HighErrorRate',
  'HighLatencyP99',
  'ErrorBudgetBurn',
] as const;

const TEMPLATE_TITLE = '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.service }})';
const TEMPLATE_TEXT =
  '{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\nRunbook: {{ .Annotations.runbook_url }}\n{{ end }}';

const anyOf = (names: readonly string[]): string => `alertname=~"${names.join('|')}"`;

export function alertmanagerConfig(options: AlertmanagerOptions = DEFAULT_ALERTMANAGER_OPTIONS): object {
  // The heartbeat service pages when the pings stop; a resolved Watchdog never happens, so none is sent.
  const watchdogReceiver = {
    name: RECEIVERS.watchdog,
    webhook_configs: [{ url_file: options.heartbeatUrlFile, send_resolved: false }],
  };
  const slack = (channel: string) => ({
    api_url_file: options.slackWebhookFile,
    channel,
    send_resolved: true,
    title: TEMPLATE_TITLE,
    text: TEMPLATE_TEXT,
  });
  return {
    global: { resolve_timeout: '5m' },
    route: {
      // Anything that is not erp-api's (the cluster's own rules) goes to the platform team's channel.
      receiver: RECEIVERS.platform,
      group_by: ['alertname', 'namespace'],
      group_wait: '30s',
      group_interval: '5m',
      repeat_interval: '4h',
      routes: [
        {
          receiver: RECEIVERS.watchdog,
          matchers: ['alertname="Watchdog"'],
          group_wait: '0s',
          group_interval: '1m',
          repeat_interval: '1m',
        },
        {
          receiver: RECEIVERS.ticket,
          matchers: [`service="${SERVICE}"`],
          // One notification per SLO: a burn of api-latency and one of orders-availability are two problems.
          group_by: ['alertname', 'service', 'slo'],
          routes: [
            { receiver: RECEIVERS.page, matchers: ['severity="critical"'], repeat_interval: '1h' },
            { receiver: RECEIVERS.ticket, matchers: ['severity="warning"'], repeat_interval: '12h' },
            { receiver: RECEIVERS.none, matchers: ['severity=~"info|none"'] },
          ],
        },
      ],
    },
    inhibit_rules: [
      {
        source_matchers: ['alertname="DatabaseDown"'],
        target_matchers: [anyOf(INHIBITED_BY_DATABASE_DOWN)],
        equal: ['service'],
      },
      {
        source_matchers: ['alertname="ServiceDown"'],
        target_matchers: [anyOf(INHIBITED_BY_SERVICE_DOWN)],
        equal: ['service'],
      },
      // The availability page already says the API fails; HighErrorRate would be a second incident for it.
      {
        source_matchers: ['alertname="ErrorBudgetBurn"', 'severity="critical"', 'sli="availability"'],
        target_matchers: ['alertname="HighErrorRate"'],
        equal: ['service'],
      },
      // A page already says it: the ticket of the same alert would only repeat it.
      {
        source_matchers: ['severity="critical"'],
        target_matchers: ['severity="warning"'],
        equal: ['alertname', 'service', 'slo'],
      },
    ],
    receivers: [
      {
        name: RECEIVERS.page,
        ...(options.pagerDutyRoutingKeyFile === undefined
          ? {}
          : {
              pagerduty_configs: [
                {
                  routing_key_file: options.pagerDutyRoutingKeyFile,
                  severity: 'critical',
                  description: '{{ .CommonAnnotations.summary }}',
                  client: 'Alertmanager',
                  details: {
                    alertname: '{{ .CommonLabels.alertname }}',
                    service: '{{ .CommonLabels.service }}',
                    description: '{{ .CommonAnnotations.description }}',
                    runbook_url: '{{ .CommonAnnotations.runbook_url }}',
                  },
                },
              ],
            }),
        slack_configs: [slack(options.ticketChannel)],
      },
      { name: RECEIVERS.ticket, slack_configs: [slack(options.ticketChannel)] },
      { name: RECEIVERS.platform, slack_configs: [slack(options.platformChannel)] },
      { name: RECEIVERS.none },
      watchdogReceiver,
    ],
  };
}
