import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { PERMISSIONS } from '../src/components/access/index.js';
import { createComponents } from '../src/components/index.js';
import type { ErrorBody } from '../src/http/errors.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';
import { FAILURES_BEFORE_ADDRESS_LOCK, FAILURES_BEFORE_LOCK } from '../src/components/auth/login-protection.js';
import { call, clientIp, grantAccountRole, registerAccount, signIn } from './support/auth.js';
import type { Account, Reply } from './support/auth.js';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { unique } from './support/db.js';
import { parseExposition, sampleValue } from './support/prometheus.js';

// A database of its own: these tests change what the seeded roles may do, which other files rely on.
let database: TestDatabase;
let service: TestApp;

beforeAll(async () => {
  database = await createMigratedDatabase();
  service = await startTestApp({
    env: { DATABASE_URL: database.url, TRUST_PROXY: '1' },
    routers: (deps) => createComponents(deps).routers,
  });
});

afterAll(async () => {
  await service.close();
  await database.drop();
});

interface Caller {
  readonly account: Account;
  readonly token: string;
}

/** A registered (customer) account, given `roles` before its first request, signed in. */
async function caller(...roles: ('admin' | 'manager')[]): Promise<Caller> {
  const account = await registerAccount(service.url);
  for (const role of roles) await grantAccountRole(service.db, account.id, role);
  return { account, token: (await signIn(service.url, account)).accessToken };
}

/** One JSON request with a request id of its own, so its access-log line can be found. */
async function request(
  method: string,
  path: string,
  options: { token?: string; body?: unknown; userAgent?: string } = {},
): Promise<Reply & { readonly requestId: string }> {
  const requestId = unique('rq').replace(/[^A-Za-z0-9._-]/g, '');
  const headers: Record<string, string> = { 'X-Request-Id': requestId };
  if (options.userAgent !== undefined) headers['User-Agent'] = options.userAgent;
  const { token, body } = options;
  return { ...(await call(service.url, method, path, { token, body, headers })), requestId };
}

function errorOf(reply: Reply): ErrorBody['error'] {
  return (reply.body as unknown as ErrorBody).error;
}

function fieldsOf(reply: Reply): Record<string, readonly string[]> {
  expect(reply.status).toBe(400);
  expect(errorOf(reply).code).toBe('VALIDATION_ERROR');
  return errorOf(reply).fields ?? {};
}

function expectForbidden(reply: Reply, permission: string): void {
  expect(reply.status).toBe(403);
  expect(errorOf(reply).code).toBe('FORBIDDEN');
  expect(errorOf(reply).message).toContain(permission);
}

async function newProduct(token: string, stock = 10): Promise<string> {
  const reply = await request('POST', '/api/v1/products', {
    token,
    body: { sku: unique('SKU').slice(0, 60), name: 'Rope', price_cents: 700, stock },
  });
  expect(reply.status).toBe(201);
  return reply.body.id as string;
}

/** The access-log `queries` of one request. */
function queriesOf(requestId: string): Promise<unknown> {
  return vi.waitFor(() => {
    const line = service.logs.lines.find((entry) => entry.msg === 'request' && entry.requestId === requestId);
    if (line === undefined) throw new Error(`no access-log line yet for ${requestId}`);
    return line.queries;
  });
}

async function cacheCount(result: 'hit' | 'miss' | 'error', cache = 'permissions'): Promise<number> {
  const samples = parseExposition((await service.metrics.exposition()).body);
  return sampleValue(samples, 'cache_operations_total', { cache, result }) ?? 0;
}

interface AuditRow {
  actor_user_id: string | null;
  event_type: string;
  resource_type: string | null;
  resource_id: string | null;
  user_agent: string | null;
  before: unknown;
  after: unknown;
  metadata: Record<string, unknown>;
}

