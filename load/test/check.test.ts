import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, test } from 'vitest';

import { BASELINE_FILE, benchCheck, compare, readResults, ResultsFileError } from '../src/bench/check.js';

const LOAD_DIR = fileURLToPath(new URL('..', import.meta.url));
const CHECK_SCRIPT = fileURLToPath(new URL('../src/bench/check.ts', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'slipway-load-check-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let folders = 0;
/** A fresh folder holding the given files, each written as JSON (strings as they are). */
function folder(files: Record<string, unknown>): string {
  const dir = join(scratch, `case-${++folders}`);
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

/** A results file as npm run bench writes it, reduced to what the comparison reads plus some of the rest. */
function results(scenarios: Record<string, [rps: number, p99Ms: number]>): unknown {
  return {
    format: 'slipway-bench/1',
    startedAt: '2026-12-02T10:00:00.000Z',
    scenarios: Object.fromEntries(
      Object.entries(scenarios).map(([name, [medianRps, medianP99Ms]]) => [
        name,
        { description: name, summary: { row: name, runs: 3, medianRps, medianP99Ms, medianP50Ms: 1 }, runs: [] },
      ]),
    ),
  };
}

const BASE = {
  'cached-read': [1000, 20],
  orders: [200, 60],
  'closed-app': [900, 40],
  'closed-bare': [4000, 8],
} as const;
const base = (): Record<string, [number, number]> =>
  Object.fromEntries(Object.entries(BASE).map(([name, pair]) => [name, [...pair]]));

describe('bench:check', () => {
  test('passes (exit 0) on the newest results when no scenario moved past the limits', () => {
    const current = { ...base(), orders: [171, 71.9] as [number, number] }; // −14.5 % RPS, +19.8 % p99
    const dir = folder({
      '20261201T100000Z.json': results({ ...base(), orders: [10, 900] }), // older: would regress
      '20261202T100000Z.json': results(current),
      'notes.json': '{}',
      'baseline.json': results(base()),
    });
    const outcome = benchCheck([], { resultsDir: dir, baseline: join(dir, 'baseline.json') });
    expect(outcome.output).toContain('20261202T100000Z.json');
    expect(outcome.output).toMatch(/orders\s+200\s+171\s+-14\.5 %\s+60\.00\s+71\.90\s+\+19\.8 %\s+ok/);
    expect(outcome.output).toContain('no regression beyond 15 % throughput or 20 % p99');
    expect(outcome.exitCode).toBe(0);
  });

  test.each([
    ['more than 15 % throughput lost', [840, 20]],
    ['p99 up more than 20 %', [1000, 24.2]],
  ])('fails (exit 1) with the table when the cached read has %s', (_, numbers) => {
    const dir = folder({
      'current.json': results({ ...base(), 'cached-read': numbers as [number, number] }),
      'baseline.json': results(base()),
    });
    const outcome = benchCheck([join(dir, 'current.json')], { baseline: join(dir, 'baseline.json') });
    expect(outcome.exitCode).toBe(1);
    expect(outcome.output).toMatch(
      /cached-read\s+1000\s+\d+\s+[-+][\d.]+ %\s+20\.00\s+[\d.]+\s+[-+][\d.]+ %\s+REGRESSED/,
    );
    expect(outcome.output).toContain('REGRESSED: cached-read (more than 15 % throughput lost');
  });

  test('the bare server is the reference: a slower machine shows there but fails nothing', () => {
    const deltas = compare(
      readResults(join(folder({ 'c.json': results({ ...base(), 'closed-bare': [2000, 20] }) }), 'c.json')),
      readResults(join(folder({ 'b.json': results(base()) }), 'b.json')),
    );
    expect(deltas.find((delta) => delta.scenario === 'closed-bare')).toMatchObject({
      verdict: 'reference',
      rpsChange: -0.5,
    });
  });

  test('a scenario not measured this time, or new, is listed without failing', () => {
    const dir = folder({
      'current.json': results({ 'cached-read': [1000, 20], soak: [100, 30] }),
      'baseline.json': results(base()),
    });
    const outcome = benchCheck([join(dir, 'current.json')], { baseline: join(dir, 'baseline.json') });
    expect(outcome.exitCode).toBe(0);
    expect(outcome.output).toMatch(/orders\s+200\s+-\s+-\s+60\.00\s+-\s+-\s+not measured/);
    expect(outcome.output).toMatch(/soak\s+-\s+100\s+-\s+-\s+30\.00\s+-\s+new/);
  });

  test.each([
    ['a missing file', 'absent.json', /cannot read .*absent\.json: .*run npm run bench first/],
    ['a file that is not JSON', 'broken.json', /broken\.json is not JSON/],
    ['a file without scenarios', 'empty.json', /empty\.json has no "scenarios" object/],
    [
      'a scenario without its p99',
      'partial.json',
      /partial\.json: scenarios\.orders\.summary needs numbers medianRps and medianP99Ms \(found 200 and undefined\)/,
    ],
    ['no scenario in common with the baseline', 'other.json', /share no scenario/],
  ])('refuses %s with exit 64 and a message naming it', (_, name, message) => {
    const dir = folder({
      'broken.json': '{"scenarios": ',
      'empty.json': { scenarios: {} },
      'partial.json': { scenarios: { orders: { summary: { medianRps: 200 } } } },
      'other.json': results({ spike: [10, 10] }),
      'baseline.json': results(base()),
    });
    const outcome = benchCheck([name], { cwd: dir, baseline: join(dir, 'baseline.json') });
    expect(outcome.exitCode).toBe(64);
    expect(outcome.output).toMatch(message);
  });

  test('with no results at all, exit 64 says to run the benchmark first', () => {
    const outcome = benchCheck([], { resultsDir: folder({}), baseline: BASELINE_FILE });
    expect(outcome).toMatchObject({ exitCode: 64 });
    expect(outcome.output).toMatch(/no results in .*; run npm run bench first/);
  });

  test('as a command (npm runs it in load/), a path is taken from where it was typed; exit 1 on a regression', () => {
    const committed = readResults(BASELINE_FILE).get('cached-read') ?? { rps: 0, p99Ms: 0 };
    // half the baseline's throughput, whatever machine produced it
    const dir = folder({ 'slow.json': results({ 'cached-read': [committed.rps / 2, committed.p99Ms] }) });
    const run = spawnSync(process.execPath, ['--import', 'tsx', CHECK_SCRIPT, 'slow.json'], {
      cwd: LOAD_DIR,
      env: { ...process.env, INIT_CWD: dir },
      encoding: 'utf8',
    });
    expect(run.stdout).toMatch(/cached-read\s+\d+\s+\d+\s+-50\.0 %.*REGRESSED/);
    expect(run.status).toBe(1);
  });
});

describe('load/baseline.json', () => {
  test('is a results file the check reads, with the scenarios the issue sets targets for', () => {
    const baseline = readResults(BASELINE_FILE);
    expect([...baseline.keys()]).toEqual(
      expect.arrayContaining(['cached-read', 'orders', 'logins', 'closed-app', 'closed-bare', 'soak']),
    );
    for (const numbers of baseline.values()) {
      expect(numbers.rps).toBeGreaterThan(0);
      expect(numbers.p99Ms).toBeGreaterThan(0);
    }
  });

  test('readResults names the file in its errors', () => {
    expect(() => readResults(join(scratch, 'nope.json'))).toThrow(ResultsFileError);
  });
});
