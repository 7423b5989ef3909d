import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { clusterOnlyReason } from '@slipway/monitoring/cluster-only';
import { APP_SELECTOR } from '@slipway/monitoring/config';
import { main as preview } from '../../src/preview/cli.js';
import type { PanelResult } from '../../src/preview/dashboards.js';
import { main as release } from '../../src/release/cli.js';
import { EXIT } from '../../src/release/errors.js';
import { ARTIFACTS_DIR, openInChromium } from './chromium.js';
import { promotedRecord } from './record.js';
import { driveTraffic, type ReleaseStack, startReleaseStack, waitForSeries } from './stack.js';

function collect(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

describe('the release report and the dashboard preview, opened in headless Chromium', () => {
  let stack: ReleaseStack;
  let dir: string;
  let startedAt: Date;
  let finishedAt: Date;

  beforeAll(async () => {
    stack = await startReleaseStack();
    dir = mkdtempSync(join(tmpdir(), 'slipway-pages-'));
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    startedAt = new Date();
    await driveTraffic([stack.stable, stack.canary], 12);
    finishedAt = new Date();
    // The last scrape and rule evaluation after the traffic, for both versions and the recorded SLO series.
    await waitForSeries(
      stack.prometheusUrl,
      `count(count by (rollouts_pod_template_hash) (http_requests_total{${APP_SELECTOR}})) == 2`,
    );
    await waitForSeries(stack.prometheusUrl, 'slo:sli_error:ratio_rate3d{slo="auth-latency"}');
  }, 110_000);

  afterAll(async () => {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  test('npm run release -- report writes JSON and a self-contained page whose charts draw both versions', async () => {
    const record = promotedRecord(stack.canary, stack.stable, startedAt, finishedAt);
    const recordFile = join(dir, 'record.json');
    writeFileSync(recordFile, JSON.stringify(record));
    const out = collect();
    const code = await release(
      ['report', recordFile, '--prometheus', stack.prometheusUrl, '--out-dir', dir, '--json'],
      out.stream,
    );
    const answer = JSON.parse(out.text()) as {
      html: string;
      json: string;
      charts: { title: string; points: Record<string, number> }[];
    };
    expect(code, out.text()).toBe(EXIT.ok);
    expect(JSON.parse(readFileSync(answer.json, 'utf8'))).toEqual(record);
    expect(answer.charts.map((chart) => chart.title)).toEqual([
      'Server error ratio: canary vs stable',
      'p99 latency: canary vs stable',
    ]);
    for (const chart of answer.charts) {
      expect(chart.points.canary, chart.title).toBeGreaterThan(0);
      expect(chart.points.stable, chart.title).toBeGreaterThan(0);
    }
    const html = readFileSync(answer.html, 'utf8');
    for (const text of [
      record.canary.digest,
      'slipway-local-release-key',
      'CycloneDX 1.6',
      'p99Ms',
      'GHSA-xxxx-yyyy-zzzz',
    ])
      expect(html).toContain(text);

    copyFileSync(answer.html, join(ARTIFACTS_DIR, 'release-report.html'));
    const opened = await openInChromium(answer.html, join(ARTIFACTS_DIR, 'release-report.png'));
    expect(opened.consoleErrors).toEqual([]);
    expect(opened.otherRequests).toEqual([]);
    expect(opened.charts).toHaveLength(2);
    for (const chart of opened.charts) expect(chart.points, chart.title).toBeGreaterThan(0);
  }, 60_000);

  test('npm run dashboards:preview: after traffic every panel returns data except the cluster-only list', async () => {
    const file = join(dir, 'preview.html');
    const out = collect();
    const code = await preview(
      ['--prometheus', stack.prometheusUrl, '--out', file, '--range', '1m', '--json'],
      out.stream,
    );
    expect(code, out.text()).toBe(EXIT.ok);
    const panels = (JSON.parse(out.text()) as { panels: PanelResult[] }).panels;
    expect(panels.length).toBeGreaterThan(30);

    const notLocal = panels.filter(
      (panel) => panel.status !== 'data' && panel.status !== 'cluster-only' && panel.status !== 'no-release',
    );
    expect(notLocal.map((panel) => `${panel.dashboard} / ${panel.title}: ${panel.status} ${panel.detail}`)).toEqual([]);
    const clusterOnly = panels.filter((panel) => panel.status === 'cluster-only');
    // Each is cluster-only because every query of it reads a metric from monitoring's list, and says why.
    for (const panel of clusterOnly) {
      expect(panel.detail).not.toBe('');
      for (const target of panel.targets) expect(clusterOnlyReason(target.expr), target.expr).toBeDefined();
    }
    expect(clusterOnly.map((panel) => panel.title)).toEqual(['SLO edge-availability: burn rate']);
    // Argo Rollouts' panels: empty because no release ran against this stack, not because they need a cluster
    const noRelease = panels.filter((panel) => panel.status === 'no-release');
    expect(noRelease.map((panel) => panel.title).sort()).toEqual(['Analysis results', 'Rollout phase']);
    for (const panel of noRelease)
      expect(panel.detail).toMatch(/^no release has run on this platform: .*Argo Rollouts/);

    copyFileSync(file, join(ARTIFACTS_DIR, 'dashboards-preview.html'));
    const opened = await openInChromium(file, join(ARTIFACTS_DIR, 'dashboards-preview.png'));
    expect(opened.consoleErrors).toEqual([]);
    expect(opened.otherRequests).toEqual([]);
    expect(opened.charts).toHaveLength(panels.length - clusterOnly.length - noRelease.length);
    const empty = opened.charts.filter((chart) => chart.points === 0).map((chart) => chart.title);
    expect(empty, 'these charts drew no point').toEqual([]);
  }, 60_000);
});
