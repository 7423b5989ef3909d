import { describe, expect, test } from 'vitest';

import type { RunMetrics } from '../src/bench/metrics.js';
import {
  formatMisses,
  formatRatio,
  formatTable,
  judge,
  ratioOf,
  summarise,
  type BenchRow,
  type RowSummary,
  type RunRecord,
} from '../src/bench/report.js';
import { parseVmRssKb, readRssKb, rssGrowth } from '../src/bench/rss.js';

function metrics(
  rps: number,
  p50Ms: number,
  p99Ms: number,
  failed = 0,
  unsent = 0,
  seconds = 60,
  generatorCpuPercent = 10,
): RunMetrics {
  const requests = rps * seconds;
  return {
    requests,
    rps,
    p50Ms,
    p99Ms,
    maxMs: p99Ms * 2,
    checked: requests,
    failed,
    errorRate: failed / requests,
    testRunDurationMs: seconds * 1000,
    unsent,
    generatorCpuPercent,
  };
}

function record(row: BenchRow, run: number, m: RunMetrics, maxRssMb?: number): RunRecord {
  return { row, run, startedAt: 't', metrics: m, maxRssMb };
}

const records: RunRecord[] = [
  record('closed-app', 1, metrics(900, 2, 9, 9), 80),
  record('closed-bare', 1, metrics(3000, 0.5, 3), 50),
  record('closed-app', 2, metrics(1000, 1.8, 8), 95.5),
  record('closed-bare', 2, metrics(3100, 0.4, 4), 51),
  record('closed-app', 3, metrics(1100, 1.6, 10), 90),
  record('closed-bare', 3, metrics(2900, 0.6, 5), 52),
];

function summary(row: BenchRow, rows: readonly RunRecord[]): RowSummary {
  const result = summarise(row, rows);
  if (result === undefined) throw new Error(`no ${row} runs`);
  return result;
}

describe('summarise', () => {
  test('takes medians per row, errors and drops over all its requests and the largest RSS', () => {
    expect(summary('closed-app', records)).toEqual({
      row: 'closed-app',
      runs: 3,
      medianRps: 1000,
      medianP50Ms: 1.8,
      medianP99Ms: 9,
      errorRate: 9 / 180_000,
      failed: 9,
      unsent: 0,
      generatorCpuPercent: 10,
      seconds: 60,
      maxRssMb: 95.5,
      rssGrowth: undefined,
    });
    expect(summarise('orders', records)).toBeUndefined();
  });

  test('the app/reference ratio divides the medians', () => {
    const ratio = ratioOf(summary('closed-app', records), summary('closed-bare', records));
    expect(ratio.rps).toBeCloseTo(1000 / 3000);
    expect(ratio.p99).toBeCloseTo(9 / 4);
    expect(formatRatio(ratio)).toBe('app/bare (closed model, cached read): median RPS 0.33x, median p99 2.25x');
  });
});

describe('judge against the targets', () => {
  test('a cached read that holds 1500/s for 60 s, fast, without a failure, in 200 MB, the generator light, passes', () => {
    const read = summary('cached-read', [record('cached-read', 1, metrics(1495, 2, 30, 0, 0, 60, 37.5), 200)]);
    expect(judge(read)).toMatchObject({ pass: true });
  });

  test('each missed condition of the cached read is named with the measured value', () => {
    const read = summary('cached-read', [record('cached-read', 1, metrics(900, 2, 61, 50, 12, 10, 40), 300)]);
    const judgement = judge(read);
    expect(judgement?.pass).toBe(false);
    expect(formatMisses(judgement === undefined ? [] : [judgement])).toEqual([
      'cached-read: ≥ 1500/s missed (900/s)',
      'cached-read: for 60 s missed (10 s)',
      'cached-read: p99 < 50 ms missed (61.0 ms)',
      'cached-read: 0 failed missed (50 failed)',
      'cached-read: RSS < 250 MB missed (300 MB)',
      'cached-read: generator ≤ 38 % CPU missed (40.0 % of one core)',
    ]);
  });

  test('orders fail on a single error; logins on p99; the app on less than 60 % of Express', () => {
    expect(judge(summary('orders', [record('orders', 1, metrics(200, 5, 100, 1))]))?.pass).toBe(false);
    expect(judge(summary('orders', [record('orders', 1, metrics(200, 5, 100))]))?.pass).toBe(true);
    expect(judge(summary('logins', [record('logins', 1, metrics(50, 80, 301))]))?.pass).toBe(false);
    const express = summary('closed-express', [record('closed-express', 1, metrics(2000, 1, 5))]);
    expect(judge(summary('closed-app', records), express)?.pass).toBe(false);
    const fastApp = summary('closed-app', [record('closed-app', 1, metrics(1200, 1, 5))]);
    expect(judge(fastApp, express)?.pass).toBe(true);
    expect(judge(express)).toBeUndefined();
    expect(judge(summary('closed-bare', records))).toBeUndefined();
  });

  test('a soak passes with RSS growth up to 5 %', () => {
    const soak = (growth: number): RowSummary =>
      summary('soak', [{ ...record('soak', 1, metrics(100, 2, 9), 150), rssGrowth: growth }]);
    expect(judge(soak(0.05))?.pass).toBe(true);
    expect(judge(soak(0.051))?.pass).toBe(false);
  });
});

