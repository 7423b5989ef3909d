import { describe, expect, test } from 'vitest';

import { parseDuration, ScenarioInputError } from '../src/engine/settings.js';
import { benchSettings } from '../src/bench/settings.js';

describe('benchSettings', () => {
  test('defaults to the issue targets: 3 runs of every scenario, 60 s open-model runs; empty counts as unset', () => {
    expect(benchSettings({})).toEqual({
      runs: 3,
      scenarios: ['cached-read', 'orders', 'logins', 'bare', 'invoices', 'soak'],
      duration: { text: '60s', ms: 60_000 },
      rates: { cachedRead: 1500, orders: 200, logins: 50, soak: 100 },
      vus: 50,
      closedDuration: { text: '20s', ms: 20_000 },
      soakDuration: { text: '10m', ms: 600_000 },
      invoices: { jobs: 2000, enqueueRate: 200, latencyDuration: { text: '20s', ms: 20_000 }, concurrency: undefined },
    });
    const empty = ['RUNS', 'SCENARIOS', 'DURATION', 'READ_RATE', 'VUS', 'CLOSED_DURATION', 'SOAK_DURATION'].concat(
      ['JOBS', 'ENQUEUE_RATE', 'DURATION', 'CONCURRENCY'].map((name) => `INVOICE_${name}`),
    );
    expect(benchSettings(Object.fromEntries(empty.map((name) => [`BENCH_${name}`, ''])))).toEqual(benchSettings({}));
  });

  test('takes valid values as given, scenarios in the order of the table whatever the order typed', () => {
    const settings = benchSettings({
      BENCH_RUNS: '5',
      BENCH_SCENARIOS: 'soak, bare,cached-read',
      BENCH_DURATION: '1m30s',
      BENCH_READ_RATE: '10',
      BENCH_ORDER_RATE: '2',
      BENCH_LOGIN_RATE: '1',
      BENCH_SOAK_RATE: '3',
      BENCH_VUS: '200',
      BENCH_CLOSED_DURATION: '2s',
      BENCH_SOAK_DURATION: '2h',
      BENCH_INVOICE_JOBS: '50',
      BENCH_INVOICE_ENQUEUE_RATE: '100',
      BENCH_INVOICE_DURATION: '5s',
      BENCH_INVOICE_CONCURRENCY: '8',
    });
    expect(settings).toEqual({
      runs: 5,
      scenarios: ['cached-read', 'bare', 'soak'],
      duration: { text: '1m30s', ms: 90_000 },
      rates: { cachedRead: 10, orders: 2, logins: 1, soak: 3 },
      vus: 200,
      closedDuration: { text: '2s', ms: 2_000 },
      soakDuration: { text: '2h', ms: 7_200_000 },
      invoices: { jobs: 50, enqueueRate: 100, latencyDuration: { text: '5s', ms: 5_000 }, concurrency: 8 },
    });
  });

  test.each([
    ['BENCH_RUNS', '0', 'a whole number from 1 to 100'],
    ['BENCH_RUNS', '2.5', 'a whole number from 1 to 100'],
    ['BENCH_RUNS', '101', 'a whole number from 1 to 100'],
    ['BENCH_VUS', 'fifty', 'a whole number from 1 to 10000'],
    ['BENCH_VUS', '-1', 'a whole number from 1 to 10000'],
    ['BENCH_READ_RATE', '1e3', 'a whole number from 1 to 100000'],
    [
      'BENCH_SCENARIOS',
      'cached-read,writes',
      'a comma-separated subset of cached-read,orders,logins,bare,invoices,soak',
    ],
    ['BENCH_INVOICE_JOBS', '0', 'a whole number from 1 to 100000'],
    ['BENCH_INVOICE_CONCURRENCY', '101', 'a whole number from 1 to 100'],
    ['BENCH_INVOICE_DURATION', '2h', 'a duration from 1s to 1h'],
    ['BENCH_DURATION', '20', 'a duration from 1s to 1h'],
    ['BENCH_DURATION', '0s', 'a duration from 1s to 1h'],
    ['BENCH_DURATION', '2h', 'a duration from 1s to 1h'],
    ['BENCH_CLOSED_DURATION', ' 20s', 'a duration from 1s to 1h'],
    ['BENCH_SOAK_DURATION', '25h', 'a duration from 1s to 24h'],
  ])('%s=%j is refused in one line naming the variable, the value and the accepted form', (name, value, accepted) => {
    let caught: unknown;
    try {
      benchSettings({ [name]: value });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ScenarioInputError);
    const message = (caught as ScenarioInputError).message;
    expect(message).toContain(`${name}=${JSON.stringify(value)}`);
    expect(message).toContain(accepted);
    expect(message).not.toContain('\n');
  });
});

describe('parseDuration', () => {
  test.each([
    ['20s', 20_000],
    ['90s', 90_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1h2m3s', 3_723_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(['', '20', 's', '1.5s', '30s1m', '500ms', '-1s'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
