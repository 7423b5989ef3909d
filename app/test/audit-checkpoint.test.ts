/* eslint-disable security/detect-non-literal-fs-filename -- every path is under the test's own temporary directory */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';

import { AUDIT_CHECKPOINT_WRITTEN_EVENT, AUDIT_INTEGRITY_FAILED_EVENT, EXIT, runAuditCli } from '../src/bin/audit.js';
import { AUDIT_ROW_COLUMNS, auditRowHash } from '../src/components/audit/chain.js';
import {
  AUDIT_CHECKPOINT_PREFIX,
  auditCheckpointSignatureValid,
  DirectoryAuditCheckpointStore,
  parseAuditCheckpoint,
  signAuditCheckpoint,
} from '../src/components/audit/checkpoint.js';
import { AUDIT_EVENT, AuditLog, verifyAuditChain } from '../src/components/audit/index.js';
import type { AuditRow } from '../src/components/audit/repository.js';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { testDb } from './support/db.js';

const KEY = 'k'.repeat(48);

interface Run {
  readonly code: number;
  readonly stderr: string;
  readonly lines: Record<string, unknown>[];
}

async function verify(env: NodeJS.ProcessEnv, argv: readonly string[] = ['verify']): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runAuditCli(argv, env, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  });
  const lines = stdout.startsWith('{')
    ? stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
    : [];
  return { code, stderr, lines };
}

function failure(run: Run): Record<string, unknown> | undefined {
  return run.lines.find((line) => line.event === AUDIT_INTEGRITY_FAILED_EVENT);
}

/** Runs `work` as the database owner with the append-only triggers off, as an attacker with its password could. */
async function asOwnerWithoutTriggers(owner: Client, work: () => Promise<void>): Promise<void> {
  await owner.query('BEGIN');
  await owner.query('ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update');
  await owner.query('ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_delete');
  await work();
  await owner.query('ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_update');
  await owner.query('ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_delete');
  await owner.query('COMMIT');
}

/** Rewrites row `targetId`'s user agent and recomputes its hash and every later row's, so the chain holds again. */
async function rewriteAndRehash(owner: Client, targetId: string): Promise<void> {
  await asOwnerWithoutTriggers(owner, async () => {
    await owner.query("UPDATE audit_logs SET user_agent = 'forged' WHERE id = $1", [targetId]);
    const { rows } = await owner.query<AuditRow>(
      `SELECT ${AUDIT_ROW_COLUMNS} FROM audit_logs WHERE audit_logs.id >= $1 ORDER BY audit_logs.id`,
      [targetId],
    );
    const { rows: before } = await owner.query<{ hash: string }>(
      'SELECT hash FROM audit_logs WHERE id < $1 ORDER BY id DESC LIMIT 1',
      [targetId],
    );
    let previous: string | null = before[0]?.hash ?? null;
    for (const { id, hash: stored, ...content } of rows) {
      const hash = auditRowHash({ ...content, prev_hash: previous });
      expect(hash).not.toBe(stored);
      await owner.query('UPDATE audit_logs SET prev_hash = $2, hash = $3 WHERE id = $1', [id, previous, hash]);
      previous = hash;
    }
  });
}

