import { randomUUID } from 'node:crypto';

import { Client } from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { AUDIT_EVENT, AuditLog } from '../src/components/audit/index.js';
import { FAILURES_BEFORE_ADDRESS_LOCK, FAILURES_BEFORE_LOCK } from '../src/components/auth/login-protection.js';
import { createComponents } from '../src/components/index.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';
import { clientIp, registerAccount, signIn } from './support/auth.js';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import type { Account } from './support/auth.js';

// The service as server.ts wires it: auth, access (authorize) and the audit component from createComponents.
let app: TestApp;
let admin: Account;
let adminToken: string;
let customerToken: string;
const started = new Date(Date.now() - 1000).toISOString();

interface AuditItem {
  readonly id: string;
  readonly occurred_at: string;
  readonly actor_user_id: string | null;
  readonly event_type: string;
  readonly resource_type: string | null;
  readonly resource_id: string | null;
  readonly ip: string | null;
  readonly user_agent: string | null;
  readonly before: unknown;
  readonly after: unknown;
  readonly metadata: Record<string, unknown>;
  readonly prev_hash: string | null;
  readonly hash: string;
}

interface AuditPage {
  readonly items: AuditItem[];
  readonly page: number;
  readonly limit: number;
  readonly total: number;
}

interface Reply<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
}

