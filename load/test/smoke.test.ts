import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createTestDatabase, type TestDatabase } from '@slipway/app/testing/database';
import { testServices } from '@slipway/app/testing/services';
import { freePort } from '@slipway/pipelines/platform/ports';
import { silentProgress } from '@slipway/pipelines/platform/progress';
import { appService } from '@slipway/pipelines/platform/services/app';
import { Supervisor } from '@slipway/pipelines/platform/supervisor';
import { appUnderTestEnv } from '@slipway/pipelines/testing/app-under-test';
import { bareServerService } from '../src/bench/services.js';
import { registerSeedAccount, seedCachedRead, type SeedAccount } from '../src/bench/seed-account.js';
import { runScenario, type ScenarioSummary } from '../src/engine/run.js';
import { runGate } from '../src/gate.js';
import { SCENARIOS, type ScenarioName } from '../src/scenarios/index.js';

const HOST = '127.0.0.1';
const scratch = mkdtempSync(join(tmpdir(), 'slipway-load-smoke-'));
const supervisor = new Supervisor(join(scratch, 'state.json'), join(scratch, 'logs'), silentProgress);
let database: TestDatabase;
let appUrl = '';
/** Granted admin by the harness (a self-registered account may not create products); the scenarios sign in with it. */
let account: SeedAccount;
let seedEnv: Record<string, string> = {};

