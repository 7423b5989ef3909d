import { describe, expect, test } from 'vitest';

import type { RunMetrics } from '../src/bench/k6-summary.js';
import { appToBare, formatRatio, formatTable, summarise, type RunRecord } from '../src/bench/report.js';
import { parseVmRssKb, readRssKb } from '../src/bench/rss.js';

function metrics(rps: number, p50Ms: number, p99Ms: number, failed = 0): RunMetrics {
  const requests = rps * 10;
  return {
    requests,
    rps,
    p50Ms,
    p99Ms,
    maxMs: p99Ms * 2,
    checked: requests,
    failed,
    errorRate: failed / requests,
    testRunDurationMs: 10_000,
  };
}

const records: RunRecord[] = [
  { target: 'app', run: 1, startedAt: 't', metrics: metrics(900, 2, 9, 9), maxRssMb: 80 },
  { target: 'bare', run: 1, startedAt: 't', metrics: metrics(3000, 0.5, 3), maxRssMb: 50 },
  { target: 'app', run: 2, startedAt: 't', metrics: metrics(1000, 1.8, 8), maxRssMb: 95.5 },
  { target: 'bare', run: 2, startedAt: 't', metrics: metrics(3100, 0.4, 4), maxRssMb: 51 },
  { target: 'app', run: 3, startedAt: 't', metrics: metrics(1100, 1.6, 10), maxRssMb: 90 },
  { target: 'bare', run: 3, startedAt: 't', metrics: metrics(2900, 0.6, 5), maxRssMb: 52 },
];

describe('summarise', () => {
  test('takes medians per target, errors over all its requests and the largest RSS', () => {
    expect(summarise('app', records)).toEqual({
      target: 'app',
      runs: 3,
      medianRps: 1000,
      medianP50Ms: 1.8,
      medianP99Ms: 9,
      errorRate: 9 / 30_000,
      maxRssMb: 95.5,
    });
  });

  test('the app/bare ratio divides the medians', () => {
    const ratio = appToBare(summarise('app', records), summarise('bare', records));
    expect(ratio.rps).toBeCloseTo(1000 / 3000);
    expect(ratio.p99).toBeCloseTo(9 / 4);
    expect(formatRatio(ratio)).toBe('app/bare: median RPS 0.33x, median p99 2.25x');
  });
});

describe('formatTable', () => {
  test('aligns the columns and shows RSS for the app only', () => {
    const table = formatTable([summarise('app', records), summarise('bare', records)]);
    expect(table).toBe(
      [
        'target  runs  median RPS  median p50 ms  median p99 ms  error rate  max app RSS MB',
        '------  ----  ----------  -------------  -------------  ----------  --------------',
        'app        3        1000           1.80           9.00      0.03 %            95.5',
        'bare       3        3000           0.50           4.00      0.00 %               -',
      ].join('\n'),
    );
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
