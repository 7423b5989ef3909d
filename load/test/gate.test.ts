import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { runScenario } from '../src/engine/run.js';
import { ThresholdError } from '../src/engine/thresholds.js';
import { vegetaPath } from '../src/engine/vegeta.js';
import { GATE_EXIT, runGate } from '../src/gate.js';
import { canaryGate } from '../src/scenarios/canary-gate.js';
import { startFakeErp, type FakeErp } from './support/fake-erp.js';

const scratch = mkdtempSync(join(tmpdir(), 'slipway-load-gate-'));
// A few seconds of the gate's open model, enough answers for a verdict (GATE_MIN_REQUESTS 100)
const SHORT = { GATE_RATE: '50', GATE_DURATION: '3s' };
let healthy: FakeErp;
let failing: FakeErp;
let slow: FakeErp;

/** A loopback port nothing listens on: bound, noted, released. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 9;
}

beforeAll(async () => {
  healthy = await startFakeErp();
  failing = await startFakeErp({ failEvery: 20 });
  slow = await startFakeErp({ delayMs: 400 });
});
afterAll(async () => {
  await Promise.all([healthy.close(), failing.close(), slow.close()]);
  rmSync(scratch, { recursive: true, force: true });
});

describe('the canary gate against real Vegeta runs', () => {
  test('a healthy target passes (exit 0), with per-endpoint numbers and every threshold in the summaries', async () => {
    const result = await runGate({
      targetUrl: healthy.url,
      env: SHORT,
      summaryDir: mkdtempSync(join(scratch, 'healthy-')),
    });
    expect(result.verdict, result.reason).toBe('pass');
    expect(result.exitCode).toBe(GATE_EXIT.pass);
    expect(result.exitCode).toBe(0);
    const summary = result.summary;
    // 50/s for 3 s; a starved generator may send a few less, which the achieved share shows
    expect(summary?.requests).toBeGreaterThanOrEqual(140);
    expect(summary?.errorRate).toBe(0);
    expect(summary?.checkRate).toBe(1);
    expect(summary?.achievedShare).toBeGreaterThan(0.9);
    expect(Object.keys(summary?.endpoints ?? {}).sort()).toEqual(
      ['create-order', 'get-order', 'get-product', 'list-orders', 'list-products'].sort(),
    );
    expect(Object.keys(summary?.statuses ?? {}).sort()).toEqual(['200', '201']);
    expect(summary?.thresholds).toEqual({
      http_req_failed: { passed: true, rules: { 'rate<0.001': { passed: true, value: 0 } } },
      http_req_duration: { passed: true, rules: { 'p(99)<500': { passed: true, value: summary?.p99Ms } } },
    });
    expect(summary?.timeline.length).toBeGreaterThanOrEqual(3);
    const markdown = readFileSync(result.markdownPath, 'utf8');
    expect(markdown).toContain(
      '| endpoint | requests | achieved /s | p50 ms | p90 ms | p95 ms | p99 ms | max ms | failed | statuses |',
    );
    expect(markdown).toContain('| `http_req_failed` | `rate<0.001` | 0 | passed |');
    expect(JSON.parse(readFileSync(result.summaryPath, 'utf8'))).toMatchObject({ canary: { scenario: 'gate' } });
  });

  test('a target answering 5 % of its reads with 500 fails (exit 1), naming the crossed threshold', async () => {
    const result = await runGate({
      targetUrl: failing.url,
      env: SHORT,
      summaryDir: mkdtempSync(join(scratch, 'failing-')),
    });
    expect(result.verdict, result.reason).toBe('fail');
    expect(result.exitCode).toBe(1);
    expect(result.reason).toMatch(/the canary at \S+ is worse: http_req_failed rate<0\.001 \(measured 0\.0\d+\)/);
    expect(result.summary?.statuses['500']).toBeGreaterThan(0);
    expect(readFileSync(result.markdownPath, 'utf8')).toMatch(
      /\| `http_req_failed` \| `rate<0\.001` \| [\d.]+ \| FAILED \|/,
    );
  });

  test('a canary that adds 400 ms to every answer fails (exit 1) against the stable version measured beside it', async () => {
    const result = await runGate({
      targetUrl: slow.url,
      stableUrl: healthy.url,
      env: SHORT,
      summaryDir: mkdtempSync(join(scratch, 'slow-')),
    });
    expect(result.verdict, result.reason).toBe('fail');
    expect(result.exitCode).toBe(1);
    expect(result.reason).toMatch(/p99 \d+\.\d ms is more than 100 ms above the stable version's [\d.]+ ms/);
    expect(result.summary?.p50Ms).toBeGreaterThanOrEqual(400);
    expect(result.stableSummary?.p50Ms).toBeLessThan(400);
  });

  test('an address nothing listens on is inconclusive (exit 2): nothing was measured', async () => {
    const result = await runGate({
      targetUrl: `http://127.0.0.1:${await deadPort()}`,
      env: SHORT,
      summaryDir: mkdtempSync(join(scratch, 'down-')),
    });
    expect(result.verdict, result.reason).toBe('inconclusive');
    expect(result.exitCode).toBe(2);
    expect(result.reason).toMatch(
      /the target is unreachable, nothing was measured: POST \S+\/api\/v1\/auth\/register got no answer \(.*ECONNREFUSED/,
    );
  });

  test('too few answers for a verdict is inconclusive (exit 2), never a pass', async () => {
    const result = await runGate({
      targetUrl: healthy.url,
      env: { GATE_RATE: '5', GATE_DURATION: '2s' },
      summaryDir: mkdtempSync(join(scratch, 'few-')),
    });
    expect(result.verdict, result.reason).toBe('inconclusive');
    expect(result.exitCode).toBe(2);
    expect(result.reason).toMatch(/only (9|10) requests to/);
    expect(result.reason).toContain('fewer than the 100 a verdict needs (GATE_MIN_REQUESTS)');
  });

  test('a run past its time limit is stopped and inconclusive', async () => {
    const result = await runGate({
      targetUrl: healthy.url,
      env: { GATE_RATE: '5', GATE_DURATION: '30s' },
      timeoutMs: 1_500,
      summaryDir: mkdtempSync(join(scratch, 'timeout-')),
    });
    expect(result).toMatchObject({ verdict: 'inconclusive', exitCode: 2 });
    expect(result.reason).toBe('the gate ran longer than 2 s and was stopped');
  });

  test('a missing Vegeta binary is inconclusive and says to run scripts/bootstrap', async () => {
    const result = await runGate({
      targetUrl: healthy.url,
      env: SHORT,
      vegeta: join(scratch, 'no-vegeta-here'),
      summaryDir: scratch,
    });
    expect(result).toMatchObject({ verdict: 'inconclusive', exitCode: 2 });
    expect(result.reason).toContain('run scripts/bootstrap');
  });

  test('a threshold on a metric that does not exist is an error before any request, never a silent pass', async () => {
    const reads = healthy.reads();
    const scenario = { ...canaryGate(SHORT), thresholds: { http_req_duraton: ['p(99)<500'] } };
    await expect(runScenario({ scenario, targetUrl: healthy.url, vegeta: vegetaPath() })).rejects.toThrow(
      new ThresholdError(
        'threshold on "http_req_duraton": no such metric; use one of http_req_failed, http_req_duration, http_reqs, checks, achieved_rate',
      ),
    );
    const result = await runGate({ scenario, targetUrl: healthy.url, summaryDir: scratch });
    expect(result).toMatchObject({ verdict: 'inconclusive', exitCode: 2 });
    expect(result.reason).toContain('no such metric');
    expect(healthy.reads()).toBe(reads);
  });
});
