import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';

import { freePort } from '@slipway/pipelines/platform/ports';
import {
  ALERTMANAGER_STACKS,
  HEARTBEAT_URL_FILE,
  INHIBITED_BY_DATABASE_DOWN,
  RECEIVERS,
  STACKS,
} from '../src/alertmanager.js';
import type { Stack } from '../src/alertmanager.js';
import { LOG_ALERTS } from '../src/loki.js';
import { ALERTS } from '../src/rules.js';
import { GENERATED } from './support/paths.js';
import { startTool, waitFor } from './support/processes.js';
import type { Started } from './support/processes.js';
import { ALERTMANAGER, AMTOOL, runTool } from './support/tools.js';

const configOf = (stack: Stack): string => join(GENERATED, 'alertmanager', `${stack}.yaml`);
const CONFIG = configOf('prod');

function routeOf(labels: Record<string, string>, config = CONFIG): string {
  const args = Object.entries(labels).map(([key, value]) => `${key}=${value}`);
  const result = runTool(AMTOOL(), ['config', 'routes', 'test', `--config.file=${config}`, ...args]);
  expect(result.status, result.output).toBe(0);
  return result.output
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('Warning'))
    .join('\n');
}

describe('Alertmanager config', () => {
  test.each(STACKS)('amtool check-config accepts the %s config', (stack) => {
    const result = runTool(AMTOOL(), ['check-config', configOf(stack)]);
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  test('each stack posts to its own channel; only prod pages; other sources go to the platform receiver', () => {
    for (const stack of STACKS) {
      const text = readFileSync(configOf(stack), 'utf8');
      const config = parse(text) as { receivers: { name: string; pagerduty_configs?: unknown[] }[] };
      const page = config.receivers.find((receiver) => receiver.name === RECEIVERS.page);
      expect(page?.pagerduty_configs !== undefined, `${stack} pages`).toBe(stack === 'prod');
      expect(text).toContain(`channel: "${ALERTMANAGER_STACKS[stack].ticketChannel}"`);
      for (const other of STACKS.filter((candidate) => candidate !== stack))
        expect(text, `${stack} names ${other}'s channel`).not.toContain(
          `channel: "${ALERTMANAGER_STACKS[other].ticketChannel}"`,
        );
      expect(
        routeOf({ alertname: 'KubePodCrashLooping', namespace: 'kube-system', severity: 'critical' }, configOf(stack)),
      ).toBe(RECEIVERS.platform);
      expect(routeOf({ alertname: 'HighErrorRate', service: 'erp-api', severity: 'critical' }, configOf(stack))).toBe(
        RECEIVERS.page,
      );
    }
  });

  test('critical goes to the page receiver, warning to ticket, info and none to nobody, Watchdog to its own', () => {
    expect(routeOf({ alertname: 'HighErrorRate', service: 'erp-api', severity: 'critical' })).toBe(RECEIVERS.page);
    expect(routeOf({ alertname: 'HighLatencyP99', service: 'erp-api', severity: 'warning' })).toBe(RECEIVERS.ticket);
    expect(routeOf({ alertname: 'LowCacheHitRate', service: 'erp-api', severity: 'info' })).toBe(RECEIVERS.none);
    expect(routeOf({ alertname: 'Watchdog', service: 'erp-api', severity: 'none' })).toBe(RECEIVERS.watchdog);
  });

  test('every generated alert reaches the receiver its severity names', () => {
    const expected = {
      critical: RECEIVERS.page,
      warning: RECEIVERS.ticket,
      info: RECEIVERS.none,
      none: RECEIVERS.none,
    };
    const rules = [
      ...ALERTS.flatMap((alert) => alert.rules.map((rule) => ({ name: alert.name, severity: rule.severity }))),
      ...LOG_ALERTS.map((alert) => ({ name: alert.name, severity: alert.severity })),
    ];
    for (const { name, severity } of rules) {
      if (name === 'Watchdog') continue;
      expect(routeOf({ alertname: name, service: 'erp-api', severity }), `${name} (${severity})`).toBe(
        expected[severity],
      );
    }
  });

  test('holds no secret: every endpoint is read from a mounted file', () => {
    const text = readFileSync(CONFIG, 'utf8');
    const config = parse(text) as { receivers: Record<string, unknown>[] };
    expect(text).not.toMatch(/hooks\.slack\.com|routing_key:|api_url:|service_key:/);
    const configs = config.receivers.flatMap((receiver) =>
      Object.entries(receiver)
        .filter(([key]) => key.endsWith('_configs'))
        .flatMap(([, list]) => list as Record<string, unknown>[]),
    );
    expect(configs.length).toBeGreaterThan(0);
    for (const entry of configs) expect(Object.keys(entry).some((key) => key.endsWith('_file'))).toBe(true);
  });

  test("groups erp-api's alerts by alertname, service and slo: one notification per SLO that burns", () => {
    const config = parse(readFileSync(CONFIG, 'utf8')) as {
      route: { routes: { matchers: string[]; group_by?: string[] }[] };
    };
    const service = config.route.routes.find((route) => route.matchers.includes('service="erp-api"'));
    expect(service?.group_by).toEqual(['alertname', 'service', 'slo']);
  });
});

describe('Alertmanager inhibition (a real Alertmanager)', () => {
  let dir: string;
  let alertmanager: Started;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-alertmanager-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    alertmanager = startTool(
      ALERTMANAGER(),
      [
        `--config.file=${CONFIG}`,
        `--storage.path=${dir}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
      ],
      dir,
    );
    await waitFor(
      'Alertmanager ready',
      async () => {
        const response = await fetch(`${url}/-/ready`);
        if (!response.ok) throw new Error(`/-/ready answered ${response.status}`);
      },
      20_000,
      alertmanager.log,
    );
  });

  afterAll(async () => {
    await alertmanager.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('DatabaseDown silences the alerts it causes, and not unrelated ones', async () => {
    const alert = (alertname: string, severity = 'critical') => ({
      labels: { alertname, service: 'erp-api', severity },
    });
    const posted = await fetch(`${url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        alert('DatabaseDown'),
        ...INHIBITED_BY_DATABASE_DOWN.map((name) => alert(name, 'warning')),
        alert('BackupFailed', 'warning'),
      ]),
    });
    expect(posted.status).toBe(200);
    const states = await waitFor(
      'inhibition applied',
      async () => {
        const response = await fetch(`${url}/api/v2/alerts`);
        const alerts = (await response.json()) as { labels: { alertname: string }; status: { state: string } }[];
        const byName = new Map(alerts.map((a) => [a.labels.alertname, a.status.state]));
        if (byName.get('HighErrorRate') !== 'suppressed') throw new Error(JSON.stringify([...byName]));
        return byName;
      },
      10_000,
      alertmanager.log,
    );
    expect(states.get('DatabaseDown')).toBe('active');
    for (const name of INHIBITED_BY_DATABASE_DOWN) expect(states.get(name), name).toBe('suppressed');
    expect(states.get('BackupFailed')).toBe('active');
  });

  test('the availability page inhibits HighErrorRate: one incident per problem', async () => {
    const service = 'erp-api-inhibition-check';
    const posted = await fetch(`${url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          labels: {
            alertname: 'ErrorBudgetBurn',
            service,
            severity: 'critical',
            slo: 'api-availability',
            sli: 'availability',
          },
        },
        { labels: { alertname: 'HighErrorRate', service, severity: 'critical' } },
      ]),
    });
    expect(posted.status).toBe(200);
    const state = await waitFor(
      'HighErrorRate suppressed',
      async () => {
        const alerts = (await (await fetch(`${url}/api/v2/alerts`)).json()) as {
          labels: { alertname: string; service: string };
          status: { state: string };
        }[];
        const target = alerts.find((a) => a.labels.service === service && a.labels.alertname === 'HighErrorRate');
        if (target?.status.state !== 'suppressed') throw new Error(JSON.stringify(alerts.map((a) => a.status)));
        return alerts.find((a) => a.labels.service === service && a.labels.alertname === 'ErrorBudgetBurn');
      },
      10_000,
      alertmanager.log,
    );
    expect(state?.status.state).toBe('active');
  });
});

/** The config as a pod sees it, with each mounted Secret file moved under `dir` (nothing else changes). */
function withSecretsUnder(dir: string, config: unknown, contents: Record<string, string>): unknown {
  if (Array.isArray(config)) return config.map((item) => withSecretsUnder(dir, item, contents));
  if (typeof config !== 'object' || config === null) return config;
  return Object.fromEntries(
    Object.entries(config).map(([key, value]) => {
      if (!key.endsWith('_file') || typeof value !== 'string') return [key, withSecretsUnder(dir, value, contents)];
      const content = contents[value];
      if (content === undefined) throw new Error(`the test has no content for the mounted file ${value}`);
      const file = join(dir, 'secrets', value.replaceAll('/', '_'));
      mkdirSync(join(dir, 'secrets'), { recursive: true });
      writeFileSync(file, content, { mode: 0o600 });
      return [key, file];
    }),
  );
}

describe("the dead man's switch (a real Alertmanager with each stack's config)", () => {
  test('every stack reads its heartbeat URL from the mounted Secret file, never from the config', () => {
    for (const stack of STACKS) {
      const config = parse(readFileSync(configOf(stack), 'utf8')) as {
        receivers: { name: string; webhook_configs?: Record<string, unknown>[] }[];
      };
      const watchdog = config.receivers.find((receiver) => receiver.name === RECEIVERS.watchdog);
      expect(watchdog?.webhook_configs, stack).toEqual([{ url_file: HEARTBEAT_URL_FILE, send_resolved: false }]);
    }
  });

  test.each(STACKS)('%s: Watchdog reaches the heartbeat URL held in the secret file', async (stack) => {
    const dir = mkdtempSync(join(tmpdir(), `slipway-heartbeat-${stack}-`));
    const secret = randomUUID();
    const pings: { path: string; body: string }[] = [];
    // The heartbeat service: only a POST to the secret path counts as a ping, as with healthchecks.io.
    const receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        pings.push({ path: `${request.method ?? ''} ${request.url ?? ''}`, body });
        response.statusCode = request.method === 'POST' && request.url === `/ping/${secret}` ? 200 : 404;
        response.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const heartbeatUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/ping/${secret}`;
    const config = withSecretsUnder(dir, parse(readFileSync(configOf(stack), 'utf8')), {
      [HEARTBEAT_URL_FILE]: heartbeatUrl,
      [ALERTMANAGER_STACKS[stack].slackWebhookFile]: 'http://127.0.0.1:9/slack-is-not-called-here',
      ...(ALERTMANAGER_STACKS[stack].pagerDutyRoutingKeyFile === undefined
        ? {}
        : { [ALERTMANAGER_STACKS[stack].pagerDutyRoutingKeyFile]: 'routing-key-not-called-here' }),
    });
    const configFile = join(dir, 'alertmanager.yaml');
    writeFileSync(configFile, stringify(config));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const alertmanager = startTool(
      ALERTMANAGER(),
      [
        `--config.file=${configFile}`,
        `--storage.path=${dir}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
      ],
      dir,
    );
    try {
      await waitFor(
        'Alertmanager ready',
        async () => {
          const response = await fetch(`${url}/-/ready`);
          if (!response.ok) throw new Error(`/-/ready answered ${response.status}`);
        },
        20_000,
        alertmanager.log,
      );
      const [watchdog] = ALERTS.filter((alert) => alert.name === 'Watchdog').flatMap((alert) => alert.rules);
      const posted = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ labels: { alertname: 'Watchdog', severity: watchdog?.severity } }]),
      });
      expect(posted.status).toBe(200);
      const ping = await waitFor(
        'the heartbeat receives Watchdog',
        () => {
          const hit = pings.find((candidate) => candidate.path === `POST /ping/${secret}`);
          if (hit === undefined) throw new Error(`requests so far: ${JSON.stringify(pings.map((p) => p.path))}`);
          return Promise.resolve(hit);
        },
        15_000,
        alertmanager.log,
      );
      const payload = JSON.parse(ping.body) as {
        receiver: string;
        status: string;
        alerts: { labels: Record<string, string> }[];
      };
      expect(payload.receiver).toBe(RECEIVERS.watchdog);
      expect(payload.status).toBe('firing');
      expect(payload.alerts.map((alert) => alert.labels.alertname)).toEqual(['Watchdog']);
      expect(pings.filter((candidate) => candidate.path !== `POST /ping/${secret}`)).toEqual([]);
    } finally {
      await alertmanager.stop();
      await new Promise((resolve) => receiver.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
