import { randomBytes } from 'node:crypto';

import { Client, escapeIdentifier } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AUDIT_VERIFIED_EVENT, EXIT as AUDIT_EXIT, runAuditCli } from '../src/bin/audit.js';
import { AuditLog, AUDIT_EVENT } from '../src/components/audit/index.js';
import { EXIT, runMigrateCli } from '../src/bin/migrate.js';
import { asAdmin, createTestDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { testDb } from './support/db.js';

/**
 * The read-only login of the hourly `audit verify` job (migration 0008), on a real PostgreSQL: `migrate up` lets it
 * log in, it verifies the chain, and it can change nothing: no row, no trigger, nothing outside the audit log.
 */
describe('erp_audit_reader, the audit verifier’s read-only role', () => {
  let database: TestDatabase;
  // Roles are cluster-wide: a fresh login that is a member of erp_audit_reader, as AUDIT_DATABASE_ROLE allows.
  const role = `erp_audit_login_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(24).toString('base64url');
  let reader: Client;
  let readerUrl: string;
  let migrateOutput = '';

  beforeAll(async () => {
    database = await createTestDatabase();
    // 0008 creates erp_audit_reader; the login role is made between two migrate runs, as an operator would.
    let firstOutput = '';
    const collect = (text: string) => (firstOutput += text);
    const first = await runMigrateCli(['up'], { DATABASE_URL: database.url }, { stdout: collect, stderr: collect });
    expect(first, firstOutput).toBe(EXIT.ok);
    await asAdmin((client) => client.query(`CREATE ROLE ${escapeIdentifier(role)} NOLOGIN IN ROLE erp_audit_reader`));
    const code = await runMigrateCli(
      ['up'],
      { DATABASE_URL: database.url, AUDIT_DATABASE_PASSWORD: password, AUDIT_DATABASE_ROLE: role },
      { stdout: (text) => (migrateOutput += text), stderr: (text) => (migrateOutput += text) },
    );
    expect(code, migrateOutput).toBe(EXIT.ok);
    const { db } = testDb(database.url);
    try {
      await new AuditLog().record(db, { type: AUDIT_EVENT.roleGranted, resourceType: 'user', resourceId: 'u1' });
      await new AuditLog().record(db, { type: AUDIT_EVENT.roleGranted, resourceType: 'user', resourceId: 'u2' });
    } finally {
      await db.end();
    }
    const url = new URL(database.url);
    url.username = role;
    url.password = password;
    readerUrl = url.toString();
    reader = new Client({ connectionString: readerUrl });
    await reader.connect();
  });

  afterAll(async () => {
    await reader.end();
    await database.drop();
    await asAdmin((client) => client.query(`DROP ROLE IF EXISTS ${escapeIdentifier(role)}`));
  });

  it('logs in with AUDIT_DATABASE_PASSWORD, which migrate never prints', () => {
    expect(migrateOutput).toContain(`role ${role} may now log in with AUDIT_DATABASE_PASSWORD`);
    expect(migrateOutput).not.toContain(password);
  });

  it('verifies the chain through the audit CLI', async () => {
    let output = '';
    const code = await runAuditCli(
      ['verify'],
      { DATABASE_URL: readerUrl, LOG_LEVEL: 'info' },
      { stdout: (text) => (output += text), stderr: (text) => (output += text) },
    );
    expect(code, output).toBe(AUDIT_EXIT.ok);
    const verified = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event?: string; checked?: number })
      .find((line) => line.event === AUDIT_VERIFIED_EVENT);
    expect(verified?.checked).toBe(2);
  });

  it.each([
    ['UPDATE', "UPDATE audit_logs SET event_type = 'tampered'"],
    ['DELETE', 'DELETE FROM audit_logs'],
    ['TRUNCATE', 'TRUNCATE audit_logs'],
    ['INSERT', "INSERT INTO audit_logs (event_type, hash) VALUES ('forged', 'x')"],
  ])('cannot %s the audit log (no privilege)', async (_operation, sql) => {
    await expect(reader.query(sql)).rejects.toMatchObject({
      code: '42501',
      message: 'permission denied for table audit_logs',
    });
  });

  it('cannot disable the append-only triggers, nor skip them with session_replication_role', async () => {
    await expect(reader.query('ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_delete')).rejects.toMatchObject({
      code: '42501',
      message: 'must be owner of table audit_logs',
    });
    await expect(reader.query("SET session_replication_role = 'replica'")).rejects.toMatchObject({
      code: '42501',
      message: 'permission denied to set parameter "session_replication_role"',
    });
  });

  it('reads nothing but the audit log', async () => {
    for (const table of ['users', 'orders', 'refresh_tokens', 'email_outbox'])
      await expect(reader.query(`SELECT 1 FROM ${table} LIMIT 1`), table).rejects.toMatchObject({
        code: '42501',
        message: `permission denied for table ${table}`,
      });
    await expect(reader.query('CREATE TABLE audit_shadow (id int)')).rejects.toMatchObject({ code: '42501' });
  });
});
