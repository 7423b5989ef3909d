import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { BASELINE_FILE, benchCheck } from '../src/bench/check.js';

const LOAD_DIR = fileURLToPath(new URL('..', import.meta.url));
const resultsDir = mkdtempSync(join(tmpdir(), 'slipway-load-bench-'));
let exitCode: number | null = null;
let output = '';

/**
 * The whole `npm run bench` (production build, PostgreSQL, Redis, the app, the bare server, every scenario), each
 * measurement for a couple of seconds at a few requests per second: the numbers mean nothing, the plumbing is real.
 */
const SHORT: Record<string, string> = {
  BENCH_RUNS: '1',
  BENCH_SCENARIOS: 'cached-read,orders,logins,bare,invoices,soak',
  BENCH_DURATION: '2s',
  BENCH_READ_RATE: '10',
  BENCH_ORDER_RATE: '5',
  BENCH_LOGIN_RATE: '2',
  BENCH_VUS: '2',
  BENCH_CLOSED_DURATION: '2s',
  BENCH_SOAK_RATE: '5',
  BENCH_SOAK_DURATION: '12s',
  BENCH_INVOICE_JOBS: '30',
  BENCH_INVOICE_ENQUEUE_RATE: '30',
  BENCH_INVOICE_DURATION: '2s',
  BENCH_RESULTS_DIR: resultsDir,
  // its own .local/ folder: a developer's `npm run bench` may be running beside the tests
  SLIPWAY_SCOPE: `bench-test-${process.pid}`,
};

beforeAll(async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/bench/run.ts'], {
    cwd: LOAD_DIR,
    env: { ...process.env, ...SHORT },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  exitCode = await new Promise<number | null>((resolve) => child.once('close', resolve));
}, 240_000);
afterAll(() => rmSync(resultsDir, { recursive: true, force: true }));

describe('npm run bench, every scenario for a few seconds', () => {
  test('finishes, with a progress line per measurement', () => {
    expect(exitCode, output).toBe(0);
    for (const label of ['cached-read', 'orders', 'logins', 'closed-app', 'closed-express', 'closed-bare']) {
      expect(output).toContain(`▸ ${label} run 1/1: `);
      expect(output).toMatch(
        new RegExp(
          `✓ ${label} run 1/1: \\d+ req/s, p50 [\\d.]+ ms, p99 [\\d.]+ ms, 0 of \\d+ failed, \\d+ unsent, generator [\\d.]+ % CPU`,
        ),
      );
    }
    expect(output).toMatch(/✓ soak \(one run\): .*RSS growth -?[\d.]+ %/);
    // the two workers stored every invoice the API accepted, in the bulk and at half the throughput
    expect(output).toMatch(/✓ worker-1 ready at .*\n✓ worker-2 ready at /);
    expect(output).toMatch(
      /✓ invoices run 1\/1: [\d.]+ invoices\/s over [\d.]+ m?s \(30 of 30 accepted stored, enqueued at \d+\/s\)/,
    );
    expect(output).toMatch(
      /✓ invoices run 1\/1: at \d+\/s enqueue → PDF stored p50 \d+ ms, p99 \d+ ms \((\d+) of \1 stored\); CPU per invoice: workers [\d.]+ ms, API [\d.]+ ms/,
    );
  });

  test('prints one table: every row with its numbers, its target and pass or MISS', () => {
    expect(output).toMatch(
      /scenario\s+runs\s+RPS\s+p50 ms\s+p99 ms\s+errors\s+unsent\s+gen CPU %\s+RSS MB\s+target\s+result/,
    );
    const row = (name: string, target: string, result: string): RegExp =>
      new RegExp(
        `\\n${name}\\s+1\\s+\\d+\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+ %\\s+\\d+\\s+[\\d.]+\\s+[\\d.]+\\s+${target}\\s+${result}\\n`,
      );
    expect(output).toMatch(
      row('cached-read', '≥ 1500/s, for 60 s, p99 < 50 ms, 0 failed, RSS < 250 MB, generator ≤ 38 % CPU', 'MISS'),
    );
    expect(output).toMatch(row('orders', '≥ 200/s, p99 < 150 ms, 0 errors', 'MISS'));
    expect(output).toMatch(row('logins', '≥ 50/s, p99 < 300 ms', 'MISS'));
    expect(output).toMatch(row('closed-app', '≥ 60 % of Express RPS', '(pass|MISS)'));
    expect(output).toMatch(row('closed-express', '-', '-'));
    expect(output).toMatch(row('closed-bare', '-', '-'));
    expect(output).toMatch(row('invoices', '≥ 100 invoices/s, p99 < 2 s at half, 0 lost', 'MISS'));
    expect(output).toMatch(row('soak', 'RSS growth ≤ 5 %', '(pass|MISS)'));
    expect(output).toMatch(
      /invoices \(medians over runs\): bulk of 30 enqueued at [\d.]+\/s; latency at [\d.]+\/s: p50 /,
    );
    // a few requests per second cannot meet 1000/s: the misses are spelled out
    expect(output).toContain('cached-read: ≥ 1500/s missed');
    expect(output).toMatch(/app\/express \(closed model, cached read\): median RPS [\d.]+x/);
    expect(output).toMatch(/app\/bare \(closed model, cached read\): median RPS [\d.]+x/);
  });

  test('writes the results file, which bench:check compares with the committed baseline', () => {
    const files = readdirSync(resultsDir);
    expect(files).toHaveLength(1);
    const file = join(resultsDir, files[0] ?? '');
    const results = JSON.parse(readFileSync(file, 'utf8')) as {
      format: string;
      settings: { runs: number };
      scenarios: Record<string, { summary: { requests?: number; medianRps: number }; runs: unknown[] }>;
    };
    expect(results.format).toBe('slipway-bench/1');
    expect(results.settings.runs).toBe(1);
    expect(Object.keys(results.scenarios)).toEqual([
      'cached-read',
      'orders',
      'logins',
      'closed-app',
      'closed-express',
      'closed-bare',
      'invoices',
      'soak',
    ]);
    for (const scenario of Object.values(results.scenarios)) expect(scenario.runs).toHaveLength(1);
    expect(output).toContain(`results: `);

    const check = benchCheck([file], { baseline: BASELINE_FILE });
    expect([0, 1], check.output).toContain(check.exitCode);
    for (const name of Object.keys(results.scenarios)) expect(check.output).toContain(name);
  });
});