beforeAll(async () => {
  database = await createTestDatabase('load_smoke');
  const port = await freePort(HOST);
  const app = appService({
    host: HOST,
    port,
    portEnv: 'none (the test picks a free port)',
    // TRUST_PROXY: the scenarios sign in from a different X-Forwarded-For each time (a benchmark setting)
    env: { ...appUnderTestEnv({ databaseUrl: database.url, redisUrl: testServices().redis.url }), TRUST_PROXY: '1' },
  });
  await supervisor.start(app);
  appUrl = app.url;
  account = await registerSeedAccount(appUrl, database.url);
  seedEnv = { SEED_EMAIL: account.email, SEED_PASSWORD: account.password };
});
afterAll(async () => {
  await supervisor.stopAll();
  await database.drop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('the scenarios against the real app', () => {
  test('smoke walks the main path for a few seconds, every answer as expected, and passes the SLO thresholds', async () => {
    const result = await runGate({
      scenario: 'smoke',
      targetUrl: appUrl,
      env: { ...seedEnv, SMOKE_VUS: '2', SMOKE_DURATION: '3s' },
      summaryDir: scratch,
    });
    expect(result.verdict, result.reason).toBe('pass');
    expect(result.summary?.errorRate).toBe(0);
    expect(result.summary?.thresholds.checks).toEqual({
      passed: true,
      rules: { 'rate==1': { passed: true, value: 1 } },
    });
    expect(Object.keys(result.summary?.endpoints ?? {}).sort()).toEqual(
      ['create-order', 'create-product', 'get-order', 'get-product', 'list-orders', 'list-products'].sort(),
    );
  });

  test('the canary gate holds its arrival rate for a few seconds and passes', async () => {
    const result = await runGate({
      scenario: 'canary-gate',
      targetUrl: appUrl,
      env: { ...seedEnv, GATE_RATE: '30', GATE_DURATION: '4s' },
      summaryDir: scratch,
    });
    expect(result.verdict, result.reason).toBe('pass');
    expect(result.summary?.requests).toBeGreaterThanOrEqual(110);
    expect(result.summary?.checkRate).toBe(1);
  });

  test('without an admin account the gate reads the catalog it finds, as against a production canary', async () => {
    const result = await runGate({
      scenario: 'canary-gate',
      targetUrl: appUrl,
      env: { GATE_RATE: '10', GATE_DURATION: '2s', GATE_MIN_REQUESTS: '10' },
      summaryDir: mkdtempSync(join(scratch, 'customer-')),
    });
    expect(result.verdict, result.reason).not.toBe('inconclusive');
    expect(result.summary?.errorRate).toBe(0);
  });

  test('without an admin account and with an empty catalog, seeding says to set SEED_EMAIL and SEED_PASSWORD', async () => {
    const empty = await createTestDatabase('load_empty_catalog');
    const own = new Supervisor(join(scratch, 'empty-state.json'), join(scratch, 'empty-logs'), silentProgress);
    const emptyApp = appService({
      host: HOST,
      port: await freePort(HOST),
      portEnv: 'none (the test picks a free port)',
      env: { ...appUnderTestEnv({ databaseUrl: empty.url, redisUrl: testServices().redis.url }), TRUST_PROXY: '1' },
    });
    try {
      await own.start(emptyApp);
      const result = await runGate({
        scenario: 'canary-gate',
        targetUrl: emptyApp.url,
        env: { GATE_RATE: '5', GATE_DURATION: '1s' },
        summaryDir: mkdtempSync(join(scratch, 'empty-')),
      });
      expect(result).toMatchObject({ verdict: 'inconclusive', exitCode: 2 });
      expect(result.reason).toContain('POST /api/v1/products answered 403');
      expect(result.reason).toContain('set SEED_EMAIL and SEED_PASSWORD to an account with role admin');
    } finally {
      await own.stopAll();
      await empty.drop();
    }
  });
});

describe('the other scenarios, a few seconds each at low rates (no timing is judged)', () => {
  const runs: Partial<Record<string, ScenarioSummary>> = {};
  const scenarios: Record<Exclude<ScenarioName, 'smoke' | 'canary-gate'>, Record<string, string>> = {
    baseline: {
      BASELINE_RATE: '5',
      BASELINE_DURATION: '3s',
      BASELINE_PRODUCTS: '2',
      BASELINE_USERS: '3',
      LOGIN_RATE: '2',
    },
    peak: { PEAK_RATE: '8', PEAK_DURATION: '3s', PEAK_PRODUCTS: '2', PEAK_USERS: '3', LOGIN_RATE: '2' },
    soak: { SOAK_RATE: '5', SOAK_DURATION: '12s', SOAK_PRODUCTS: '2', SOAK_USERS: '3', LOGIN_RATE: '2' },
    stress: {
      STRESS_START_RATE: '4',
      STRESS_STEP_RATE: '4',
      STRESS_STEPS: '2',
      STRESS_STEP_DURATION: '2s',
      STRESS_PRODUCTS: '2',
      STRESS_USERS: '2',
    },
    spike: {
      SPIKE_BASE_RATE: '4',
      SPIKE_PEAK_RATE: '12',
      SPIKE_WARM: '2s',
      SPIKE_RAMP: '1s',
      SPIKE_HOLD: '1s',
      SPIKE_RECOVERY: '4s',
      SPIKE_WINDOW: '2s',
      SPIKE_PRODUCTS: '2',
      SPIKE_USERS: '2',
    },
  };

  beforeAll(async () => {
    for (const [name, env] of Object.entries(scenarios)) {
      const all = { ...seedEnv, ...env };
      runs[name] = await runScenario({ scenario: SCENARIOS[name as ScenarioName](all), targetUrl: appUrl, env: all });
    }
  }, 120_000);

  test.each(['baseline', 'peak', 'soak'])(
    '%s runs its mix and bounded sign-ins to the end, every request answered',
    (name) => {
      const summary = runs[name];
      expect(summary?.errorRate).toBe(0);
      expect(summary?.checkRate).toBe(1);
      expect(summary?.requests).toBeGreaterThan(10);
      expect(summary?.endpoints.login?.requests).toBeGreaterThanOrEqual(4);
      expect(Object.keys(summary?.thresholds ?? {})).toEqual(['http_req_failed', 'http_req_duration']);
    },
  );

  test('soak samples the app’s RSS from its /metrics and reports the growth', () => {
    const findings = runs.soak?.findings as { rssGrowth: number | null; rssSamples: number } | undefined;
    expect(findings?.rssSamples).toBeGreaterThanOrEqual(10);
    expect(typeof findings?.rssGrowth).toBe('number');
    expect(runs.soak?.findingsLine).toMatch(/^RSS grew -?[\d.]+ % from the first fifth/);
  });

  test('stress measures each step and reports where it broke, if it did', () => {
    const findings = runs.stress?.findings as
      { steps: { step: number; targetRate: number }[]; breakingRate: number | null } | undefined;
    expect(findings?.steps.map((step) => [step.step, step.targetRate])).toEqual([
      [0, 4],
      [1, 8],
    ]);
    expect(findings?.breakingRate).toBeNull();
  });

  test('spike compares each recovery window with the warm-up p99', () => {
    const findings = runs.spike?.findings as
      { baselineP99Ms: number; recoveryWindows: unknown[]; windowSeconds: number } | undefined;
    expect(findings?.baselineP99Ms).toBeGreaterThan(0);
    expect(findings?.windowSeconds).toBe(2);
    expect(findings?.recoveryWindows).toHaveLength(2);
  });
});

describe('the benchmark seeding against the real app', () => {
  test('the bare server answers exactly what the app answers for the cached product read', async () => {
    const seeded = await seedCachedRead(appUrl, database.url);
    expect(JSON.parse(seeded.response.body)).toMatchObject({ id: seeded.productId });
    const responseFile = join(scratch, 'bare-response.json');
    writeFileSync(responseFile, JSON.stringify(seeded.response));
    const bare = bareServerService(await freePort(HOST), responseFile);
    await supervisor.start(bare);
    const answer = await fetch(`${bare.url}/api/v1/products/${seeded.productId}`);
    expect({ contentType: answer.headers.get('content-type') ?? '', body: await answer.text() }).toEqual(
      seeded.response,
    );
  });
});
