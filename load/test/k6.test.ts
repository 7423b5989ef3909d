import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { PlatformError } from '../../pipelines/src/platform/errors.js';
import { freePort } from '../../pipelines/src/platform/ports.js';
import { silentProgress } from '../../pipelines/src/platform/progress.js';
import { Supervisor } from '../../pipelines/src/platform/supervisor.js';
import { toolPath } from '../../pipelines/src/platform/tools.js';
import { parseK6Summary, SummaryFormatError, type RunMetrics } from '../src/bench/k6-summary.js';
import { runK6, type K6RunOptions } from '../src/bench/k6.js';
import { bareServerService } from '../src/bench/services.js';

const scratch = mkdtempSync(join(tmpdir(), 'slipway-load-k6-'));
const supervisor = new Supervisor(join(scratch, 'state.json'), join(scratch, 'logs'), silentProgress);
let bareUrl = '';
let k6 = '';
/** What the bare server answers, as the runner captures it from the app's cached product read. */
const RESPONSE = { contentType: 'application/json; charset=utf-8', body: '{"id":"p1","sku":"bench-1","stock":5}' };
/** The benchmark's closed model, briefly: 4 VUs for 2 s. */
const CLOSED = {
  BENCH_SCENARIO: 'closed',
  BENCH_VUS: '4',
  BENCH_DURATION: '2s',
  BENCH_PRODUCT_ID: 'p1',
  BENCH_TOKEN: 't',
};

function options(overrides: Partial<K6RunOptions> & Pick<K6RunOptions, 'summaryPath'>): K6RunOptions {
  return {
    k6,
    targetUrl: bareUrl,
    env: CLOSED,
    durationMs: 2_000,
    logFile: join(scratch, 'k6.log'),
    ...overrides,
  };
}

/** A throwaway k6 script for the exit codes the benchmark must tell apart. */
function script(name: string, source: string): string {
  const path = join(scratch, name);
  writeFileSync(path, source);
  return path;
}

beforeAll(async () => {
  k6 = toolPath('k6');
  const responseFile = join(scratch, 'response.json');
  writeFileSync(responseFile, JSON.stringify(RESPONSE));
  const bare = bareServerService(await freePort(), responseFile);
  await supervisor.start(bare);
  bareUrl = bare.url;
});
afterAll(async () => {
  await supervisor.stopAll();
  rmSync(scratch, { recursive: true, force: true });
});

describe('bare server', () => {
  test('answers any GET with the captured body and content-type, and refuses other methods', async () => {
    for (const path of ['/', '/api/v1/products/p1']) {
      const response = await fetch(`${bareUrl}${path}`);
      expect(response.status).toBe(200);
      expect({ contentType: response.headers.get('content-type'), body: await response.text() }).toEqual(RESPONSE);
    }
    expect((await fetch(bareUrl, { method: 'POST' })).status).toBe(405);
  });
});

describe('a real k6 run of the benchmark scenario', () => {
  const summaryPath = join(scratch, 'bare.json');
  let metrics: RunMetrics;

  beforeAll(async () => {
    metrics = await runK6(options({ summaryPath }));
  });

  test('yields consistent numbers from its JSON summary', () => {
    expect(metrics.requests).toBeGreaterThan(0);
    expect(metrics.checked).toBe(metrics.requests);
    expect(metrics.failed).toBe(0);
    expect(metrics.errorRate).toBe(0);
    expect(metrics.rps).toBeCloseTo(metrics.requests / (metrics.testRunDurationMs / 1000), 0);
    expect(metrics.p50Ms).toBeGreaterThan(0);
    expect(metrics.p50Ms).toBeLessThanOrEqual(metrics.p99Ms);
    expect(metrics.p99Ms).toBeLessThanOrEqual(metrics.maxMs);
    expect(metrics.droppedIterations).toBe(0);
  });

  test('parsing names the value that a changed summary lacks', () => {
    const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as { metrics: Record<string, { values: object }> };
    expect(parseK6Summary(summary, summaryPath)).toEqual(metrics);

    const withoutP99 = structuredClone(summary);
    const duration = withoutP99.metrics.http_req_duration;
    if (duration) duration.values = { med: 1, max: 2 };
    expect(() => parseK6Summary(withoutP99, 'edited.json')).toThrow(SummaryFormatError);
    expect(() => parseK6Summary(withoutP99, 'edited.json')).toThrow(
      /edited\.json has no number at metrics\.http_req_duration\.values\["p\(99\)"\].*summaryTrendStats/,
    );
    expect(() => parseK6Summary([], 'list.json')).toThrow(/list\.json is not a k6 summary object/);
  });
});

describe('k6 exit codes', () => {
  test('a refused connection counts every request as failed, not as a broken run', async () => {
    const metrics = await runK6(
      options({
        targetUrl: `http://127.0.0.1:${await freePort()}`,
        env: { ...CLOSED, BENCH_VUS: '1' },
        summaryPath: join(scratch, 'refused.json'),
      }),
    );
    expect(metrics.failed).toBe(metrics.requests);
    expect(metrics.errorRate).toBe(1);
  });

  test('exit 99 (thresholds failed) is an error, since the benchmark sets no thresholds', async () => {
    const failing = script(
      'threshold.ts',
      `import { Counter } from 'k6/metrics';
       const hits = new Counter('hits');
       export const options = { iterations: 1, thresholds: { hits: ['count>5'] } };
       export default function () { hits.add(1); }`,
    );
    await expect(runK6(options({ script: failing, summaryPath: join(scratch, 't.json') }))).rejects.toThrow(
      /exited 99 \(thresholds failed\), but the benchmark sets no thresholds/,
    );
  });

  test('with thresholdsAreMeasurements (soak in the bench), exit 99 still yields the numbers', async () => {
    const soakLike = script(
      'measured-threshold.ts',
      `import http from 'k6/http';
       import { check } from 'k6';
       export const options = { iterations: 3, thresholds: { http_req_duration: ['max<0'] }, summaryTrendStats: ['med', 'p(99)', 'max'] };
       export default function () { check(http.get(__ENV.TARGET_URL), { ok: (r) => r.status === 200 }); }
       export function handleSummary(data) { return { [__ENV.SUMMARY_PATH]: JSON.stringify(data) }; }`,
    );
    const metrics = await runK6(
      options({ script: soakLike, summaryPath: join(scratch, 'm99.json'), thresholdsAreMeasurements: true }),
    );
    expect(metrics).toMatchObject({ requests: 3, failed: 0 });
  });

  test('any other exit is a broken run reported with the tail of k6 stderr', async () => {
    const broken = script(
      'broken.ts',
      `throw new Error('scenario cannot load its data');\nexport default function () {}`,
    );
    const run = runK6(options({ script: broken, summaryPath: join(scratch, 'b.json') }));
    await expect(run).rejects.toBeInstanceOf(PlatformError);
    await expect(run).rejects.toThrow(
      /broke \(exit code \d+, signal null\); last lines of its stderr:\n[^]*scenario cannot load its data/,
    );
  });

  test('a missing k6 binary says to run scripts/bootstrap', async () => {
    const run = runK6(options({ k6: join(scratch, 'no-k6-here'), summaryPath: join(scratch, 'm.json') }));
    await expect(run).rejects.toThrow(/k6 could not start/);
    await expect(run).rejects.toMatchObject({ fix: expect.stringContaining('run scripts/bootstrap') as unknown });
  });
});
