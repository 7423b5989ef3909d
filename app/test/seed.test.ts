import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AUDIT_EVENT, AuditLog, verifyAuditChain } from '../src/components/audit/index.js';
import { EXIT, parseSize, runSeedCli, USAGE } from '../src/bin/seed.js';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { testDb } from './support/db.js';

async function seed(argv: readonly string[], env: NodeJS.ProcessEnv) {
  let stdout = '';
  let stderr = '';
  const code = await runSeedCli(argv, env, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe('seed: usage', () => {
  it('parses sizes in kB, MB and GB and refuses others, naming the value', () => {
    expect(parseSize('1GB')).toBe(1024 ** 3);
    expect(parseSize('1.5 gb')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('20MB')).toBe(20 * 1024 ** 2);
    expect(() => parseSize('1TB')).toThrow('--size "1TB" is not a size; give a number and kB, MB or GB, e.g. 1GB');
    expect(() => parseSize('100GB')).toThrow('--size "100GB" is out of range');
  });

  it.each([
    [[], 'seed: --size is required, e.g. --size 1GB'],
    [['--size', 'big'], 'seed: --size "big" is not a size'],
    [['--size', '1GB', '--orders-per-round', '3'], 'seed: --orders-per-round "3" must be a whole number'],
  ])('refuses %j with exit 64 and the usage', async (argv, message) => {
    const run = await seed(argv, { DATABASE_URL: 'postgresql://localhost/x' });
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr.startsWith(message)).toBe(true);
    expect(run.stderr).toContain(USAGE);
  });
});

describe('seed: against a real PostgreSQL', () => {
  let database: TestDatabase;
  let owner: Client;

  beforeAll(async () => {
    database = await createMigratedDatabase();
    owner = new Client({ connectionString: database.url });
    await owner.connect();
    // An existing chain: the seed must append to it, not start a second one.
    const { db } = testDb(database.url);
    await new AuditLog().record(db, { type: AUDIT_EVENT.logout, ip: '192.0.2.1' });
    await db.end();
  });

  afterAll(async () => {
    await owner.end();
    await database.drop();
  });

  it('fills the database to the size with orders whose totals match their lines and a chain that verifies', async () => {
    const { rows: sizeBefore } = await owner.query<{ bytes: string }>(
      'SELECT pg_database_size(current_database())::text AS bytes',
    );
    const target = Number(sizeBefore[0]?.bytes) + 6 * 1024 ** 2;
    const run = await seed(['--size', `${Math.ceil(target / 1024)}kB`, '--orders-per-round', '2000'], {
      DATABASE_URL: database.url,
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(EXIT.ok);
    expect(run.stdout).toMatch(/^seed: database at [\d.]+ MB, filling to [\d.]+ MB\n/);
    expect(run.stdout).toMatch(/seed: [\d.]+ MB of [\d.]+ MB \(100%\), \d+ orders, \d+ audit rows/);

    // eslint-disable-next-line security/detect-non-literal-regexp -- names are this test's literals
    const reported = (name: string) => Number(new RegExp(`\\| ${name} \\| (\\d+) \\|`).exec(run.stdout)?.[1]);
    const { rows } = await owner.query<Record<string, string>>(
      `SELECT (SELECT count(*) FROM users)::text AS users, (SELECT count(*) FROM products)::text AS products,
              (SELECT count(*) FROM orders)::text AS orders, (SELECT count(*) FROM order_items)::text AS items,
              (SELECT count(*) FROM audit_logs)::text AS audit,
              (SELECT count(*) FROM orders o WHERE o.total_cents <>
                 (SELECT sum(quantity * unit_price_cents) FROM order_items i WHERE i.order_id = o.id))::text AS wrong_totals,
              (SELECT count(*) FROM orders o WHERE NOT EXISTS
                 (SELECT FROM order_items i WHERE i.order_id = o.id))::text AS without_lines,
              pg_database_size(current_database())::text AS bytes`,
    );
    const counts = rows[0] ?? {};
    expect(Number(counts.orders)).toBeGreaterThanOrEqual(2000);
    expect(Number(counts.orders)).toBe(reported('orders'));
    expect(Number(counts.items)).toBe(reported('order items'));
    expect(Number(counts.users)).toBe(reported('users'));
    expect(Number(counts.products)).toBe(reported('products'));
    expect(Number(counts.audit)).toBe(reported('audit rows') + 1);
    expect(Number(counts.items)).toBeGreaterThan(Number(counts.orders));
    expect(counts).toMatchObject({ wrong_totals: '0', without_lines: '0' });
    expect(Number(counts.bytes)).toBeGreaterThanOrEqual(target);

    const { db } = testDb(database.url);
    try {
      const chain = await verifyAuditChain(db);
      expect(chain).not.toHaveProperty('firstBrokenId');
      expect(chain.checked).toBe(Number(counts.audit));
      // The app appends to the seeded chain as to any other.
      await new AuditLog().record(db, { type: AUDIT_EVENT.logout, ip: '192.0.2.2' });
      expect(await verifyAuditChain(db)).toMatchObject({ checked: Number(counts.audit) + 1 });
    } finally {
      await db.end();
    }
  }, 120_000);

  it('exits 69 naming the fix when the database is not migrated', async () => {
    const run = await seed(['--size', '1MB'], { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' });
    expect(run.code).toBe(EXIT.unavailable);
    expect(run.stderr).toMatch(/^seed: failed: .*; check DATABASE_URL, that the database is migrated/);
  });
});