async function auditRows(resourceId: string): Promise<AuditRow[]> {
  const { rows } = await service.db.query<AuditRow>(
    'test.auditRows',
    `SELECT actor_user_id, event_type, resource_type, resource_id, user_agent, before, after, metadata
       FROM audit_logs WHERE resource_id = $1 AND event_type NOT LIKE 'auth.%' ORDER BY id`,
    [resourceId],
  );
  return rows;
}

describe('permissions on the catalog', () => {
  let customer: Caller;
  let manager: Caller;
  beforeAll(async () => {
    [customer, manager] = await Promise.all([caller(), caller('manager')]);
  });

  it('lets a customer browse and order but not change products', async () => {
    const productId = await newProduct(manager.token);
    expect((await request('GET', '/api/v1/products', { token: customer.token })).status).toBe(200);
    expect((await request('GET', `/api/v1/products/${productId}`, { token: customer.token })).status).toBe(200);
    expectForbidden(
      await request('POST', '/api/v1/products', {
        token: customer.token,
        body: { sku: unique('SKU').slice(0, 60), name: 'Nope', price_cents: 1, stock: 1 },
      }),
      'products:create',
    );
    expectForbidden(
      await request('PATCH', `/api/v1/products/${productId}`, { token: customer.token, body: { stock_delta: 5 } }),
      'products:update',
    );

    const order = await request('POST', '/api/v1/orders', {
      token: customer.token,
      body: { items: [{ product_id: productId, quantity: 1 }] },
    });
    expect(order.status).toBe(201);
    const orderId = order.body.id as string;
    expect((await request('GET', '/api/v1/orders', { token: customer.token })).status).toBe(200);
    expect((await request('GET', `/api/v1/orders/${orderId}`, { token: customer.token })).status).toBe(200);
    expect((await request('POST', `/api/v1/orders/${orderId}/cancel`, { token: customer.token })).status).toBe(200);
  });

  it('lets a manager (without the customer role) change products and read orders, but not place or cancel them', async () => {
    const admin = await caller('admin');
    const staff = await caller('manager');
    const dropped = await request('DELETE', `/api/v1/users/${staff.account.id}/roles/customer`, { token: admin.token });
    expect(dropped.status).toBe(204);
    const productId = await newProduct(staff.token);
    const patched = await request('PATCH', `/api/v1/products/${productId}`, {
      token: staff.token,
      body: { stock_delta: 1 },
    });
    expect(patched.status).toBe(200);
    expectForbidden(
      await request('POST', '/api/v1/orders', {
        token: staff.token,
        body: { items: [{ product_id: productId, quantity: 1 }] },
      }),
      'orders:create',
    );
    // orders:read passes the guard in place of orders:read_own.
    expect((await request('GET', '/api/v1/orders', { token: staff.token })).status).toBe(200);
    expectForbidden(
      await request('POST', `/api/v1/orders/${randomUUID()}/cancel`, { token: staff.token }),
      'orders:cancel_own',
    );
  });

  it('answers 401 before any permission check, and 403 for user administration to a customer', async () => {
    expect((await request('GET', '/api/v1/users')).status).toBe(401);
    expect((await request('GET', '/api/v1/products')).status).toBe(401);
    expectForbidden(await request('GET', '/api/v1/users', { token: customer.token }), 'users:read');
    expectForbidden(await request('GET', '/api/v1/roles', { token: customer.token }), 'users:read');
    expectForbidden(
      await request('POST', `/api/v1/users/${customer.account.id}/roles`, {
        token: manager.token,
        body: { role: 'admin' },
      }),
      'roles:manage',
    );
    expectForbidden(
      await request('PATCH', `/api/v1/users/${customer.account.id}`, {
        token: manager.token,
        body: { is_active: false },
      }),
      'users:manage',
    );
  });

  it('checks permissions from the cache after the first request: a hit and one query fewer', async () => {
    const fresh = await caller();
    const hitsBefore = await cacheCount('hit');
    const missesBefore = await cacheCount('miss');
    const accountMissesBefore = await cacheCount('miss', 'accounts');
    const accountHitsBefore = await cacheCount('hit', 'accounts');
    const first = await request('GET', '/api/v1/products?limit=1', { token: fresh.token });
    const second = await request('GET', '/api/v1/products?limit=1', { token: fresh.token });
    expect([first.status, second.status]).toEqual([200, 200]);
    // The first request's account check misses and fills the grants from the same database read, so the
    // permission check finds them cached on both requests.
    expect(await cacheCount('miss', 'accounts')).toBe(accountMissesBefore + 1);
    expect(await cacheCount('hit', 'accounts')).toBe(accountHitsBefore + 1);
    expect(await cacheCount('miss')).toBe(missesBefore);
    expect(await cacheCount('hit')).toBe(hitsBefore + 2);
    // The miss read the grants from the database; the hit did not.
    expect(Number(await queriesOf(first.requestId))).toBe(Number(await queriesOf(second.requestId)) + 1);
  });
});