async function request<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: { token?: string; body?: unknown; ip?: string; userAgent?: string } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = {
    'X-Forwarded-For': options.ip ?? clientIp(),
    'User-Agent': options.userAgent ?? 'audit-api-test/1.0',
  };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  const response = await fetch(`${app.url}${path}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as T };
}

/** The admin's view of the log, filtered by `query`. */
async function auditLogs(query: Record<string, string>): Promise<AuditPage> {
  const reply = await request<AuditPage>('GET', `/api/v1/audit-logs?${new URLSearchParams(query).toString()}`, {
    token: adminToken,
  });
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return reply.body;
}

function fieldsOf(reply: Reply): Record<string, string[]> {
  const error = reply.body.error as { code: string; fields?: Record<string, string[]> };
  expect(error.code).toBe('VALIDATION_ERROR');
  return error.fields ?? {};
}

beforeAll(async () => {
  app = await startTestApp({ env: { TRUST_PROXY: '1' }, routers: (deps) => createComponents(deps).routers });
  admin = await registerAccount(app.url);
  await app.db.query(
    'test.grantAdmin',
    "INSERT INTO user_roles (user_id, role_id) SELECT $1, id FROM roles WHERE name = 'admin'",
    [admin.id],
  );
  adminToken = (await signIn(app.url, admin)).accessToken;
  customerToken = (await signIn(app.url, await registerAccount(app.url))).accessToken;
}, 60_000);

afterAll(async () => {
  await app.close();
});

describe('GET /api/v1/audit-logs: access', () => {
  it('needs a signed-in caller (401) holding audit:read (403 for a customer)', async () => {
    expect((await request('GET', '/api/v1/audit-logs')).status).toBe(401);
    const refused = await request('GET', '/api/v1/audit-logs', { token: customerToken });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'FORBIDDEN', details: { permission: 'audit:read' } });
  });

  it('records each read as audit.read, with the filters, address and user agent', async () => {
    const resourceId = randomUUID();
    await auditLogs({ resource_id: resourceId, limit: '3' });
    const reads = await auditLogs({ user_id: admin.id, event_type: AUDIT_EVENT.auditRead, limit: '1000' });
    const read = reads.items.find(
      (item) => (item.metadata.filters as Record<string, unknown>).resource_id === resourceId,
    );
    expect(read).toMatchObject({
      actor_user_id: admin.id,
      resource_type: 'audit_log',
      user_agent: 'audit-api-test/1.0',
      metadata: { page: 1, limit: 3, returned: 0 },
    });
    expect(read?.ip).toMatch(/^10\.\d+\.\d+\.\d+$/);
  });
});

describe('GET /api/v1/audit-logs: filters and pagination', () => {
  const resourceType = 'test_widget';
  const resourceId = randomUUID();
  const actor = randomUUID();
  let all: AuditItem[];

  beforeAll(async () => {
    const log = new AuditLog();
    for (let index = 0; index < 5; index += 1) {
      await log.record(app.db, {
        type: index < 3 ? 'test.widget.changed' : 'test.widget.read',
        actorUserId: index % 2 === 0 ? actor : undefined,
        resourceType,
        resourceId,
        before: { n: index },
        after: { n: index + 1 },
      });
    }
    all = (await auditLogs({ resource_type: resourceType, resource_id: resourceId, sort: 'id' })).items;
  });

  it('filters by resource and returns snake_case rows with their hashes, oldest first when sorted by id', () => {
    expect(all).toHaveLength(5);
    expect(all.map((item) => item.before)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    expect(all[0]).toMatchObject({
      event_type: 'test.widget.changed',
      actor_user_id: actor,
      resource_type: resourceType,
      resource_id: resourceId,
      after: { n: 1 },
      metadata: {},
    });
    for (const item of all) {
      expect(item.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(item.occurred_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    }
  });

  it('filters by user and event type', async () => {
    const byUser = await auditLogs({ user_id: actor });
    expect(byUser.total).toBe(3);
    expect(byUser.items.map((item) => item.before)).toEqual([{ n: 4 }, { n: 2 }, { n: 0 }]);
    const byType = await auditLogs({ resource_id: resourceId, event_type: 'test.widget.read' });
    expect(byType.items.map((item) => item.before)).toEqual([{ n: 4 }, { n: 3 }]);
  });

  it('filters by time range, both ends inclusive', async () => {
    const from = all[1]?.occurred_at ?? '';
    const to = all[3]?.occurred_at ?? '';
    const range = await auditLogs({ resource_id: resourceId, from, to, sort: 'occurred_at' });
    expect(range.items.map((item) => item.before)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const none = await auditLogs({ resource_id: resourceId, to: started });
    expect(none).toMatchObject({ items: [], total: 0 });
  });

  it('pages with total, newest first by default', async () => {
    const first = await auditLogs({ resource_id: resourceId, limit: '2' });
    expect(first).toMatchObject({ page: 1, limit: 2, total: 5 });
    expect(first.items.map((item) => item.before)).toEqual([{ n: 4 }, { n: 3 }]);
    const last = await auditLogs({ resource_id: resourceId, limit: '2', page: '3' });
    expect(last.items.map((item) => item.before)).toEqual([{ n: 0 }]);
    const beyond = await auditLogs({ resource_id: resourceId, limit: '2', page: '4' });
    expect(beyond).toMatchObject({ items: [], total: 5 });
    const ascending = await auditLogs({ resource_id: resourceId, sort: 'occurred_at', limit: '2' });
    expect(ascending.items.map((item) => item.before)).toEqual([{ n: 0 }, { n: 1 }]);
    // a range that ends before it starts holds nothing
    const empty = await auditLogs({
      resource_id: resourceId,
      from: '2026-05-02T00:00:00Z',
      to: '2026-05-01T00:00:00Z',
    });
    expect(empty).toMatchObject({ items: [], total: 0 });
  });

  it.each([
    [{ from: 'yesterday' }, 'query.from', 'from must be an ISO 8601 timestamp with a time zone'],
    [{ to: '2026-05-01T00:00:00' }, 'query.to', 'to must be an ISO 8601 timestamp with a time zone'],
    [{ user_id: 'ada' }, 'query.user_id', 'user_id must be a user id (a UUID)'],
    [{ event_type: 'DROP TABLE' }, 'query.event_type', 'event_type must be a dotted event name'],
    [{ sort: 'hash' }, 'query.sort', 'cannot sort by "hash"; allowed: occurred_at, id'],
    [{ limit: '0' }, 'query.limit', 'limit must be a whole number from 1 to 1000'],
    [{ actor: 'x' }, 'query.actor', 'is not a known field'],
  ])('answers 400 VALIDATION_ERROR for %j', async (query, field, problem) => {
    const reply = await request('GET', `/api/v1/audit-logs?${new URLSearchParams(query).toString()}`, {
      token: adminToken,
    });
    expect(reply.status).toBe(400);
    expect(fieldsOf(reply)[field]?.join(' ')).toContain(problem);
  });
});

describe('auth events in the audit log', () => {
  // Sign-in allows 5 attempts per address per window: each test calls from its own.
  let ip: string;
  const userAgent = `audit-auth-test/${randomUUID()}`;
  let account: Account;

  beforeAll(async () => {
    account = await registerAccount(app.url);
  });
  beforeEach(() => {
    ip = clientIp();
  });

  async function eventsOf(userId: string, type: string): Promise<AuditItem[]> {
    return (await auditLogs({ user_id: userId, event_type: type, from: started, sort: 'id', limit: '100' })).items;
  }

  it('records a sign-in with the address and user agent', async () => {
    const reply = await request('POST', '/api/v1/auth/login', {
      body: { email: account.email, password: account.password },
      ip,
      userAgent,
    });
    expect(reply.status).toBe(200);
    const [event] = await eventsOf(account.id, AUDIT_EVENT.loginSucceeded);
    expect(event).toMatchObject({
      actor_user_id: account.id,
      resource_type: 'user',
      resource_id: account.id,
      ip,
      user_agent: userAgent,
      metadata: { attempted_email: account.email },
    });
    expect(event?.metadata.session_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('records a sign-in attempt for an unknown account with what was typed', async () => {
    const typed = `nobody-${randomUUID()}@example.com`;
    const reply = await request('POST', '/api/v1/auth/login', {
      body: { email: typed, password: 'not-the-password' },
      ip,
      userAgent,
    });
    expect(reply.status).toBe(401);
    const failures = await auditLogs({ event_type: AUDIT_EVENT.loginFailed, from: started, limit: '1000' });
    const event = failures.items.find((item) => item.metadata.attempted_email === typed);
    expect(event).toMatchObject({
      actor_user_id: null,
      ip,
      user_agent: userAgent,
      metadata: { reason: 'unknown_account' },
    });
  });

  it('records each wrong password, each address shut out and the lockout, then refused attempts', async () => {
    const victim = await registerAccount(app.url);
    // Each address is shut out after FAILURES_BEFORE_ADDRESS_LOCK; the account-wide lock needs several addresses.
    const addresses = [
      ...Array.from({ length: FAILURES_BEFORE_LOCK / FAILURES_BEFORE_ADDRESS_LOCK - 1 }, () => clientIp()),
      ip,
    ];
    for (const [index, from] of addresses.entries()) {
      for (let attempt = 1; attempt <= FAILURES_BEFORE_ADDRESS_LOCK; attempt += 1) {
        const reply = await request('POST', '/api/v1/auth/login', {
          body: { username: victim.username, password: 'wrong-password' },
          ip: from,
          userAgent,
        });
        expect(reply.status).toBe(attempt < FAILURES_BEFORE_ADDRESS_LOCK ? 401 : 423);
      }
      const shutOut = await eventsOf(victim.id, AUDIT_EVENT.addressLocked);
      expect(shutOut).toHaveLength(Math.min(index + 1, addresses.length - 1));
    }
    const elsewhere = clientIp();
    const refused = await request('POST', '/api/v1/auth/login', {
      body: { email: victim.email, password: victim.password },
      ip: elsewhere,
      userAgent,
    });
    expect(refused.status).toBe(423);

    const failures = await eventsOf(victim.id, AUDIT_EVENT.loginFailed);
    expect(failures.map((item) => item.metadata.reason)).toEqual([
      ...Array<string>(FAILURES_BEFORE_LOCK).fill('wrong_password'),
      'account_locked',
    ]);
    expect(failures.map((item) => item.metadata.failed_login_count).slice(0, FAILURES_BEFORE_LOCK)).toEqual(
      Array.from({ length: FAILURES_BEFORE_LOCK }, (_unused, index) => index + 1),
    );
    expect(failures[0]).toMatchObject({
      ip: addresses[0],
      user_agent: userAgent,
      metadata: { attempted_username: victim.username },
    });
    expect(failures.at(-1)).toMatchObject({ ip: elsewhere, metadata: { attempted_email: victim.email } });
    const [locked] = await eventsOf(victim.id, AUDIT_EVENT.accountLocked);
    expect(locked).toMatchObject({ ip, user_agent: userAgent, metadata: { failed_login_count: FAILURES_BEFORE_LOCK } });
    expect((locked?.after as { locked_until: string }).locked_until).toMatch(/^\d{4}-/);
  });

  it('records sign-out and refresh-token reuse', async () => {
    const user = await registerAccount(app.url);
    const first = await signIn(app.url, user);
    const rotated = await request<{ refreshToken: string }>('POST', '/api/v1/auth/refresh', {
      body: { refresh_token: first.refreshToken },
      ip,
      userAgent,
    });
    expect(rotated.status).toBe(200);
    const reused = await request('POST', '/api/v1/auth/refresh', {
      body: { refresh_token: first.refreshToken },
      ip,
      userAgent,
    });
    expect(reused.status).toBe(401);
    const [reuse] = await eventsOf(user.id, AUDIT_EVENT.refreshReused);
    expect(reuse).toMatchObject({ resource_type: 'session', ip, user_agent: userAgent });
    expect(reuse?.metadata.revoked_tokens).toBe(1);

    const second = await signIn(app.url, user);
    const out = await request('POST', '/api/v1/auth/logout', { token: second.accessToken, ip, userAgent });
    expect(out.status).toBe(204);
    const [logout] = await eventsOf(user.id, AUDIT_EVENT.logout);
    expect(logout).toMatchObject({
      resource_type: 'session',
      ip,
      user_agent: userAgent,
      metadata: { revoked_tokens: 1 },
    });
  });
});

describe('when the audit write fails', () => {
  // A private database whose audit_logs refuses auth.login.failed rows: a stand-in for a failing audit write.
  let database: TestDatabase;
  let broken: TestApp;

  beforeAll(async () => {
    database = await createMigratedDatabase();
    const owner = new Client({ connectionString: database.url });
    await owner.connect();
    try {
      await owner.query(
        "ALTER TABLE audit_logs ADD CONSTRAINT test_refuse_login_failed CHECK (event_type <> 'auth.login.failed') NOT VALID",
      );
    } finally {
      await owner.end();
    }
    broken = await startTestApp({
      env: { TRUST_PROXY: '1', DATABASE_URL: database.url },
      routers: (deps) => createComponents(deps).routers,
    });
  }, 60_000);

  afterAll(async () => {
    await broken.close();
    await database.drop();
  });

  it('still answers a sign-in for an unknown account (best-effort) and logs the lost event', async () => {
    const reply = await fetch(`${broken.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': clientIp() },
      body: JSON.stringify({ email: `nobody-${randomUUID()}@example.com`, password: 'not-the-password' }),
    });
    expect(reply.status).toBe(401);
    const lost = broken.logs.withMessage('audit event could not be recorded; continuing');
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ level: 'error', auditEvent: AUDIT_EVENT.loginFailed });
  });

  it('fails a wrong password whole (same transaction): the failure is not counted without its audit row', async () => {
    const victim = await registerAccount(broken.url);
    const reply = await fetch(`${broken.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': clientIp() },
      body: JSON.stringify({ email: victim.email, password: 'wrong-password' }),
    });
    expect(reply.status).toBe(500);
    const { rows } = await broken.db.query<{ failed_login_count: number }>(
      'test.failedCount',
      'SELECT failed_login_count FROM users WHERE id = $1',
      [victim.id],
    );
    expect(rows[0]?.failed_login_count).toBe(0);
    // The successful sign-in, recorded in its own transaction, still works and lands in the chain.
    await signIn(broken.url, victim);
    const { rows: events } = await broken.db.query<{ event_type: string }>(
      'test.events',
      'SELECT event_type FROM audit_logs WHERE actor_user_id = $1',
      [victim.id],
    );
    expect(events.map((row) => row.event_type)).toEqual([AUDIT_EVENT.loginSucceeded]);
  });
});
