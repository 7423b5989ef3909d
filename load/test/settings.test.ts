import { describe, expect, test } from 'vitest';

import { BenchInputError, benchSettings, parseDuration } from '../src/bench/settings.js';

describe('benchSettings', () => {
  test('defaults to 3 runs of 50 VUs for 20s; an empty variable counts as unset', () => {
    expect(benchSettings({})).toEqual({ runs: 3, vus: 50, duration: '20s', durationMs: 20_000 });
    expect(benchSettings({ BENCH_RUNS: '', BENCH_VUS: '', BENCH_DURATION: '' })).toEqual(benchSettings({}));
  });

  test('takes valid values as given', () => {
    expect(benchSettings({ BENCH_RUNS: '5', BENCH_VUS: '200', BENCH_DURATION: '1m30s' })).toEqual({
      runs: 5,
      vus: 200,
      duration: '1m30s',
      durationMs: 90_000,
    });
  });

  test.each([
    ['BENCH_RUNS', '0', 'a whole number from 1 to 100'],
    ['BENCH_RUNS', '2.5', 'a whole number from 1 to 100'],
    ['BENCH_RUNS', '101', 'a whole number from 1 to 100'],
    ['BENCH_VUS', 'fifty', 'a whole number from 1 to 10000'],
    ['BENCH_VUS', '-1', 'a whole number from 1 to 10000'],
    ['BENCH_VUS', '1e3', 'a whole number from 1 to 10000'],
    ['BENCH_DURATION', '20', 'a k6 duration from 1s to 1h'],
    ['BENCH_DURATION', '0s', 'a k6 duration from 1s to 1h'],
    ['BENCH_DURATION', '2h', 'a k6 duration from 1s to 1h'],
    ['BENCH_DURATION', ' 20s', 'a k6 duration from 1s to 1h'],
  ])('%s=%j is refused in one line naming the variable, the value and the accepted form', (name, value, accepted) => {
    let caught: unknown;
    try {
      benchSettings({ [name]: value });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BenchInputError);
    const message = (caught as BenchInputError).message;
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