describe('role changes apply to the next request', () => {
  let admin: Caller;
  beforeAll(async () => {
    admin = await caller('admin');
  });

  it('revoking a role refuses the very next request; granting it back allows it again', async () => {
    const customer = await caller();
    expect((await request('GET', '/api/v1/products', { token: customer.token })).status).toBe(200);
    const revoked = await request('DELETE', `/api/v1/users/${customer.account.id}/roles/customer`, {
      token: admin.token,
    });
    expect(revoked.status).toBe(204);
    expectForbidden(await request('GET', '/api/v1/products', { token: customer.token }), 'products:read');

    const granted = await request('POST', `/api/v1/users/${customer.account.id}/roles`, {
      token: admin.token,
      body: { role: 'customer' },
    });
    expect(granted.status).toBe(201);
    expect((await request('GET', '/api/v1/products', { token: customer.token })).status).toBe(200);
  });

  it("changing a role's permissions applies at once to every holder, and is audited", async () => {
    const [first, second] = await Promise.all([caller('manager'), caller('manager')]);
    for (const holder of [first, second]) await newProduct(holder.token);
    const roles = await request('GET', '/api/v1/roles', { token: admin.token });
    const managerRole = (roles.body.items as { name: string; permissions: string[] }[]).find(
      (role) => role.name === 'manager',
    );
    if (managerRole === undefined) throw new Error('the seeded manager role is missing');
    const without = managerRole.permissions.filter((name) => name !== 'products:create');

    const changed = await request('PUT', '/api/v1/roles/manager/permissions', {
      token: admin.token,
      body: { permissions: without },
      userAgent: 'access-test/1',
    });
    try {
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ name: 'manager', permissions: [...without].sort() });
      for (const holder of [first, second]) {
        expectForbidden(
          await request('POST', '/api/v1/products', {
            token: holder.token,
            body: { sku: unique('SKU').slice(0, 60), name: 'Late', price_cents: 1, stock: 1 },
          }),
          'products:create',
        );
      }
      const [event] = (await auditRows('manager')).filter(
        (row) => row.event_type === 'access.role_permissions.changed',
      );
      expect(event).toMatchObject({
        actor_user_id: admin.account.id,
        resource_type: 'role',
        user_agent: 'access-test/1',
        before: { permissions: [...managerRole.permissions].sort() },
        after: { permissions: [...without].sort() },
      });
    } finally {
      const restored = await request('PUT', '/api/v1/roles/manager/permissions', {
        token: admin.token,
        body: { permissions: managerRole.permissions },
      });
      expect(restored.status).toBe(200);
    }
    await newProduct(first.token);
  });

  it('refuses to take roles:manage from admin, unknown roles, and unknown permission names', async () => {
    const lockout = await request('PUT', '/api/v1/roles/admin/permissions', {
      token: admin.token,
      body: { permissions: PERMISSIONS.filter((name) => name !== 'roles:manage') },
    });
    expect(lockout.status).toBe(409);
    expect(errorOf(lockout).message).toContain('roles:manage');
    const unknownRole = await request('PUT', '/api/v1/roles/auditor/permissions', {
      token: admin.token,
      body: { permissions: ['audit:read'] },
    });
    expect(unknownRole.status).toBe(404);
    expect(
      fieldsOf(
        await request('PUT', '/api/v1/roles/manager/permissions', {
          token: admin.token,
          body: { permissions: ['products:read', 'products:fly'] },
        }),
      ),
    ).toHaveProperty(['body.permissions.1']);
    expect(
      fieldsOf(
        await request('PUT', '/api/v1/roles/manager/permissions', {
          token: admin.token,
          body: { permissions: ['products:read', 'products:read'] },
        }),
      ),
    ).toHaveProperty(['body.permissions']);
    expect(
      fieldsOf(
        await request('PUT', '/api/v1/roles/Bad-Role/permissions', { token: admin.token, body: { permissions: [] } }),
      ),
    ).toHaveProperty(['params.role']);
  });
});

