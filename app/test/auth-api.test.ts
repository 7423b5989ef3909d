import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  FAILURES_BEFORE_ADDRESS_LOCK,
  FAILURES_BEFORE_LOCK,
  LOGIN_FAILURES_PER_IP_PER_DAY,
} from '../src/components/auth/login-protection.js';
import { TokenService } from '../src/components/auth/tokens.js';
import { TEST_SECRETS } from './support/app.js';
import type { TestApp } from './support/app.js';
import { call, clientIp, registerAccount, signIn, startAuthApp } from './support/auth.js';
import { unique } from './support/db.js';
import { parseExposition, sampleValue, scrape } from './support/prometheus.js';

let app: TestApp;

beforeAll(async () => {
  app = await startAuthApp();
});

afterAll(async () => {
  await app.close();
});

const AUTH = '/api/v1/auth';

describe('POST /api/v1/auth/register', () => {
  it('creates the account with the customer role and answers 201 without the hash', async () => {
    const username = unique('ada').replace(/[^A-Za-z0-9._-]/g, '');
    const email = `${username}@Example.com`;
    const reply = await call(app.url, 'POST', `${AUTH}/register`, {
      body: { email, username, password: 'a sufficiently long passphrase' },
    });
    expect(reply.status).toBe(201);
    expect(reply.body.user).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      email,
      username,
      is_active: true,
      created_at: expect.any(String) as unknown,
      roles: ['customer'],
    });
    expect(JSON.stringify(reply.body)).not.toMatch(/hash|argon/i);
    const samples = await scrape(app.url);
    expect(sampleValue(samples, 'users_created_total')).toBeGreaterThanOrEqual(1);
  });

  it('refuses a short password, naming the field but never echoing it', async () => {
    const reply = await call(app.url, 'POST', `${AUTH}/register`, {
      body: { email: 'short@example.com', username: 'shorty', password: 'tooShort1' },
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error).toMatchObject({
      code: 'VALIDATION_ERROR',
      fields: { 'body.password': ['must be at least 12 characters; choose a longer passphrase'] },
    });
    expect(JSON.stringify(reply.body)).not.toContain('tooShort1');
  });

  it('refuses unknown fields and a second account with the same email, whatever its case', async () => {
    const account = await registerAccount(app.url);
    const extra = await call(app.url, 'POST', `${AUTH}/register`, {
      body: { email: 'x@example.com', username: 'xavier', password: 'long enough passphrase', role: 'admin' },
    });
    expect(extra.status).toBe(400);
    expect(extra.body.error).toMatchObject({ fields: { 'body.role': [expect.stringContaining('not a known field')] } });

    const duplicate = await call(app.url, 'POST', `${AUTH}/register`, {
      body: {
        email: account.email.toUpperCase(),
        username: unique('other').slice(0, 60),
        password: 'long enough passphrase',
      },
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('already exists; sign in, or register another email') as unknown,
      details: { field: 'email' },
    });
  });
});