describe('audit checkpoints against a real PostgreSQL', () => {
  let database: TestDatabase;
  let owner: Client;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const log = new AuditLog();

  async function record(count: number): Promise<void> {
    const { db } = testDb(database.url);
    try {
      for (let index = 0; index < count; index += 1) {
        await log.record(db, {
          type: AUDIT_EVENT.logout,
          ip: '192.0.2.1',
          userAgent: 'checkpoint-test',
          metadata: { index },
        });
      }
    } finally {
      await db.end();
    }
  }

  async function ids(): Promise<string[]> {
    const { rows } = await owner.query<{ id: string }>('SELECT id::text AS id FROM audit_logs ORDER BY audit_logs.id');
    return rows.map((row) => row.id);
  }

  beforeEach(async () => {
    database = await createMigratedDatabase();
    owner = new Client({ connectionString: database.url });
    await owner.connect();
    dir = await mkdtemp(join(tmpdir(), 'audit-checkpoints-'));
    env = { DATABASE_URL: database.url, AUDIT_CHECKPOINT_DIR: dir, AUDIT_CHECKPOINT_HMAC_KEY: KEY };
    await record(10);
  });

  afterEach(async () => {
    await owner.end();
    await database.drop();
    await rm(dir, { recursive: true, force: true });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes a clean chain, writes a signed read-only checkpoint each run, and checks the next run against it', async () => {
    const first = await verify(env);
    expect(first.code).toBe(EXIT.ok);
    const written = first.lines.find((line) => line.event === AUDIT_CHECKPOINT_WRITTEN_EVENT);
    const all = await ids();
    expect(written).toMatchObject({ seq: all.at(-1), signed: true });
    const names = await readdir(join(dir, AUDIT_CHECKPOINT_PREFIX));
    expect(names).toHaveLength(1);
    const file = join(dir, AUDIT_CHECKPOINT_PREFIX, names[0] ?? '');
    const checkpoint = parseAuditCheckpoint(names[0] ?? '', await readFile(file, 'utf8'));
    expect(checkpoint).toMatchObject({ seq: all.at(-1), rows: 10, source: 'audit-verify' });
    expect(auditCheckpointSignatureValid(checkpoint, KEY)).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o444);
    // Written once: the same name again is refused, never replaced.
    await expect(new DirectoryAuditCheckpointStore(dir).write(checkpoint)).rejects.toMatchObject({ code: 'EEXIST' });

    await record(3);
    const second = await verify(env);
    expect(second.code).toBe(EXIT.ok);
    expect(second.lines.find((line) => line.event === 'audit.verified')).toMatchObject({
      checked: 13,
      checkpoint: `${AUDIT_CHECKPOINT_PREFIX}${names[0] ?? ''}`,
    });
    expect(await readdir(join(dir, AUDIT_CHECKPOINT_PREFIX))).toHaveLength(2);

    const readOnly = await verify(env, ['verify', '--read-only']);
    expect(readOnly.code).toBe(EXIT.ok);
    expect(await readdir(join(dir, AUDIT_CHECKPOINT_PREFIX))).toHaveLength(2);
  });

  it('detects the newest rows deleted after a checkpoint, which the chain alone does not show', async () => {
    expect((await verify(env)).code).toBe(EXIT.ok);
    const latest = await new DirectoryAuditCheckpointStore(dir).latest();
    const all = await ids();
    await asOwnerWithoutTriggers(owner, async () => {
      await owner.query('DELETE FROM audit_logs WHERE id >= $1', [all[7]]);
    });
    // The chain alone still holds: this is the gap the checkpoint closes.
    const { db } = testDb(database.url);
    const cut = await verifyAuditChain(db);
    expect(cut).toMatchObject({ checked: 7 });
    expect(cut).not.toHaveProperty('firstBrokenId');
    await db.end();

    const run = await verify(env);
    expect(run.code).toBe(EXIT.broken);
    expect(failure(run)).toMatchObject({ level: 'error', checkpoint: latest?.key, checked: 7 });
    expect(failure(run)?.msg).toContain(`it no longer contains checkpoint ${latest?.key ?? ''}`);
    expect(failure(run)?.msg).toContain(`the chain ends at row ${all[6] ?? ''} after 7 rows, before the checkpoint`);
    // A failed run writes no checkpoint that would bless the cut chain.
    expect(await readdir(join(dir, AUDIT_CHECKPOINT_PREFIX))).toHaveLength(1);
  });

  it('detects a middle row edited with every later hash recomputed by the database owner', async () => {
    expect((await verify(env)).code).toBe(EXIT.ok);
    const all = await ids();
    await rewriteAndRehash(owner, all[4] ?? '');
    const { db } = testDb(database.url);
    const rehashed = await verifyAuditChain(db);
    expect(rehashed).toMatchObject({ checked: 10 });
    expect(rehashed).not.toHaveProperty('firstBrokenId');
    await db.end();

    const run = await verify(env);
    expect(run.code).toBe(EXIT.broken);
    expect(failure(run)?.msg).toMatch(
      // eslint-disable-next-line security/detect-non-literal-regexp -- ids from this test's own rows
      new RegExp(
        `row ${all[9] ?? ''} has hash [0-9a-f]{64}, but the checkpoint \\(seq ${all[9] ?? ''}, hash [0-9a-f]{64}, 10 rows\\) recorded`,
      ),
    );
  });

  it('detects the checkpoint row removed and the chain re-linked, and rows added on top of a cut chain', async () => {
    expect((await verify(env)).code).toBe(EXIT.ok);
    const all = await ids();
    await asOwnerWithoutTriggers(owner, async () => {
      await owner.query('DELETE FROM audit_logs WHERE id = $1', [all[9]]);
    });
    await record(2);
    const run = await verify(env);
    expect(run.code).toBe(EXIT.broken);
    expect(failure(run)?.msg).toContain(`row ${all[9] ?? ''} of the checkpoint`);
    expect(failure(run)?.msg).toContain('is missing (the chain goes from row');
  });

  it('refuses a checkpoint forged without the signing key, naming it', async () => {
    expect((await verify(env)).code).toBe(EXIT.ok);
    const all = await ids();
    await asOwnerWithoutTriggers(owner, async () => {
      await owner.query('DELETE FROM audit_logs WHERE id >= $1', [all[5]]);
    });
    // The attacker also writes a newer checkpoint matching the cut chain, signed with a key of their own.
    const store = new DirectoryAuditCheckpointStore(dir);
    const { rows } = await owner.query<{ hash: string }>('SELECT hash FROM audit_logs WHERE id = $1', [all[4]]);
    const forged = signAuditCheckpoint(
      {
        seq: all[4] ?? '',
        hash: rows[0]?.hash ?? null,
        rows: 5,
        takenAt: '2099-01-01T00:00:00.000Z',
        source: 'audit-verify',
      },
      'x'.repeat(48),
    );
    const key = await store.write({ ...forged, seq: `${all[9] ?? ''}0` });
    const run = await verify(env);
    expect(run.code).toBe(EXIT.broken);
    expect(failure(run)?.msg).toContain(
      `checkpoint ${key} in dir:${dir}/${AUDIT_CHECKPOINT_PREFIX} has no valid signature`,
    );
  });

  it('refuses a malformed checkpoint object and an unreadable store with distinct exit codes', async () => {
    const folder = join(dir, AUDIT_CHECKPOINT_PREFIX);
    expect((await verify(env)).code).toBe(EXIT.ok);
    await writeFile(join(folder, `${'9'.repeat(20)}-20990101T000000000Z.json`), 'not json');
    const malformed = await verify(env);
    expect(malformed.code).toBe(EXIT.broken);
    expect(failure(malformed)?.msg).toContain(
      `audit checkpoint ${AUDIT_CHECKPOINT_PREFIX}${'9'.repeat(20)}-20990101T000000000Z.json is not JSON`,
    );

    // A store that is not a directory cannot be read: nothing is concluded about the chain.
    const notADirectory = join(dir, 'file');
    await writeFile(notADirectory, '');
    const unreadable = await verify({ ...env, AUDIT_CHECKPOINT_DIR: notADirectory });
    expect(unreadable.code).toBe(EXIT.unavailable);
    expect(unreadable.lines.at(-1)?.msg).toContain(`could not read the checkpoint store dir:${notADirectory}/`);
  });

  it('refuses a relative checkpoint directory and a short signing key with exit 78', async () => {
    const run = await verify({
      DATABASE_URL: database.url,
      AUDIT_CHECKPOINT_DIR: 'rel/dir',
      AUDIT_CHECKPOINT_HMAC_KEY: 'short',
    });
    expect(run.code).toBe(EXIT.config);
    expect(run.stderr).toContain('config error: AUDIT_CHECKPOINT_DIR="rel/dir" is not an absolute path');
    expect(run.stderr).toContain('config error: AUDIT_CHECKPOINT_HMAC_KEY is 5 characters, fewer than 32');
  });
});
