import { randomBytes, randomUUID } from 'node:crypto';

import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { auditRowHash } from '../src/components/audit/chain.js';
import { AUDIT_EVENT, AuditLog, verifyAuditChain } from '../src/components/audit/index.js';
import type { Database } from '../src/db/pool.js';
import { withTransaction } from '../src/db/transaction.js';
import { asAdmin, createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { testDb } from './support/db.js';

const log = new AuditLog();

/** Connects as a fresh login role that is a member of erp_app, as production runs the service. */
async function appRoleDatabase(database: TestDatabase): Promise<{ db: Database; drop: () => Promise<void> }> {
  const role = `erp_app_audit_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(24).toString('base64url');
  await asAdmin((client) =>
    client.query(`CREATE ROLE ${escapeIdentifier(role)} LOGIN PASSWORD ${escapeLiteral(password)} IN ROLE erp_app`),
  );
  const url = new URL(database.url);
  url.username = role;
  url.password = password;
  const { db } = testDb(url.toString());
  return {
    db,
    drop: async () => {
      await db.end();
      await asAdmin((client) => client.query(`DROP ROLE IF EXISTS ${escapeIdentifier(role)}`));
    },
  };
}

/** A private database with its own audit log, reached both as the owner (a superuser) and as the app's role. */
async function privateLog() {
  const database = await createMigratedDatabase();
  const owner = new Client({ connectionString: database.url });
  await owner.connect();
  const { db: ownerDb } = testDb(database.url);
  const app = await appRoleDatabase(database);
  return {
    database,
    owner,
    ownerDb,
    app: app.db,
    async close() {
      await app.drop();
      await ownerDb.end();
      await owner.end();
      await database.drop();
    },
  };
}

type PrivateLog = Awaited<ReturnType<typeof privateLog>>;

/** Runs `sql` as the owner with the append-only triggers off, as an attacker with the owner's password could. */
async function tamper(owner: Client, sql: string, params: unknown[] = []): Promise<void> {
  await owner.query('BEGIN');
  try {
    await owner.query('ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update');
    await owner.query('ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_delete');
    await owner.query(sql, params);
    await owner.query('ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_update');
    await owner.query('ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_delete');
    await owner.query('COMMIT');
  } catch (error) {
    await owner.query('ROLLBACK');
    throw error;
  }
}

async function ids(owner: Client): Promise<string[]> {
  // audit_logs.id, not the text alias: '10' sorts before '9'.
  const { rows } = await owner.query<{ id: string }>('SELECT id::text AS id FROM audit_logs ORDER BY audit_logs.id');
  return rows.map((row) => row.id);
}

async function recordMany(db: Database, count: number, resourceId: string): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, (_unused, index) =>
      log.record(db, {
        type: AUDIT_EVENT.roleGranted,
        actorUserId: randomUUID(),
        resourceType: 'user',
        resourceId,
        ip: index % 2 === 0 ? '203.0.113.7' : '2001:db8::1',
        userAgent: `test-agent/${index}`,
        before: { roles: ['customer'] },
        after: { roles: ['customer', 'manager'], n: index, nested: { ok: true, ratio: 0.1 + index } },
        metadata: { index },
      }),
    ),
  );
}

describe('AuditLog.record and verifyAuditChain', () => {
  let pl: PrivateLog;

  beforeAll(async () => {
    pl = await privateLog();
  });
  afterAll(async () => {
    await pl.close();
  });

  it('reports an empty log as intact', async () => {
    await expect(verifyAuditChain(pl.app)).resolves.toEqual({ checked: 0, reason: 'the audit log is empty' });
  });

  it('keeps one chain under 50 concurrent appends by the app role, and verifies it in batches', async () => {
    await recordMany(pl.app, 50, 'concurrent');
    const { rows } = await pl.owner.query<{ id: string; prev_hash: string | null; hash: string }>(
      'SELECT id::text AS id, prev_hash, hash FROM audit_logs ORDER BY audit_logs.id',
    );
    expect(rows).toHaveLength(50);
    // One chain: the first row starts it, every other row links to the row just before it, no hash repeats.
    expect(rows[0]?.prev_hash).toBeNull();
    rows.slice(1).forEach((row, index) => expect(row.prev_hash).toBe(rows[index]?.hash));
    expect(new Set(rows.map((row) => row.hash)).size).toBe(50);

    const progress: number[] = [];
    const result = await verifyAuditChain(pl.app, {
      batchSize: 7,
      onProgress: ({ checked }) => progress.push(checked),
    });
    expect(result.firstBrokenId).toBeUndefined();
    expect(result.checked).toBe(50);
    expect(result.reason).toBe(`all 50 rows intact; last id ${rows[49]?.id}, last hash ${rows[49]?.hash}`);
    expect(progress).toEqual([7, 14, 21, 28, 35, 42, 49, 50]);
  });

  it('hashes the stored text forms: microsecond UTC time, the normalised address, jsonb as read back', async () => {
    await log.record(pl.app, {
      type: 'test.normalised',
      ip: '::ffff:198.51.100.9',
      userAgent: `agent\u0000with-nul-and-\uD800-half`,
      metadata: { 'z-key': 1, 'a-key': [{ b: 2, a: 1 }], text: 'x\u0000y' },
    });
    const { rows } = await pl.owner.query<{ occurred_at: string; ip: string; user_agent: string; metadata: unknown }>(
      `SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
              host(ip) AS ip, user_agent, metadata
         FROM audit_logs WHERE event_type = 'test.normalised'`,
    );
    expect(rows[0]?.occurred_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(rows[0]?.ip).toBe('::ffff:198.51.100.9');
    expect(rows[0]?.user_agent).toBe('agent\uFFFDwith-nul-and-\uFFFD-half');
    expect(rows[0]?.metadata).toEqual({ 'z-key': 1, 'a-key': [{ b: 2, a: 1 }], text: 'x\uFFFDy' });
    // A value that is not an address goes to metadata, never failing the write.
    await log.record(pl.app, { type: 'test.not_an_ip', ip: 'unknown' });
    const { rows: odd } = await pl.owner.query<{ ip: string | null; metadata: unknown }>(
      "SELECT ip, metadata FROM audit_logs WHERE event_type = 'test.not_an_ip'",
    );
    expect(odd).toEqual([{ ip: null, metadata: { ip_raw: 'unknown' } }]);
    expect((await verifyAuditChain(pl.app)).firstBrokenId).toBeUndefined();
  });

  it('writes inside the caller transaction: a rollback leaves no row and the chain intact', async () => {
    const before = (await ids(pl.owner)).length;
    await expect(
      withTransaction(
        pl.app,
        async (tx) => {
          await log.record(tx, { type: 'test.rolled_back' });
          throw new Error('the change failed');
        },
        { name: 'test.rollback' },
      ),
    ).rejects.toThrow('the change failed');
    expect((await ids(pl.owner)).length).toBe(before);
    await log.record(pl.app, { type: 'test.after_rollback' });
    expect(await verifyAuditChain(pl.app)).toMatchObject({ checked: before + 1 });
    expect((await verifyAuditChain(pl.app)).firstBrokenId).toBeUndefined();
  });

  it('refuses a REPEATABLE READ transaction, whose snapshot could fork the chain', async () => {
    await expect(
      withTransaction(pl.app, (tx) => log.record(tx, { type: 'test.repeatable' }), {
        name: 'test.repeatable',
        isolation: 'repeatable read',
      }),
    ).rejects.toThrow('audit events must be recorded in a READ COMMITTED transaction, not repeatable read');
  });

  it('refuses malformed event types and actor ids, naming the value', async () => {
    await expect(log.record(pl.app, { type: 'Login' })).rejects.toThrow(
      `audit event type "Login" is invalid: use a dotted lower-case name such as 'auth.login.failed'`,
    );
    await expect(log.record(pl.app, { type: 'auth.logout', actorUserId: 'ada' })).rejects.toThrow(
      'audit actorUserId "ada" is not a UUID',
    );
  });

  it('computes the hash a verifier can recompute from the stored row alone', async () => {
    const { rows } = await pl.owner.query<{ hash: string }>('SELECT hash FROM audit_logs ORDER BY id LIMIT 1');
    const first = rows[0]?.hash ?? '';
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    // The hash covers prev_hash: the same content under another predecessor hashes differently.
    const content = {
      occurred_at: '2026-01-01T00:00:00.000000Z',
      actor_user_id: null,
      event_type: 'test.x',
      resource_type: null,
      resource_id: null,
      ip: null,
      user_agent: null,
      before: null,
      after: null,
      metadata: {},
      prev_hash: null,
    };
    expect(auditRowHash(content)).not.toBe(auditRowHash({ ...content, prev_hash: first }));
    expect(auditRowHash({ ...content, metadata: { b: 1, a: 2 } })).toBe(
      auditRowHash({ ...content, metadata: { a: 2, b: 1 } }),
    );
  });
});

describe('the app role and the triggers keep the log append-only', () => {
  let pl: PrivateLog;

  beforeAll(async () => {
    pl = await privateLog();
    await recordMany(pl.app, 3, 'guarded');
  });
  afterAll(async () => {
    await pl.close();
  });

  it('denies erp_app UPDATE, DELETE and TRUNCATE by privilege', async () => {
    await expect(pl.app.query('test.update', "UPDATE audit_logs SET event_type = 'x.y'")).rejects.toMatchObject({
      cause: { message: 'permission denied for table audit_logs' },
    });
    await expect(pl.app.query('test.delete', 'DELETE FROM audit_logs')).rejects.toMatchObject({
      cause: { message: 'permission denied for table audit_logs' },
    });
    await expect(pl.app.query('test.truncate', 'TRUNCATE audit_logs')).rejects.toMatchObject({
      cause: { message: 'permission denied for table audit_logs' },
    });
  });

  it('denies erp_app turning the audit triggers off, altering or creating a table: it owns nothing', async () => {
    for (const sql of [
      'ALTER TABLE audit_logs DISABLE TRIGGER ALL',
      'ALTER TABLE audit_logs DISABLE TRIGGER USER',
      'ALTER TABLE users ADD COLUMN is_root boolean',
      'DROP TRIGGER audit_logs_no_update ON audit_logs',
    ]) {
      await expect(pl.app.query('test.ddl', sql), sql).rejects.toMatchObject({
        cause: { code: '42501', message: expect.stringMatching(/^must be owner of (table|relation) /) as unknown },
      });
    }
    await expect(pl.app.query('test.create', 'CREATE TABLE public.shadow (id int)')).rejects.toMatchObject({
      cause: { code: '42501' },
    });
    // erp_app and the login roles made as its members (erp_app_*) own no table, sequence, function or schema
    const { rows } = await pl.owner.query<{ owned: string }>(
      `SELECT count(*)::text AS owned FROM (
         SELECT relowner AS owner FROM pg_class UNION ALL SELECT proowner FROM pg_proc
         UNION ALL SELECT nspowner FROM pg_namespace) o
         JOIN pg_roles r ON r.oid = o.owner
        WHERE r.rolname = 'erp_app' OR r.rolname LIKE 'erp\\_app\\_%'`,
    );
    expect(rows).toEqual([{ owned: '0' }]);
  });

  it.each([
    ['UPDATE', "UPDATE audit_logs SET event_type = 'x.y'"],
    ['DELETE', 'DELETE FROM audit_logs'],
    ['TRUNCATE', 'TRUNCATE audit_logs'],
  ])('refuses %s by the owner, by trigger', async (op, sql) => {
    await expect(pl.owner.query(sql)).rejects.toThrow(`audit_logs is append-only: ${op} is not allowed`);
    expect(await ids(pl.owner)).toHaveLength(3);
  });
});

describe('verifyAuditChain catches tampering by the owner', () => {
  let pl: PrivateLog;
  let rowIds: string[];

  beforeAll(async () => {
    pl = await privateLog();
  });
  afterAll(async () => {
    await pl.close();
  });

  async function freshChain(): Promise<void> {
    // Each case starts from its own intact chain in the same database: clear it as the owner, then append 6 rows.
    await pl.owner.query('ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_truncate');
    await pl.owner.query('TRUNCATE audit_logs');
    await pl.owner.query('ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_truncate');
    for (let index = 0; index < 6; index += 1) {
      await log.record(pl.app, { type: AUDIT_EVENT.loginSucceeded, ip: '198.51.100.1', metadata: { index } });
    }
    rowIds = await ids(pl.owner);
    expect(await verifyAuditChain(pl.app)).toMatchObject({ checked: 6 });
    expect((await verifyAuditChain(pl.app)).firstBrokenId).toBeUndefined();
  }

  it('an edited row fails its own hash', async () => {
    await freshChain();
    const target = rowIds[2] ?? '';
    await tamper(pl.owner, `UPDATE audit_logs SET metadata = '{"index": 99}' WHERE id = $1`, [target]);
    const result = await verifyAuditChain(pl.app, { batchSize: 2 });
    expect(result).toMatchObject({ checked: 3, firstBrokenId: target });
    expect(result.reason.startsWith(`row ${target}: stored hash `)).toBe(true);
    expect(result.reason).toMatch(/ does not match its content \(recomputed [0-9a-f]{64}\); the row was edited/);
  });

  it('an edited timestamp or address fails too', async () => {
    await freshChain();
    const target = rowIds[4] ?? '';
    await tamper(pl.owner, "UPDATE audit_logs SET occurred_at = occurred_at + interval '1 microsecond' WHERE id = $1", [
      target,
    ]);
    expect(await verifyAuditChain(pl.app)).toMatchObject({ firstBrokenId: target });
    await freshChain();
    await tamper(pl.owner, "UPDATE audit_logs SET ip = '198.51.100.2' WHERE id = $1", [rowIds[0]]);
    expect(await verifyAuditChain(pl.app)).toMatchObject({ checked: 1, firstBrokenId: rowIds[0] });
  });

  it('a removed middle row breaks the link of the row after it', async () => {
    await freshChain();
    await tamper(pl.owner, 'DELETE FROM audit_logs WHERE id = $1', [rowIds[3]]);
    const result = await verifyAuditChain(pl.app);
    expect(result).toMatchObject({ checked: 4, firstBrokenId: rowIds[4] });
    expect(result.reason).toContain("does not match the previous row's hash");
  });

  it('an edited prev_hash breaks the link, even when the row hash is recomputed to match', async () => {
    await freshChain();
    const target = rowIds[1] ?? '';
    const forged = 'f'.repeat(64);
    await tamper(pl.owner, 'UPDATE audit_logs SET prev_hash = $2 WHERE id = $1', [target, forged]);
    expect(await verifyAuditChain(pl.app)).toMatchObject({ checked: 2, firstBrokenId: target });
  });

  it('a row rewritten with a recomputed hash still breaks the next link', async () => {
    await freshChain();
    const target = rowIds[2] ?? '';
    const { rows } = await pl.owner.query<{ prev_hash: string; occurred_at: string }>(
      `SELECT prev_hash, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at
         FROM audit_logs WHERE id = $1`,
      [target],
    );
    const forgedContent = {
      occurred_at: rows[0]?.occurred_at ?? '',
      actor_user_id: null,
      event_type: AUDIT_EVENT.loginSucceeded,
      resource_type: null,
      resource_id: null,
      ip: '198.51.100.1',
      user_agent: null,
      before: null,
      after: null,
      metadata: { index: 2, forged: true },
      prev_hash: rows[0]?.prev_hash ?? null,
    };
    await tamper(pl.owner, `UPDATE audit_logs SET metadata = $2, hash = $3 WHERE id = $1`, [
      target,
      JSON.stringify(forgedContent.metadata),
      auditRowHash(forgedContent),
    ]);
    expect(await verifyAuditChain(pl.app)).toMatchObject({ checked: 4, firstBrokenId: rowIds[3] });
  });
});