describe('sign-in, /me, refresh and sign-out', () => {
  it('signs in by email or username and answers /me with roles and permissions from one query', async () => {
    const account = await registerAccount(app.url);
    const byUsername = await call(app.url, 'POST', `${AUTH}/login`, {
      body: { username: account.username.toUpperCase(), password: account.password },
    });
    expect(byUsername.status).toBe(200);
    // OAuth 2's snake_case token response (RFC 6749 §5.1), like every other JSON field of the API.
    expect(Object.keys(byUsername.body).toSorted()).toEqual([
      'access_token',
      'access_token_expires_at',
      'expires_in',
      'refresh_token',
      'refresh_token_expires_at',
      'token_type',
    ]);
    expect(byUsername.body).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    const tokens = await signIn(app.url, account);

    const requestId = unique('me');
    const response = await fetch(`${app.url}${AUTH}/me`, {
      headers: { Authorization: `Bearer ${tokens.accessToken}`, 'X-Request-Id': requestId },
    });
    expect(response.status).toBe(200);
    const { user } = (await response.json()) as { user: Record<string, unknown> };
    expect(user).toMatchObject({ id: account.id, email: account.email, roles: ['customer'] });
    expect(user.permissions).toEqual(['orders:cancel_own', 'orders:create', 'orders:read_own', 'products:read']);

    const accessLine = app.logs.lines.find((line) => line.msg === 'request' && line.requestId === requestId);
    // One query for the guard (is the account active?) and one for the profile with its roles and permissions.
    expect(accessLine).toMatchObject({ status: 200, queries: 2, userId: account.id });
  });

  it('refuses sign-in with neither or both identifiers', async () => {
    const neither = await call(app.url, 'POST', `${AUTH}/login`, { body: { password: 'whatever it is' } });
    expect(neither.status).toBe(400);
    expect(neither.body.error).toMatchObject({
      fields: { body: [expect.stringContaining('either email or username')] },
    });
    const both = await call(app.url, 'POST', `${AUTH}/login`, {
      body: { email: 'ada@example.com', username: 'ada', password: 'whatever it is' },
    });
    expect(both.status).toBe(400);
    expect(both.body.error).toMatchObject({
      fields: { body: [expect.stringContaining('either email or username')] },
    });
  });

  it('answers a wrong password and an unknown account alike', async () => {
    const account = await registerAccount(app.url);
    const wrong = await call(app.url, 'POST', `${AUTH}/login`, {
      body: { email: account.email, password: 'not the password' },
    });
    const unknown = await call(app.url, 'POST', `${AUTH}/login`, {
      body: { email: `${unique('nobody')}@example.com`, password: 'not the password' },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const message = (reply: typeof wrong): unknown => (reply.body.error as { message: string }).message;
    expect(message(unknown)).toBe(message(wrong));
  });

  it('guards /me: no token, a malformed header and a forged token each get 401 with a Bearer challenge', async () => {
    const none = await call(app.url, 'GET', `${AUTH}/me`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="erp-api"');

    const malformed = await fetch(`${app.url}${AUTH}/me`, { headers: { Authorization: 'Basic abc' } });
    expect(malformed.status).toBe(401);
    expect(malformed.headers.get('www-authenticate')).toBe('Bearer realm="erp-api", error="invalid_request"');

    const before = sampleValue(await scrape(app.url), 'auth_token_validations_total', { result: 'invalid' }) ?? 0;
    const stranger = new TokenService({
      secrets: ['x'.repeat(8) + 'Qw9!rT5#yU7&iO1@pA3$sD'],
      issuer: 'erp-api',
      audience: 'erp-api',
    });
    const forged = await stranger.issue('access', randomUUID(), 'session');
    const reply = await call(app.url, 'GET', `${AUTH}/me`, { token: forged.token });
    expect(reply.status).toBe(401);
    expect(reply.headers.get('www-authenticate')).toBe('Bearer realm="erp-api", error="invalid_token"');
    const after = sampleValue(await scrape(app.url), 'auth_token_validations_total', { result: 'invalid' });
    expect(after).toBe(before + 1);
  });

  it('accepts a token signed with an older secret while it is still listed in JWT_SECRETS', async () => {
    const account = await registerAccount(app.url);
    const rotatedApp = await startAuthApp({
      JWT_SECRETS: `${'N'.repeat(4)}ew-secret-9fK2mQ7xL4pR8vT1zW6yB3,${TEST_SECRETS.JWT_SECRETS}`,
    });
    try {
      const tokens = await signIn(app.url, account);
      const reply = await call(rotatedApp.url, 'GET', `${AUTH}/me`, { token: tokens.accessToken });
      expect(reply.status).toBe(200);
      // ...and the rotated app's own tokens are not accepted by the app that never had the new secret.
      const rotatedTokens = await signIn(rotatedApp.url, account);
      expect((await call(app.url, 'GET', `${AUTH}/me`, { token: rotatedTokens.accessToken })).status).toBe(401);
    } finally {
      await rotatedApp.close();
    }
  });

  it('rotates refresh tokens, and a reused one ends that whole sign-in', async () => {
    const account = await registerAccount(app.url);
    const first = await signIn(app.url, account);
    const second = await call(app.url, 'POST', `${AUTH}/refresh`, { body: { refresh_token: first.refreshToken } });
    expect(second.status).toBe(200);
    const rotated = second.body as { access_token: string; refresh_token: string };
    expect(rotated.refresh_token).not.toBe(first.refreshToken);
    expect((await call(app.url, 'GET', `${AUTH}/me`, { token: rotated.access_token })).status).toBe(200);

    const reused = await call(app.url, 'POST', `${AUTH}/refresh`, { body: { refresh_token: first.refreshToken } });
    expect(reused.status).toBe(401);
    const afterReuse = await call(app.url, 'POST', `${AUTH}/refresh`, {
      body: { refresh_token: rotated.refresh_token },
    });
    expect(afterReuse.status).toBe(401);
    expect(app.logs.withMessage('refresh token reused; every token of that sign-in revoked')).toContainEqual(
      expect.objectContaining({ userId: account.id, revoked: 1 }),
    );
    // An access token is not a refresh token.
    const wrongType = await call(app.url, 'POST', `${AUTH}/refresh`, { body: { refresh_token: rotated.access_token } });
    expect(wrongType.status).toBe(401);
  });

  it('signs out: the access token is revoked at once and the refresh token no longer works', async () => {
    const account = await registerAccount(app.url);
    const tokens = await signIn(app.url, account);
    const out = await call(app.url, 'POST', `${AUTH}/logout`, { token: tokens.accessToken });
    expect(out.status).toBe(204);
    const after = await call(app.url, 'GET', `${AUTH}/me`, { token: tokens.accessToken });
    expect(after.status).toBe(401);
    expect((after.body.error as { message: string }).message).toContain('revoked by sign-out');
    const refresh = await call(app.url, 'POST', `${AUTH}/refresh`, { body: { refresh_token: tokens.refreshToken } });
    expect(refresh.status).toBe(401);
    expect(
      sampleValue(await scrape(app.url), 'auth_token_validations_total', { result: 'revoked' }),
    ).toBeGreaterThanOrEqual(1);
    // The revocation lives in Redis only until the token would have expired.
    const keys = await app.redis.keys('erp-api:auth:revoked-access:*');
    const ttls = await Promise.all(keys.map((key) => app.redis.pttl(key)));
    for (const ttl of ttls) expect(ttl).toBeGreaterThan(0);
    for (const ttl of ttls) expect(ttl).toBeLessThanOrEqual(15 * 60_000);
  });

  it('never writes a secret, a password or a token to the log', async () => {
    const from = app.logs.raw.length;
    const account = await registerAccount(app.url);
    await call(app.url, 'POST', `${AUTH}/login`, { body: { email: account.email, password: 'wrong password here' } });
    const tokens = await signIn(app.url, account);
    await call(app.url, 'GET', `${AUTH}/me`, { token: tokens.accessToken });
    const refreshed = await call(app.url, 'POST', `${AUTH}/refresh`, { body: { refresh_token: tokens.refreshToken } });
    await call(app.url, 'POST', `${AUTH}/logout`, { token: (refreshed.body as { access_token: string }).access_token });
    const written = app.logs.raw.slice(from).join('');
    expect(written).toContain(account.id);
    for (const value of [
      TEST_SECRETS.JWT_SECRETS,
      TEST_SECRETS.PASSWORD_PEPPER,
      account.password,
      'wrong password here',
      tokens.accessToken,
      tokens.refreshToken,
    ]) {
      expect(written).not.toContain(value);
    }
  });
});

describe('login protection', () => {
  it('counts only failures against an address: six good sign-ins in a row from one IP all succeed', async () => {
    const ip = clientIp();
    const account = await registerAccount(app.url);
    const statuses = [];
    for (let attempt = 1; attempt <= 6; attempt += 1) {
      const reply = await call(app.url, 'POST', `${AUTH}/login`, {
        body: { email: account.email, password: account.password },
        ip,
      });
      statuses.push(reply.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it(`answers with 429, Retry-After and unlock_at once an IP failed ${LOGIN_FAILURES_PER_IP_PER_DAY} times in a day`, async () => {
    const ip = clientIp();
    const account = await registerAccount(app.url);
    const statuses = new Set<number>();
    for (let attempt = 1; attempt <= LOGIN_FAILURES_PER_IP_PER_DAY; attempt += 1) {
      const reply = await call(app.url, 'POST', `${AUTH}/login`, {
        body: { username: `guess-${attempt}`, password: 'guessing away' },
        ip,
      });
      statuses.add(reply.status);
    }
    expect([...statuses]).toEqual([401]);
    const next = await call(app.url, 'POST', `${AUTH}/login`, {
      body: { email: account.email, password: account.password },
      ip,
    });
    expect(next.status).toBe(429);
    const retryAfter = Number(next.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(23 * 3600);
    expect(retryAfter).toBeLessThanOrEqual(24 * 3600);
    const { details } = next.body.error as { details: { unlock_at: string } };
    expect(Date.parse(details.unlock_at) - Date.now()).toBeGreaterThan(23 * 3600_000);
    const blocked = app.logs.withMessage('sign-in blocked: too many failed attempts from this IP').at(-1);
    expect(blocked).toMatchObject({ ip, attemptedEmail: account.email });
    expect(JSON.stringify(blocked)).not.toContain(account.password);
    const samples = await scrape(app.url);
    expect(sampleValue(samples, 'auth_login_attempts_total', { result: 'rate_limited' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(samples, 'rate_limit_blocks_total', { limiter: 'login' })).toBeGreaterThanOrEqual(1);
    // Another address is not affected.
    expect((await signIn(app.url, account)).accessToken).toBeTruthy();
  });

  it('shuts one address out of an account after 5 wrong passwords from it; the owner elsewhere still signs in', async () => {
    const account = await registerAccount(app.url);
    const attacker = clientIp();
    const replies = [];
    for (let attempt = 1; attempt <= FAILURES_BEFORE_ADDRESS_LOCK; attempt += 1) {
      replies.push(
        await call(app.url, 'POST', `${AUTH}/login`, {
          body: { email: account.email, password: `wrong ${attempt}` },
          ip: attacker,
        }),
      );
    }
    expect(replies.map((reply) => reply.status)).toEqual([401, 401, 401, 401, 423]);

    // The right password from the shut-out address is refused too: it may be a guess that finally hit.
    const fromAttacker = await call(app.url, 'POST', `${AUTH}/login`, {
      body: { email: account.email, password: account.password },
      ip: attacker,
    });
    expect(fromAttacker.status).toBe(423);
    const error = fromAttacker.body.error as { code: string; message: string; details: { unlock_at: string } };
    expect(error.code).toBe('ACCOUNT_LOCKED');
    expect(error.message).toContain('from your address');
    const unlockIn = Date.parse(error.details.unlock_at) - Date.now();
    expect(unlockIn).toBeGreaterThan(14 * 60_000);
    expect(unlockIn).toBeLessThanOrEqual(15 * 60_000);
    expect(Number(fromAttacker.headers.get('retry-after'))).toBeGreaterThan(14 * 60);

    const owner = await call(app.url, 'POST', `${AUTH}/login`, {
      body: { email: account.email, password: account.password },
      ip: clientIp(),
    });
    expect(owner.status).toBe(200);
    expect(app.logs.withMessage('sign-in blocked: account locked for this address').at(-1)).toMatchObject({
      attemptedEmail: account.email,
      userId: account.id,
      ip: attacker,
    });
    const samples = await scrape(app.url);
    expect(sampleValue(samples, 'auth_address_lockouts_total')).toBeGreaterThanOrEqual(1);
    expect(sampleValue(samples, 'auth_login_attempts_total', { result: 'locked' })).toBeGreaterThanOrEqual(1);
  });

  it("forgets an address's run of wrong passwords once it signs in", async () => {
    const account = await registerAccount(app.url);
    const ip = clientIp();
    const wrong = () =>
      call(app.url, 'POST', `${AUTH}/login`, { body: { email: account.email, password: 'not it' }, ip });
    for (let attempt = 1; attempt < FAILURES_BEFORE_ADDRESS_LOCK; attempt += 1)
      expect((await wrong()).status).toBe(401);
    await signIn(app.url, account, ip);
    for (let attempt = 1; attempt < FAILURES_BEFORE_ADDRESS_LOCK; attempt += 1)
      expect((await wrong()).status).toBe(401);
  });

  it(`locks the account for everyone after ${FAILURES_BEFORE_LOCK} wrong passwords from many addresses, and queues the notice`, async () => {
    const account = await registerAccount(app.url);
    const addresses = Array.from({ length: FAILURES_BEFORE_LOCK / FAILURES_BEFORE_ADDRESS_LOCK }, () => clientIp());
    const statuses = [];
    for (const ip of addresses) {
      for (let attempt = 1; attempt <= FAILURES_BEFORE_ADDRESS_LOCK; attempt += 1) {
        statuses.push(
          (
            await call(app.url, 'POST', `${AUTH}/login`, {
              body: { email: account.email, password: `wrong ${attempt}` },
              ip,
            })
          ).status,
        );
      }
    }
    expect(statuses.at(-1)).toBe(423);
    const lastIp = addresses.at(-1) ?? '';

    const right = await call(app.url, 'POST', `${AUTH}/login`, {
      body: { email: account.email, password: account.password },
      ip: clientIp(),
    });
    expect(right.status).toBe(423);
    const error = right.body.error as { code: string; message: string; details: { unlock_at: string } };
    expect(error.code).toBe('ACCOUNT_LOCKED');
    const unlockIn = Date.parse(error.details.unlock_at) - Date.now();
    expect(unlockIn).toBeGreaterThan(14 * 60_000);
    expect(unlockIn).toBeLessThanOrEqual(15 * 60_000);

    const { rows } = await app.db.query<{ recipient: string; template: string; payload: Record<string, unknown> }>(
      'test.outbox',
      'SELECT recipient, template, payload FROM email_outbox WHERE user_id = $1',
      [account.id],
    );
    expect(rows).toEqual([
      {
        recipient: account.email,
        template: 'account_locked',
        payload: expect.objectContaining({
          unlockAt: error.details.unlock_at,
          ip: lastIp,
          failedAttempts: FAILURES_BEFORE_LOCK,
        }) as unknown,
      },
    ]);
    expect(app.logs.withMessage('sign-in blocked: account locked').at(-1)).toMatchObject({
      attemptedEmail: account.email,
      userId: account.id,
    });
    const samples = parseExposition(await (await fetch(`${app.url}/metrics`)).text());
    expect(sampleValue(samples, 'auth_lockouts_total')).toBeGreaterThanOrEqual(1);
  });

  it('shares the address lock and the account lock between two app instances on the same Redis and database', async () => {
    const other = await startAuthApp();
    try {
      const account = await registerAccount(other.url);
      const ip = clientIp();
      const guesses = [];
      for (const instance of [app, other, app, other, app]) {
        guesses.push(
          (await call(instance.url, 'POST', `${AUTH}/login`, { body: { email: account.email, password: 'nope' }, ip }))
            .status,
        );
      }
      expect(guesses).toEqual([401, 401, 401, 401, 423]);
      const right = await call(other.url, 'POST', `${AUTH}/login`, {
        body: { email: account.email, password: account.password },
        ip,
      });
      expect(right.status).toBe(423);
    } finally {
      await other.close();
    }
  });
});