describe('user administration', () => {
  let admin: Caller;
  let subject: Caller;
  beforeAll(async () => {
    admin = await caller('admin');
    subject = await caller();
  });

  it('lists users with their roles, filtered, sorted and paginated', async () => {
    const listed = await request('GET', `/api/v1/users?email=${encodeURIComponent(subject.account.username)}`, {
      token: admin.token,
    });
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ page: 1, limit: 20, total: 1 });
    expect(listed.body.items).toEqual([
      expect.objectContaining({
        id: subject.account.id,
        email: subject.account.email,
        is_active: true,
        roles: ['customer'],
      }),
    ]);

    const admins = await request('GET', '/api/v1/users?role=admin&is_active=true&sort=email&limit=100', {
      token: admin.token,
    });
    const adminItems = admins.body.items as { id: string; email: string; roles: string[] }[];
    expect(adminItems.map((user) => user.id)).toContain(admin.account.id);
    expect(adminItems.every((user) => user.roles.includes('admin'))).toBe(true);
    const emails = adminItems.map((user) => user.email);
    expect(emails).toEqual([...emails].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));

    const paged = await request('GET', '/api/v1/users?limit=1&page=2&sort=-created_at', { token: admin.token });
    expect(paged.body).toMatchObject({ page: 2, limit: 1 });
    expect(paged.body.items).toHaveLength(1);
    expect(paged.body.total).toBeGreaterThanOrEqual(3);

    const none = await request('GET', '/api/v1/users?role=nobody', { token: admin.token });
    expect(none.body).toMatchObject({ items: [], total: 0 });
  });

  it('rejects bad listing parameters field by field', async () => {
    const query = async (search: string) =>
      fieldsOf(await request('GET', `/api/v1/users${search}`, { token: admin.token }));
    expect(await query('?limit=0')).toHaveProperty(['query.limit']);
    expect(await query('?sort=password_hash')).toHaveProperty(['query.sort']);
    expect(await query('?is_active=maybe')).toHaveProperty(['query.is_active']);
    expect(await query('?role=Admin!')).toHaveProperty(['query.role']);
    expect(await query('?mail=x')).toHaveProperty(['query.mail']);
  });

  it('shows one user with roles and permissions, and audits the read', async () => {
    const shown = await request('GET', `/api/v1/users/${subject.account.id}`, { token: admin.token });
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({
      id: subject.account.id,
      email: subject.account.email,
      username: subject.account.username,
      is_active: true,
      roles: ['customer'],
      permissions: ['orders:cancel_own', 'orders:create', 'orders:read_own', 'products:read'],
    });
    expect(shown.body).not.toHaveProperty('password_hash');
    expect((await auditRows(subject.account.id)).map((row) => [row.event_type, row.actor_user_id])).toContainEqual([
      'users.read',
      admin.account.id,
    ]);
    expect((await request('GET', `/api/v1/users/${randomUUID()}`, { token: admin.token })).status).toBe(404);
    expect(fieldsOf(await request('GET', '/api/v1/users/42', { token: admin.token }))).toHaveProperty(['params.id']);
  });

  it('grants and revokes roles idempotently, in audited transactions', async () => {
    const target = await caller();
    const path = `/api/v1/users/${target.account.id}/roles`;
    const granted = await request('POST', path, { token: admin.token, body: { role: 'manager' } });
    expect(granted.status).toBe(201);
    expect(granted.body).toMatchObject({ roles: ['customer', 'manager'] });
    expect(granted.body.permissions).toContain('products:create');
    const again = await request('POST', path, { token: admin.token, body: { role: 'manager' } });
    expect(again.status).toBe(200);
    expect((await request('DELETE', `${path}/manager`, { token: admin.token })).status).toBe(204);
    expect((await request('DELETE', `${path}/manager`, { token: admin.token })).status).toBe(204);

    const events = (await auditRows(target.account.id)).filter((row) => row.event_type.startsWith('access.role.'));
    expect(events).toEqual([
      expect.objectContaining({
        event_type: 'access.role.granted',
        actor_user_id: admin.account.id,
        resource_type: 'user',
        before: { roles: ['customer'] },
        after: { roles: ['customer', 'manager'] },
        metadata: expect.objectContaining({ role: 'manager' }) as unknown,
      }),
      expect.objectContaining({
        event_type: 'access.role.revoked',
        before: { roles: ['customer', 'manager'] },
        after: { roles: ['customer'] },
      }),
    ]);
  });

  it('answers 404 for an unknown user or role and 400 for a malformed one', async () => {
    const unknownUser = await request('POST', `/api/v1/users/${randomUUID()}/roles`, {
      token: admin.token,
      body: { role: 'manager' },
    });
    expect(unknownUser.status).toBe(404);
    const unknownRole = await request('POST', `/api/v1/users/${subject.account.id}/roles`, {
      token: admin.token,
      body: { role: 'superuser' },
    });
    expect(unknownRole.status).toBe(404);
    expect(errorOf(unknownRole).message).toContain('superuser');
    expect(
      (await request('DELETE', `/api/v1/users/${subject.account.id}/roles/superuser`, { token: admin.token })).status,
    ).toBe(404);
    expect(
      fieldsOf(await request('POST', `/api/v1/users/${subject.account.id}/roles`, { token: admin.token, body: {} })),
    ).toHaveProperty(['body.role']);
    expect(
      fieldsOf(
        await request('POST', `/api/v1/users/${subject.account.id}/roles`, {
          token: admin.token,
          body: { role: 'manager', extra: true },
        }),
      ),
    ).toHaveProperty(['body.extra']);
  });

  it('deactivates an account, which is refused from its next request, and activates it again', async () => {
    const target = await caller();
    expect((await request('GET', '/api/v1/products', { token: target.token })).status).toBe(200);
    const off = await request('PATCH', `/api/v1/users/${target.account.id}`, {
      token: admin.token,
      body: { is_active: false },
    });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ is_active: false });
    expect((await request('GET', '/api/v1/products', { token: target.token })).status).toBe(401);
    const on = await request('PATCH', `/api/v1/users/${target.account.id}`, {
      token: admin.token,
      body: { is_active: true },
    });
    expect(on.body).toMatchObject({ is_active: true });
    expect((await request('GET', '/api/v1/products', { token: target.token })).status).toBe(200);
    expect((await auditRows(target.account.id)).map((row) => row.event_type)).toEqual(
      expect.arrayContaining(['access.user.deactivated', 'access.user.activated']),
    );
    expect(
      fieldsOf(await request('PATCH', `/api/v1/users/${target.account.id}`, { token: admin.token, body: {} })),
    ).toHaveProperty(['body.is_active']);
    expect(
      (await request('PATCH', `/api/v1/users/${randomUUID()}`, { token: admin.token, body: { is_active: false } }))
        .status,
    ).toBe(404);
  });

  it('lets an administrator unlock an account for every address, audited; a customer may not', async () => {
    const target = await registerAccount(service.url);
    const attacker = clientIp();
    const login = (ip: string, password: string) =>
      call(service.url, 'POST', '/api/v1/auth/login', { body: { email: target.email, password }, ip });
    const statuses = [];
    for (let attempt = 1; attempt <= FAILURES_BEFORE_ADDRESS_LOCK; attempt += 1) {
      statuses.push((await login(attacker, 'wrong')).status);
    }
    expect(statuses.at(-1)).toBe(423);
    // An account-wide lock as well, as many addresses would leave it.
    await service.db.query(
      'test.lockAccount',
      "UPDATE users SET failed_login_count = $2, locked_until = now() + interval '15 minutes' WHERE id = $1",
      [target.id, FAILURES_BEFORE_LOCK],
    );
    expect((await login(clientIp(), target.password)).status).toBe(423);

    expectForbidden(
      await request('POST', `/api/v1/users/${target.id}/unlock`, { token: subject.token }),
      'users:manage',
    );
    expect((await request('POST', `/api/v1/users/${target.id}/unlock`)).status).toBe(401);
    const unlocked = await request('POST', `/api/v1/users/${target.id}/unlock`, {
      token: admin.token,
      userAgent: 'unlock-test',
    });
    expect(unlocked.status).toBe(200);
    expect(unlocked.body).toEqual({
      user_id: target.id,
      locked_until: expect.stringMatching(/^\d{4}-/) as unknown,
      failed_login_count: FAILURES_BEFORE_LOCK,
      addresses_cleared: 1,
    });
    expect((await login(attacker, target.password)).status).toBe(200);

    const { rows } = await service.db.query<AuditRow>(
      'test.unlockAudit',
      `SELECT actor_user_id, event_type, resource_type, resource_id, user_agent, before, after, metadata
         FROM audit_logs WHERE resource_id = $1 AND event_type = 'auth.account.unlocked'`,
      [target.id],
    );
    expect(rows).toEqual([
      expect.objectContaining({
        actor_user_id: admin.account.id,
        resource_type: 'user',
        user_agent: 'unlock-test',
        before: { locked_until: (unlocked.body as { locked_until: string }).locked_until, failed_login_count: 20 },
        after: { locked_until: null, failed_login_count: 0 },
      }),
    ]);
    expect((await request('POST', `/api/v1/users/${randomUUID()}/unlock`, { token: admin.token })).status).toBe(404);
  });

  it('never leaves the service without an active administrator', async () => {
    // Only this file's database: make `sole` the one active admin by deactivating every other admin first.
    const sole = await caller('admin');
    const { rows } = await service.db.query<{ id: string }>(
      'test.otherAdmins',
      `SELECT ur.user_id AS id FROM user_roles ur JOIN roles r ON r.id = ur.role_id
        WHERE r.name = 'admin' AND ur.user_id <> $1`,
      [sole.account.id],
    );
    for (const { id } of rows) {
      expect(
        (await request('PATCH', `/api/v1/users/${id}`, { token: sole.token, body: { is_active: false } })).status,
      ).toBe(200);
    }
    try {
      const revoke = await request('DELETE', `/api/v1/users/${sole.account.id}/roles/admin`, { token: sole.token });
      expect(revoke.status).toBe(409);
      expect(errorOf(revoke).message).toContain('last active administrator');
      const deactivate = await request('PATCH', `/api/v1/users/${sole.account.id}`, {
        token: sole.token,
        body: { is_active: false },
      });
      expect(deactivate.status).toBe(409);
    } finally {
      for (const { id } of rows) {
        await request('PATCH', `/api/v1/users/${id}`, { token: sole.token, body: { is_active: true } });
      }
    }
  });
});
