/**
 * Alertmanager routing: critical pages, warning opens a ticket, info and none reach nobody. Every endpoint comes
 * from a file mounted from a Secret (Alertmanager 0.25 reads `*_file` options), so the config holds no secret.
 */
export interface AlertmanagerOptions {
  /** File holding the Slack incoming-webhook URL of the ticket channel. */
  readonly slackWebhookFile: string;
  readonly ticketChannel: string;
  /** File holding the PagerDuty Events API v2 routing key of the on-call service. */
  readonly pagerDutyRoutingKeyFile: string;
  /** Where the dead man's switch receives Watchdog; none by default (Alertmanager 0.25 has no webhook url_file). */
  readonly deadMansSwitch?: { readonly url: string; readonly credentialsFile: string };
}

/** What infra mounts: the Slack file is infra's SLACK_WEBHOOK_FILE; the PagerDuty key is a Secret of its own. */
export const DEFAULT_ALERTMANAGER_OPTIONS: AlertmanagerOptions = {
  slackWebhookFile: '/etc/alertmanager/secrets/alertmanager-slack/url',
  ticketChannel: '#erp-alerts',
  pagerDutyRoutingKeyFile: '/etc/alertmanager/secrets/alertmanager-pagerduty/routing-key',
};

export const RECEIVERS = { page: 'page', ticket: 'ticket', none: 'none', watchdog: 'watchdog' } as const;

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
  const watchdogReceiver =
    options.deadMansSwitch === undefined
      ? { name: RECEIVERS.watchdog }
      : {
          name: RECEIVERS.watchdog,
          webhook_configs: [
            {
              url: options.deadMansSwitch.url,
              send_resolved: false,
              http_config: { authorization: { credentials_file: options.deadMansSwitch.credentialsFile } },
            },
          ],
        };
  return {
    global: { resolve_timeout: '5m' },
    route: {
      receiver: RECEIVERS.ticket,
      // One notification per SLO: a burn of api-latency and one of orders-availability are two problems.
      group_by: ['alertname', 'service', 'slo'],
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
        { receiver: RECEIVERS.page, matchers: ['severity="critical"'], repeat_interval: '1h' },
        { receiver: RECEIVERS.ticket, matchers: ['severity="warning"'], repeat_interval: '12h' },
        { receiver: RECEIVERS.none, matchers: ['severity=~"info|none"'] },
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
        slack_configs: [
          {
            api_url_file: options.slackWebhookFile,
            channel: options.ticketChannel,
            send_resolved: true,
            title: TEMPLATE_TITLE,
            text: TEMPLATE_TEXT,
          },
        ],
      },
      {
        name: RECEIVERS.ticket,
        slack_configs: [
          {
            api_url_file: options.slackWebhookFile,
            channel: options.ticketChannel,
            send_resolved: true,
            title: TEMPLATE_TITLE,
            text: TEMPLATE_TEXT,
          },
        ],
      },
      { name: RECEIVERS.none },
      watchdogReceiver,
    ],
  };
}
