import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { removeDirectory } from '@slipway/pipelines/platform/accounts';
import { scopeDir } from '@slipway/pipelines/platform/paths';
import { freePort } from '@slipway/pipelines/platform/ports';
import { silentProgress } from '@slipway/pipelines/platform/progress';
import { redisService } from '@slipway/pipelines/platform/services/redis';
import { Supervisor } from '@slipway/pipelines/platform/supervisor';
import type { TestApp } from './support/app.js';
import { call, clientIp, registerAccount, signIn, startAuthApp } from './support/auth.js';
import { sampleValue, scrape } from './support/prometheus.js';

const HOST = '127.0.0.1';
// A run-* folder, so the harness's sweep stops this Redis if the worker dies before afterAll.
const dir = join(scopeDir('test'), `run-${process.pid}-auth-outage`);
const supervisor = new Supervisor(join(dir, 'state.json'), join(dir, 'logs'), silentProgress);
let app: TestApp;

beforeAll(async () => {
  const redis = redisService({
    dir: join(dir, 'redis'),
    host: HOST,
    port: await freePort(HOST),
    portEnv: 'none (this test picks a free port)',
    disposable: true,
    fresh: true,
  });
  await supervisor.start(redis);
  app = await startAuthApp({ REDIS_URL: redis.connectionUrl });
});

afterAll(async () => {
  await app.close();
  await supervisor.stopAll();
  removeDirectory(join(dir, 'redis', 'data'));
  rmSync(dir, { recursive: true, force: true });
});

describe('with Redis gone', () => {
  it('still limits sign-in per account and IP in memory, and still serves authenticated reads', async () => {
    const account = await registerAccount(app.url);
    const tokens = await signIn(app.url, account);
    const ip = clientIp();
    const attempt = (): ReturnType<typeof call> =>
      call(app.url, 'POST', '/api/v1/auth/login', { body: { email: account.email, password: 'a guess' }, ip });
    expect((await attempt()).status).toBe(401);

    await supervisor.stopAll();
    await expect.poll(() => app.redis.status, { timeout: 5_000 }).not.toBe('ready');

    // The in-memory insurance limiter counts from zero: the fifth wrong password shuts this address out.
    const during = [];
    for (let n = 0; n < 6; n += 1) during.push((await attempt()).status);
    expect(during).toEqual([401, 401, 401, 401, 423, 423]);

    const me = await call(app.url, 'GET', '/api/v1/auth/me', { token: tokens.accessToken });
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ id: account.id });
    expect(
      app.logs.withMessage('Redis unreachable: accepting access tokens without the revocation check'),
    ).toHaveLength(1);
    const samples = await scrape(app.url);
    expect(sampleValue(samples, 'cache_operations_total', { cache: 'revoked_access_tokens', result: 'error' })).toBe(1);

    // Signing in and out still work: the lockout and refresh tokens live in PostgreSQL.
    const again = await signIn(app.url, account, clientIp());
    const out = await call(app.url, 'POST', '/api/v1/auth/logout', { token: again.accessToken });
    expect(out.status).toBe(204);
    const refresh = await call(app.url, 'POST', '/api/v1/auth/refresh', {
      body: { refresh_token: again.refreshToken },
    });
    expect(refresh.status).toBe(401);
  });
});