describe('the invoices row', () => {
  test('passes at 100 invoices/s and a p99 under 2 s, with nothing refused or lost; says what each miss measured', () => {
    const invoices = (rps: number, p99Ms: number, failed = 0): RowSummary =>
      summary('invoices', [record('invoices', 1, metrics(rps, 20, p99Ms, failed), 150)]);
    const met = judge(invoices(100, 1999));
    expect(met?.target).toBe('≥ 100 invoices/s, p99 < 2 s at half, 0 lost');
    expect(met?.pass).toBe(true);
    // no slack on the rate: the throughput is a count of stored invoices, not an open model's trailing arrivals
    expect(judge(invoices(99.9, 500))?.pass).toBe(false);
    expect(judge(invoices(150, 2000))?.pass).toBe(false);
    const lost = judge(invoices(150, 500, 3));
    expect(lost?.pass).toBe(false);
    expect(formatMisses(lost === undefined ? [] : [lost])).toEqual([
      'invoices: 0 lost missed (3 refused or never stored)',
    ]);
    expect(formatMisses([judge(invoices(85.04, 2500))].flatMap((j) => (j === undefined ? [] : [j])))).toEqual([
      'invoices: ≥ 100 invoices/s missed (85.0/s)',
      'invoices: p99 < 2 s at half missed (2500.0 ms)',
    ]);
  });
});

describe('formatTable', () => {
  test('aligns the columns, with the target and pass or MISS beside the numbers', () => {
    const express = summary('closed-express', [record('closed-express', 1, metrics(2000, 1, 5), 60)]);
    const rows = [summary('closed-app', records), express].map((s) => ({ summary: s, judgement: judge(s, express) }));
    expect(formatTable(rows)).toBe(
      [
        'scenario        runs   RPS  p50 ms  p99 ms  errors  unsent  gen CPU %  RSS MB  target                 result',
        '--------------  ----  ----  ------  ------  ------  ------  ---------  ------  ---------------------  ------',
        'closed-app         3  1000    1.80    9.00  0.01 %       0       10.0    95.5  ≥ 60 % of Express RPS  MISS',
        'closed-express     1  2000    1.00    5.00  0.00 %       0       10.0    60.0  -                      -',
      ].join('\n'),
    );
  });
});

describe('rssGrowth', () => {
  const series = (values: number[]): { atMs: number; mb: number }[] => values.map((mb, i) => ({ atMs: i * 1000, mb }));

  test('compares the median of the last fifth with that of the first', () => {
    expect(rssGrowth(series([100, 100, 102, 104, 104, 104, 104, 104, 110, 110]))).toBeCloseTo(0.1);
    expect(rssGrowth(series([100, 100, 100, 100, 100, 100, 100, 100, 100, 100]))).toBe(0);
  });

  test('needs at least 10 samples', () => {
    expect(rssGrowth(series([100, 200]))).toBeUndefined();
  });
});

describe('RSS from /proc', () => {
  test('reads VmRSS in kB', () => {
    expect(parseVmRssKb('Name:\tnode\nVmPeak:\t  200 kB\nVmRSS:\t   81234 kB\nRssAnon:\t 1 kB\n')).toBe(81_234);
    expect(parseVmRssKb('Name:\tkthreadd\n')).toBeUndefined();
  });

  test('of this process is some MB, and of a process that is gone is undefined', () => {
    expect(readRssKb(process.pid)).toBeGreaterThan(1024);
    expect(readRssKb(2 ** 22 + 1)).toBeUndefined();
  });
});
