import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { K6_THRESHOLDS } from '../../monitoring/src/slo.js';
import { SCENARIOS, runGate } from '../src/gate.js';
import { THRESHOLDS_JSON, thresholdsUpToDate } from '../src/thresholds.js';
import { startFakeErp, type FakeErp } from './support/fake-erp.js';

const scratch = mkdtempSync(join(tmpdir(), 'slipway-load-gate-'));
// A few seconds of the gate's open model; the abort delay is the full run so a crossing is judged at the end.
const SHORT = { GATE_RATE: '20', GATE_DURATION: '3s', GATE_ABORT_DELAY: '3s' };
let healthy: FakeErp;
let failing: FakeErp;

beforeAll(async () => {
  healthy = await startFakeErp();
  failing = await startFakeErp({ failEvery: 20 });
});
afterAll(async () => {
  await healthy.close();
  await failing.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('thresholds', () => {
  test('the JSON beside the scenarios equals monitoring K6_THRESHOLDS (regenerate: npx tsx load/src/thresholds.ts)', () => {
    expect(JSON.parse(readFileSync(THRESHOLDS_JSON, 'utf8'))).toEqual(K6_THRESHOLDS);
    expect(thresholdsUpToDate()).toBe(true);
  });
});

describe('runGate against real k6 runs', () => {
  test('a healthy target passes, and the summaries carry the numbers and every threshold', async () => {
    const dir = mkdtempSync(join(scratch, 'healthy-'));
    const result = await runGate({ scenario: 'canary-gate', targetUrl: healthy.url, env: SHORT, summaryDir: dir });
    expect(result).toMatchObject({ verdict: 'pass', exitCode: 0 });
    const summary = result.summary;
    expect(summary?.scenario).toBe('gate');
    expect(summary?.requests).toBeGreaterThan(40);
    expect(summary?.errorRate).toBe(0);
    expect(summary?.droppedIterations).toBe(0);
    expect(Object.keys(summary?.thresholds ?? {}).sort()).toEqual(
      [
        'dropped_iterations',
        'http_req_duration',
        'http_req_duration{scenario:gate}',
        'http_req_failed',
        'http_req_failed{scenario:gate}',
      ].sort(),
    );
    expect(summary?.thresholds.http_req_failed).toEqual({ passed: true, rules: { 'rate<0.001': true } });
    const markdown = readFileSync(result.markdownPath, 'utf8');
    expect(markdown).toContain('| requests | RPS | p50 ms | p95 ms | p99 ms | error rate | dropped iterations |');
    expect(markdown).toContain('| `http_req_failed{scenario:gate}` | `rate<0.001` | passed |');
  });

  test('a target answering 500 to every 20th read fails with k6 exit 99, naming the crossed threshold', async () => {
    const dir = mkdtempSync(join(scratch, 'failing-'));
    const result = await runGate({ scenario: 'canary-gate', targetUrl: failing.url, env: SHORT, summaryDir: dir });
    expect(result).toMatchObject({ verdict: 'fail', exitCode: 99 });
    expect(result.reason).toContain('http_req_failed rate<0.001');
    expect(result.summary?.errorRate).toBeGreaterThan(0.001);
    expect(result.summary?.thresholds['http_req_failed{scenario:gate}']?.passed).toBe(false);
    expect(readFileSync(result.markdownPath, 'utf8')).toContain('| `http_req_failed` | `rate<0.001` | FAILED |');
  });

  test('a target that is not listening is inconclusive: setup cannot seed it and k6 exits 107', async () => {
    const dir = mkdtempSync(join(scratch, 'down-'));
    const result = await runGate({
      scenario: 'canary-gate',
      targetUrl: 'http://127.0.0.1:9',
      env: SHORT,
      summaryDir: dir,
    });
    expect(result).toMatchObject({ verdict: 'inconclusive', exitCode: 107 });
    expect(result.reason).toMatch(
      /k6 exited 107 \(the script threw[^]*auth\/register answered 0[^]*connection refused/,
    );
  });

  test('a misspelt threshold metric is refused by k6 (exit 104), never silently ignored', async () => {
    const script = join(scratch, 'typo.ts');
    writeFileSync(
      script,
      `import * as gate from ${JSON.stringify(SCENARIOS['canary-gate'])};
       export const options = { ...gate.options, thresholds: { ...gate.options.thresholds, http_req_duraton: ['p(99)<500'] } };
       export const setup = gate.setup;
       export default gate.default;
       export const handleSummary = gate.handleSummary;`,
    );
    const result = await runGate({ scenario: script, targetUrl: healthy.url, env: SHORT, summaryDir: scratch });
    expect(result).toMatchObject({ verdict: 'inconclusive', exitCode: 104 });
    expect(result.reason).toContain('no metric name \\"http_req_duraton\\" found');
    expect(healthy.reads()).toBeGreaterThan(0);
  });

  test('a missing k6 binary is inconclusive and says to run scripts/bootstrap', async () => {
    const result = await runGate({
      scenario: 'smoke',
      targetUrl: healthy.url,
      summaryDir: scratch,
      k6: join(scratch, 'no-k6-here'),
    });
    expect(result).toMatchObject({ verdict: 'inconclusive', exitCode: null });
    expect(result.reason).toContain('run scripts/bootstrap');
  });
});
