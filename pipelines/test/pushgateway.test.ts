import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { APP_METRICS, PUSHED_METRICS, PUSH_JOBS } from '@slipway/app/observability/metric-catalogue';
import { pushMetrics, PushError } from '@slipway/app/observability/push';
import { backupMissing, restoreDrillStale } from '@slipway/monitoring/alerts/backups';
import { freePort } from '../src/platform/ports.js';
import { silentProgress } from '../src/platform/progress.js';
import { prometheusService } from '../src/platform/services/prometheus.js';
import { PUSHGATEWAY_JOB, pushgatewayService } from '../src/platform/services/pushgateway.js';
import { Supervisor } from '../src/platform/supervisor.js';
import { waitUntil } from '../src/testing/wait.js';

const HOST = '127.0.0.1';

interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** The pushed-metric rule of an alert (the one labelled signal="pushed"). */
function pushedRule(alert: typeof backupMissing): string {
  const rule = alert.rules.find((candidate) => candidate.labels?.signal === 'pushed');
  if (rule === undefined) throw new Error(`${alert.name} has no rule on a pushed metric`);
  return rule.expr;
}

describe('Pushgateway scraped by Prometheus with honor_labels (the local platform services)', () => {
  let dir: string;
  let supervisor: Supervisor;
  let pushgatewayUrl: string;
  let prometheusUrl: string;

  async function query(expr: string): Promise<Sample[]> {
    const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as { status: string; data: { result: Sample[] } };
    expect(body.status).toBe('success');
    return body.data.result;
  }

  /** Waits until `expr` returns series (the next scrape), at most 20 s. */
  async function eventually(expr: string): Promise<Sample[]> {
    return waitUntil(
      `${expr} to return series`,
      async () => {
        const result = await query(expr);
        return result.length > 0 ? result : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-pushgateway-'));
    supervisor = new Supervisor(join(dir, 'state.json'), join(dir, 'logs'), silentProgress);
    const pushgateway = pushgatewayService({
      dir: join(dir, 'pushgateway'),
      host: HOST,
      port: await freePort(HOST),
      portEnv: 'none (the test picks a free port)',
    });
    const prometheus = prometheusService({
      dir: join(dir, 'prometheus'),
      host: HOST,
      port: await freePort(HOST),
      portEnv: 'none (the test picks a free port)',
      appTargets: [],
      pushgateway: `${pushgateway.host}:${String(pushgateway.port)}`,
    });
    await supervisor.start(pushgateway);
    await supervisor.start(prometheus);
    pushgatewayUrl = pushgateway.url;
    prometheusUrl = prometheus.url;
  }, 60_000);

  afterAll(async () => {
    await supervisor.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test('pushed series keep their job and namespace, and the alerts select them as the rules file has them', async () => {
    const now = Date.now() / 1000;
    await pushMetrics(pushgatewayUrl, { job: PUSH_JOBS.backup, namespace: 'erp' }, [
      { metric: APP_METRICS.backupLastSuccessTimestampSeconds, value: now - 8 * 3600 },
    ]);
    await pushMetrics(pushgatewayUrl, { job: PUSH_JOBS.restoreDrill, namespace: 'erp' }, [
      { metric: PUSHED_METRICS.restoreDrillLastSuccessTimestampSeconds, value: now - 60 },
      { metric: PUSHED_METRICS.restoreDrillRtoSeconds, value: 42.5 },
      { metric: PUSHED_METRICS.restoreDrillRpoSeconds, value: 30 },
    ]);

    const backup = await eventually(`${APP_METRICS.backupLastSuccessTimestampSeconds.name}{job="${PUSH_JOBS.backup}"}`);
    expect(backup).toHaveLength(1);
    // honor_labels: the pushed job wins over the scrape job; the gateway's own group label instance is empty.
    expect(backup[0]?.metric).toMatchObject({ job: PUSH_JOBS.backup, namespace: 'erp' });
    expect(backup[0]?.metric.job).not.toBe(PUSHGATEWAY_JOB);

    // An 8-hour-old backup meets BackupMissing's pushed rule; a 1-minute-old drill does not meet RestoreDrillStale's.
    const missing = await query(pushedRule(backupMissing));
    expect(missing.map((sample) => sample.metric)).toEqual([{ namespace: 'erp' }]);
    expect(Number(missing[0]?.value[1])).toBeGreaterThan(8 * 3600 - 60);
    expect(await eventually(`${PUSHED_METRICS.restoreDrillRtoSeconds.name}{job="${PUSH_JOBS.restoreDrill}"}`)).toEqual([
      expect.objectContaining({ value: [expect.any(Number), '42.5'] }),
    ]);
    expect(await query(pushedRule(restoreDrillStale))).toEqual([]);

    // A newer push replaces the group: the alert's condition clears.
    await pushMetrics(pushgatewayUrl, { job: PUSH_JOBS.backup, namespace: 'erp' }, [
      { metric: APP_METRICS.backupLastSuccessTimestampSeconds, value: now },
    ]);
    await waitUntil(
      'the BackupMissing condition to clear after the newer push',
      async () => (await query(pushedRule(backupMissing))).length === 0,
      { timeoutMs: 20_000, intervalMs: 500 },
    );
  }, 60_000);

  test('a push to a gateway that is not there fails with the URL and what to check', async () => {
    const port = await freePort(HOST);
    await expect(
      pushMetrics(`http://${HOST}:${String(port)}`, { job: PUSH_JOBS.backup, namespace: 'erp' }, [], 2_000),
    ).rejects.toThrow(
      new PushError(
        `could not push metrics to http://${HOST}:${String(port)}/metrics/job/erp-api-backup/namespace/erp: fetch failed; check PUSHGATEWAY_URL and that the Pushgateway is up`,
      ),
    );
  });
});
