import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createTestDatabase, type TestDatabase } from '../../app/test/support/database.js';
import { testServices } from '../../app/test/support/services.js';
import { freePort } from '../../pipelines/src/platform/ports.js';
import { silentProgress } from '../../pipelines/src/platform/progress.js';
import { appService } from '../../pipelines/src/platform/services/app.js';
import { Supervisor } from '../../pipelines/src/platform/supervisor.js';
import { appUnderTestEnv } from '../../pipelines/src/testing/app-under-test.js';
import { runGate } from '../src/gate.js';

const HOST = '127.0.0.1';
const scratch = mkdtempSync(join(tmpdir(), 'slipway-load-smoke-'));
const supervisor = new Supervisor(join(scratch, 'state.json'), join(scratch, 'logs'), silentProgress);
let database: TestDatabase;
let appUrl = '';

beforeAll(async () => {
  database = await createTestDatabase('load_smoke');
  const port = await freePort(HOST);
  const app = appService({
    host: HOST,
    port,
    portEnv: 'none (the test picks a free port)',
    env: appUnderTestEnv({ databaseUrl: database.url, redisUrl: testServices().redis.url }),
  });
  await supervisor.start(app);
  appUrl = app.url;
});
afterAll(async () => {
  await supervisor.stopAll();
  await database.drop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('the scenarios against the real app', () => {
  test('smoke walks the main path for a few seconds and passes the SLO thresholds', async () => {
    const result = await runGate({
      scenario: 'smoke',
      targetUrl: appUrl,
      env: { SMOKE_VUS: '2', SMOKE_DURATION: '3s' },
      summaryDir: scratch,
    });
    expect(result.reason).toBe(`every threshold held against ${appUrl}`);
    expect(result).toMatchObject({ verdict: 'pass', exitCode: 0 });
    expect(result.summary?.errorRate).toBe(0);
    expect(result.summary?.thresholds.checks).toEqual({ passed: true, rules: { 'rate==1': true } });
  });

  test('the canary gate holds its arrival rate for a few seconds and passes', async () => {
    const result = await runGate({
      scenario: 'canary-gate',
      targetUrl: appUrl,
      env: { GATE_RATE: '20', GATE_DURATION: '4s' },
      summaryDir: scratch,
    });
    expect(result.reason).toBe(`every threshold held against ${appUrl}`);
    expect(result).toMatchObject({ verdict: 'pass', exitCode: 0 });
    expect(result.summary?.droppedIterations).toBe(0);
    expect(result.summary?.requests).toBeGreaterThanOrEqual(60);
  });
});
