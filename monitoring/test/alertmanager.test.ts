import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';

import { freePort } from '../../pipelines/src/platform/ports.js';
import { ALERTMANAGER_STACKS, INHIBITED_BY_DATABASE_DOWN, RECEIVERS, STACKS } from '../src/alertmanager.js';
import type { Stack } from '../src/alertmanager.js';
import { LOG_ALERTS } from '../src/loki.js';
import { ALERTS } from '../src/rules.js';
import { GENERATED } from './support/paths.js';
import { startTool, waitFor } from './support/processes.js';
import type { Started } from './support/processes.js';
import { runTool } from './support/tools.js';

const configOf = (stack: Stack): string => join(GENERATED, 'alertmanager', `${stack}.yaml`);
const CONFIG = configOf('prod');

function routeOf(labels: Record<string, string>, config = CONFIG): string {
  const args = Object.entries(labels).map(([key, value]) => `${key}=${value}`);
  const result = runTool('amtool', ['config', 'routes', 'test', `--config.file=${config}`, ...args]);
  expect(result.status, result.output).toBe(0);
  return result.output
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('Warning'))
    .join('\n');
}

describe('Alertmanager config', () => {
  test.each(STACKS)('amtool check-config accepts the %s config', (stack) => {
    const result = runTool('amtool', ['check-config', configOf(stack)]);
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
      'prometheus-alertmanager',
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
