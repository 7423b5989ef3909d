import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { unique } from './support/db.js';

let database: TestDatabase;
let client: Client;

beforeAll(async () => {
  database = await createMigratedDatabase();
  client = new Client({ connectionString: database.url });
  await client.connect();
});

afterAll(async () => {
  await client.end();
  await database.drop();
});

async function sqlState(sql: string, params: unknown[] = []): Promise<string | undefined> {
  try {
    await client.query(sql, params);
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

async function insertAudit(): Promise<number> {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO audit_logs (event_type, resource_type, resource_id, ip, user_agent, after, hash)
     VALUES ('user.created', 'user', '42', '10.0.0.1', 'test', '{"email":"x"}', $1) RETURNING id`,
    [unique('hash')],
  );
  return Number(rows[0]?.id);
}

describe('tables and constraints', () => {
  it('has every table of the data model', async () => {
    const { rows } = await client.query<{ name: string }>(
      "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    );
    expect(rows.map((row) => row.name)).toEqual([
      'audit_logs',
      'email_outbox',
      'invoices',
      'order_items',
      'orders',
      'permissions',
      'products',
      'refresh_tokens',
      'role_permissions',
      'roles',
      'schema_migrations',
      'user_roles',
      'users',
    ]);
  });

  it('has an index starting with the columns of every foreign key', async () => {
    const { rows } = await client.query<{ constraint: string }>(`
      SELECT c.conname AS constraint
        FROM pg_constraint c
       WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
         AND NOT EXISTS (
           SELECT 1 FROM pg_index i
            WHERE i.indrelid = c.conrelid
              AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
              AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)`);
    expect(rows).toEqual([]);
  });

  it('keeps emails and usernames unique regardless of case', async () => {
    const email = `${unique('Case')}@Example.com`;
    const username = unique('Name');
    await client.query('INSERT INTO users (email, username, password_hash) VALUES ($1, $2, $3)', [
      email,
      username,
      'h',
    ]);
    expect(
      await sqlState('INSERT INTO users (email, username, password_hash) VALUES ($1, $2, $3)', [
        email.toLowerCase(),
        unique('other'),
        'h',
      ]),
    ).toBe('23505');
    expect(
      await sqlState('INSERT INTO users (email, username, password_hash) VALUES ($1, $2, $3)', [
        `${unique('x')}@example.com`,
        username.toUpperCase(),
        'h',
      ]),
    ).toBe('23505');
  });

  it('uses the email index for a lower(email) lookup', async () => {
    await client.query('SET enable_seqscan = off');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(
      "EXPLAIN SELECT id FROM users WHERE lower(email) = lower('ada@example.com')",
    );
    await client.query('RESET enable_seqscan');
    expect(rows.map((row) => row['QUERY PLAN']).join('\n')).toContain('users_email_key');
  });

  it.each([
    ["INSERT INTO products (sku, name, price_cents) VALUES ('S-zero', 'Free', 0)", '23514'],
    ["INSERT INTO products (sku, name, price_cents, stock) VALUES ('S-neg', 'Minus', 5, -1)", '23514'],
    ["INSERT INTO products (sku, name, price_cents) VALUES ('bad sku!', 'x', 5)", '23514'],
    ["INSERT INTO orders (user_id, status) VALUES (gen_random_uuid(), 'pending')", '23503'],
    ["INSERT INTO permissions (name) VALUES ('Orders:Create')", '23514'],
    ["INSERT INTO users (email, username, password_hash) VALUES ('no-at-sign', 'u1', 'h')", '23514'],
  ])('refuses %s with %s', async (sql, state) => {
    expect(await sqlState(sql)).toBe(state);
  });

  it('refuses a non-positive quantity and an unknown order status', async () => {
    const { rows: users } = await client.query<{ id: string }>(
      "INSERT INTO users (email, username, password_hash) VALUES ($1, $2, 'h') RETURNING id",
      [`${unique('buyer')}@example.com`, unique('buyer')],
    );
    const { rows: products } = await client.query<{ id: string }>(
      "INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, 'Pen', 150, 3) RETURNING id",
      [unique('PEN')],
    );
    const { rows: orders } = await client.query<{ id: string }>(
      'INSERT INTO orders (user_id) VALUES ($1) RETURNING id',
      [users[0]?.id],
    );
    const orderId = orders[0]?.id;
    expect(
      await sqlState(
        'INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES ($1, $2, 0, 150)',
        [orderId, products[0]?.id],
      ),
    ).toBe('23514');
    expect(await sqlState("UPDATE orders SET status = 'lost' WHERE id = $1", [orderId])).toBe('23514');
  });

  it('moves updated_at forward on every update', async () => {
    const { rows } = await client.query<{ id: string; updated_at: Date }>(
      "INSERT INTO products (sku, name, price_cents, updated_at) VALUES ($1, 'Ink', 99, now() - interval '1 day') RETURNING id, updated_at",
      [unique('INK')],
    );
    const { rows: after } = await client.query<{ updated_at: Date }>(
      'UPDATE products SET stock = 5 WHERE id = $1 RETURNING updated_at',
      [rows[0]?.id],
    );
    expect(after[0]?.updated_at.getTime()).toBeGreaterThan(rows[0]?.updated_at.getTime() ?? Infinity);
  });
});

describe('seeded roles', () => {
  it('has admin, manager and customer with their permissions', async () => {
    const { rows } = await client.query<{ role: string; permissions: string[] }>(`
      SELECT r.name AS role, array_agg(p.name ORDER BY p.name) AS permissions
        FROM roles r JOIN role_permissions rp ON rp.role_id = r.id JOIN permissions p ON p.id = rp.permission_id
       GROUP BY r.name ORDER BY r.name`);
    const byRole = Object.fromEntries(rows.map((row) => [row.role, row.permissions]));
    const { rows: all } = await client.query<{ name: string }>('SELECT name FROM permissions ORDER BY name');
    expect(byRole.admin).toEqual(all.map((row) => row.name));
    expect(byRole.customer).toEqual(['orders:cancel_own', 'orders:create', 'orders:read_own', 'products:read']);
    expect(byRole.manager).toContain('orders:update');
    expect(byRole.manager).not.toContain('roles:manage');
    for (const name of all.map((row) => row.name)) expect(name).toMatch(/^[a-z_]+:[a-z_]+$/);
  });
});

describe('the audit log is append-only', () => {
  it.each([
    ['UPDATE', "UPDATE audit_logs SET event_type = 'tampered' WHERE id = $1"],
    ['DELETE', 'DELETE FROM audit_logs WHERE id = $1'],
  ])('refuses %s even for its owner, by trigger', async (op, sql) => {
    const id = await insertAudit();
    await expect(client.query(sql, [id])).rejects.toThrow(`audit_logs is append-only: ${op} is not allowed`);
  });

  it('refuses TRUNCATE even for its owner, by trigger', async () => {
    await insertAudit();
    await expect(client.query('TRUNCATE audit_logs')).rejects.toThrow(
      'audit_logs is append-only: TRUNCATE is not allowed',
    );
  });

  it('lets erp_app insert and read audit rows but not update or delete them (no privilege)', async () => {
    const id = await insertAudit();
    await client.query('BEGIN');
    try {
      await client.query('SET LOCAL ROLE erp_app');
      await client.query("INSERT INTO audit_logs (event_type, hash) VALUES ('user.login', $1)", [unique('h')]);
      const { rows } = await client.query('SELECT id FROM audit_logs WHERE id = $1', [id]);
      expect(rows).toHaveLength(1);
      await client.query('SAVEPOINT s');
      await expect(client.query("UPDATE audit_logs SET event_type = 'x' WHERE id = $1", [id])).rejects.toThrow(
        'permission denied for table audit_logs',
      );
      await client.query('ROLLBACK TO SAVEPOINT s');
      await expect(client.query('DELETE FROM audit_logs WHERE id = $1', [id])).rejects.toThrow(
        'permission denied for table audit_logs',
      );
      await client.query('ROLLBACK TO SAVEPOINT s');
      await expect(client.query('TRUNCATE audit_logs')).rejects.toThrow('permission denied for table audit_logs');
    } finally {
      await client.query('ROLLBACK');
    }
  });

  it('lets erp_app work on the business tables', async () => {
    await client.query('BEGIN');
    try {
      await client.query('SET LOCAL ROLE erp_app');
      const { rows } = await client.query<{ id: string }>(
        "INSERT INTO users (email, username, password_hash) VALUES ($1, $2, 'h') RETURNING id",
        [`${unique('app')}@example.com`, unique('app')],
      );
      await client.query(
        "INSERT INTO email_outbox (user_id, recipient, template) VALUES ($1, 'a@example.com', 'account_locked')",
        [rows[0]?.id],
      );
      await client.query('UPDATE users SET failed_login_count = 1 WHERE id = $1', [rows[0]?.id]);
      await client.query('SELECT version FROM schema_migrations');
      await expect(client.query('DELETE FROM schema_migrations')).rejects.toThrow('permission denied');
    } finally {
      await client.query('ROLLBACK');
    }
  });
});
