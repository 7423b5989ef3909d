import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  MIGRATION_LOCK_KEY,
  MigrationError,
  MigrationLockTimeoutError,
  PendingMigrationsError,
  appliedMigrations,
  assertMigrationsApplied,
  migrate,
  readMigrations,
  sha256,
} from '../src/db/migrations.js';
import { EXIT, runMigrateCli, type PendingPlan } from '../src/bin/migrate.js';
import { createTestDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';

const databases: TestDatabase[] = [];
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(databases.map((database) => database.drop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function freshDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase('erp_migrate');
  databases.push(database);
  return database;
}

function writeMigration(dir: string, name: string, sql: string): void {
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- a temporary directory this test made
  writeFileSync(join(dir, name), sql);
}

/** A migrations directory holding `files` (name → SQL). */
function migrationsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'erp-migrations-'));
  dirs.push(dir);
  for (const [name, sql] of Object.entries(files)) writeMigration(dir, name, sql);
  return dir;
}

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function tables(url: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ name: string }>(
      "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    );
    return rows.map((row) => row.name);
  });
}

interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(argv: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runMigrateCli(argv, env, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  });
  return { code, stdout, stderr };
}

const TWO = {
  '0001_create_notes.sql': 'CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);',
  '0002_add_note_author.sql': 'ALTER TABLE notes ADD COLUMN author text;',
};

describe("the service's migrations on a fresh database", () => {
  let database: TestDatabase;
  const lines: string[] = [];
  beforeAll(async () => {
    database = await freshDatabase();
    await migrate(database.url, { progress: (line) => lines.push(line) });
  });

  it('applies every file in order, each recorded with its checksum and duration', async () => {
    const files = await readMigrations();
    expect(files.map((file) => file.fileName)).toEqual([
      '0001_users_and_access.sql',
      '0002_catalog_and_orders.sql',
      '0003_audit_log.sql',
      '0004_email_outbox.sql',
      '0005_seed_roles_and_permissions.sql',
      '0006_refresh_tokens.sql',
      '0007_invoices_and_jobs.sql',
      '0008_audit_reader.sql',
    ]);
    const applied = await withClient(database.url, (client) => appliedMigrations(client));
    expect(applied.map(({ version, name, checksum }) => ({ version, name, checksum }))).toEqual(
      files.map(({ version, name, sql }) => ({ version, name, checksum: sha256(sql) })),
    );
    for (const migration of applied) {
      expect(migration.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(migration.durationMs).toBeGreaterThanOrEqual(0);
      expect(migration.appliedAt).toBeInstanceOf(Date);
    }
    expect(lines.filter((line) => line.startsWith('applied '))).toHaveLength(files.length);
    expect(lines.at(-1)).toMatch(/^applied 0008_audit_reader\.sql in \d+ ms \(8\/8\)$/);
  });

  it('applies nothing the second time', async () => {
    const lines: string[] = [];
    const result = await migrate(database.url, { progress: (line) => lines.push(line) });
    expect(result.applied).toEqual([]);
    expect(lines).toEqual(['database is up to date; nothing to apply']);
  });

  it('satisfies the startup check', async () => {
    await withClient(database.url, (client) => assertMigrationsApplied(client));
  });
});

describe('checks before applying', () => {
  it('refuses a migration edited after it was applied, naming the file and both checksums', async () => {
    const database = await freshDatabase();
    const dir = migrationsDir(TWO);
    await migrate(database.url, { dir });
    const edited = 'ALTER TABLE notes ADD COLUMN author varchar(100);';
    writeMigration(dir, '0002_add_note_author.sql', edited);
    writeMigration(dir, '0003_more.sql', 'CREATE TABLE more (id int);');

    const error = await migrate(database.url, { dir }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toBe(
      `0002_add_note_author.sql was edited after it was applied: applied checksum ${sha256(TWO['0002_add_note_author.sql'])}, ` +
        `file checksum ${sha256(edited)}; restore the applied version of the file and put the change in a new migration`,
    );
    expect(await tables(database.url)).not.toContain('more');

    const run = await cli(['--dir', dir], { DATABASE_URL: database.url });
    expect(run.code).toBe(EXIT.failed);
    expect(run.stderr).toContain('0002_add_note_author.sql was edited after it was applied');
  });

  it('refuses destructive statements unless allowed, naming the file and the statement', async () => {
    const database = await freshDatabase();
    const dir = migrationsDir({
      ...TWO,
      '0003_cleanup.sql':
        "-- DROP TABLE in a comment is fine\nINSERT INTO notes (body) VALUES ('TRUNCATE me');\nDELETE FROM notes;\nDROP TABLE notes;",
    });
    const error = await migrate(database.url, { dir }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toBe(
      'refusing destructive statements (they drop or delete data):\n' +
        '  0003_cleanup.sql: DELETE FROM notes\n' +
        '  0003_cleanup.sql: DROP TABLE notes\n' +
        'review them, then run again with --allow-destructive (or MIGRATE_ALLOW_DESTRUCTIVE=1)',
    );
    // Refused up front: not even the harmless earlier migrations ran.
    expect(await tables(database.url)).toEqual(['schema_migrations']);

    const refused = await cli(['--dir', dir], { DATABASE_URL: database.url });
    expect(refused.code).toBe(EXIT.failed);

    const allowed = await cli(['--dir', dir], { DATABASE_URL: database.url, MIGRATE_ALLOW_DESTRUCTIVE: '1' });
    expect(allowed.code).toBe(EXIT.ok);
    expect(allowed.stdout).toContain('done: 3 applied; database at version 0003');
    expect(await tables(database.url)).toEqual(['schema_migrations']);
  });

  it('accepts --allow-destructive on the command line', async () => {
    const database = await freshDatabase();
    const dir = migrationsDir({ '0001_a.sql': 'CREATE TABLE a (id int);', '0002_b.sql': 'TRUNCATE a;' });
    const run = await cli(['up', '--allow-destructive', '--dir', dir], { DATABASE_URL: database.url });
    expect(run).toMatchObject({ code: EXIT.ok });
  });

  it('refuses a pending migration numbered below one already applied', async () => {
    const database = await freshDatabase();
    const dir = migrationsDir({ '0002_b.sql': 'CREATE TABLE b (id int);' });
    await migrate(database.url, { dir });
    writeMigration(dir, '0001_a.sql', 'CREATE TABLE a (id int);');
    await expect(migrate(database.url, { dir })).rejects.toThrow(
      '0001_a.sql is pending but a later version (0002) is already applied; renumber it after the newest applied migration',
    );
  });

  it.each([
    [{ '001_short.sql': '' }, /001_short\.sql is not a migration file name; name it NNNN_description\.sql/],
    [{ '0001_Upper.sql': '' }, /0001_Upper\.sql is not a migration file name/],
    [{ 'notes.txt': '' }, /notes\.txt is not a migration file name/],
    [{ '0001_a.sql': '', '0001_b.sql': '' }, /0001_a\.sql and 0001_b\.sql share version 0001; renumber one of them/],
  ])('refuses a directory holding %j', async (files, message) => {
    await expect(readMigrations(migrationsDir(files))).rejects.toThrow(message);
  });
});

describe('applying', () => {
  it('runs each migration in its own transaction: a failure keeps earlier ones and nothing of the failed one', async () => {
    const database = await freshDatabase();
    const dir = migrationsDir({
      '0001_create_notes.sql': TWO['0001_create_notes.sql'],
      '0002_broken.sql':
        'CREATE TABLE half (id int);\n\nINSERT INTO half VALUES (1);\nSELECT no_such_column FROM half;',
    });
    const error = await migrate(database.url, { dir }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(
      /^0002_broken\.sql line 4 failed: column "no_such_column" does not exist \(SQLSTATE 42703\); nothing of this migration was applied \(earlier ones stay\); fix the file and run again$/,
    );
    expect(await tables(database.url)).toEqual(['notes', 'schema_migrations']);
    const applied = await withClient(database.url, (client) => appliedMigrations(client));
    expect(applied.map((migration) => migration.version)).toEqual([1]);
  });

  it('lets two runners race: both finish and each migration is applied once', async () => {
    const database = await freshDatabase();
    const results = await Promise.all([migrate(database.url), migrate(database.url)]);
    expect(results.map((result) => result.applied.length).sort()).toEqual([0, 8]);
  });
});

describe('the advisory lock', () => {
  async function holdLock(url: string): Promise<{ client: Client; pid: number }> {
    const client = new Client({ connectionString: url, application_name: 'test-lock-holder' });
    await client.connect();
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return { client, pid: rows[0]?.pid ?? 0 };
  }

  it('makes a second runner wait, saying who holds the lock, and go on once it is free', async () => {
    const database = await freshDatabase();
    const holder = await holdLock(database.url);
    const lines: string[] = [];
    let finished = false;
    const running = migrate(database.url, { progress: (line) => lines.push(line) }).finally(() => (finished = true));
    // polled, not slept: on a loaded machine the runner may take a while to reach the lock
    await expect
      .poll(() => lines, { timeout: 15_000 })
      .toEqual([
        `another runner (pid ${holder.pid}, test-lock-holder) holds the migration lock; waiting for it to finish…`,
      ]);
    expect(finished).toBe(false);
    await holder.client.end();
    const result = await running;
    expect(result.applied.length).toBe((await readMigrations()).length);
  });

  it('gives up after --lock-timeout with exit code 75', async () => {
    const database = await freshDatabase();
    const holder = await holdLock(database.url);
    try {
      await expect(migrate(database.url, { lockTimeoutMs: 200 })).rejects.toBeInstanceOf(MigrationLockTimeoutError);
      const run = await cli(['--lock-timeout', '1'], { DATABASE_URL: database.url });
      expect(run.code).toBe(EXIT.lockTimeout);
      expect(EXIT.lockTimeout).toBe(75);
      expect(run.stdout).toContain('waiting up to 1 s for it to finish');
      expect(run.stderr).toContain(
        `gave up after waiting 1 s for the migration lock held by another runner (pid ${holder.pid}`,
      );
      expect(await tables(database.url)).toEqual([]);
    } finally {
      await holder.client.end();
    }
  });
});

describe('status', () => {
  it('lists applied and pending migrations', async () => {
    const database = await freshDatabase();
    const dir = migrationsDir({ '0001_create_notes.sql': TWO['0001_create_notes.sql'] });
    await migrate(database.url, { dir });
    writeMigration(dir, '0002_add_note_author.sql', TWO['0002_add_note_author.sql']);

    const run = await cli(['status', '--dir', dir], { DATABASE_URL: database.url });
    expect(run.code).toBe(EXIT.ok);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^version\s+name\s+state\s+applied at\s+took$/);
    expect(lines[1]).toMatch(/^0001\s+create_notes\s+applied\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+\d+ ms$/);
    expect(lines[2]).toMatch(/^0002\s+add_note_author\s+pending$/);
    expect(lines[3]).toBe('1 applied, 1 pending');

    await expect(withClient(database.url, (client) => assertMigrationsApplied(client, dir))).rejects.toBeInstanceOf(
      PendingMigrationsError,
    );
  });

  it('reports every migration as pending on an empty database and creates nothing', async () => {
    const database = await freshDatabase();
    const run = await cli(['status'], { DATABASE_URL: database.url });
    expect(run.code).toBe(EXIT.ok);
    expect(run.stdout).toContain('0 applied, 8 pending');
    expect(await tables(database.url)).toEqual([]);
  });
});

describe('plan', () => {
  it('names each pending migration with the statements that break the running version, and applies nothing', async () => {
    const database = await freshDatabase();
    const dir = migrationsDir({ '0001_create_notes.sql': TWO['0001_create_notes.sql'] });
    await migrate(database.url, { dir });
    writeMigration(dir, '0002_add_note_author.sql', TWO['0002_add_note_author.sql']);
    writeMigration(
      dir,
      '0003_rename_body.sql',
      'ALTER TABLE notes RENAME COLUMN body TO text;\nALTER TABLE notes ADD COLUMN rank int NOT NULL;',
    );

    const run = await cli(['plan', '--json', '--dir', dir], { DATABASE_URL: database.url });
    expect(run.code, run.stderr).toBe(EXIT.ok);
    const plan = JSON.parse(run.stdout) as PendingPlan;
    expect(plan.applied).toBe(1);
    expect(plan.problems).toEqual([]);
    expect(plan.pending.map((file) => [file.fileName, file.breaking])).toEqual([
      ['0002_add_note_author.sql', []],
      [
        '0003_rename_body.sql',
        [
          {
            statement: 'ALTER TABLE notes RENAME COLUMN body TO text',
            reason: 'renames a table or column the running version still queries by its old name',
          },
          {
            statement: 'ALTER TABLE notes ADD COLUMN rank int NOT NULL',
            reason: "adds a NOT NULL column without a default: the running version's inserts fail",
          },
        ],
      ],
    ]);
    expect(plan.pending[1]?.checksum).toBe(
      sha256('ALTER TABLE notes RENAME COLUMN body TO text;\nALTER TABLE notes ADD COLUMN rank int NOT NULL;'),
    );
    expect((await withClient(database.url, appliedMigrations)).map((m) => m.version)).toEqual([1]);

    const table = await cli(['plan', '--dir', dir], { DATABASE_URL: database.url });
    expect(table.stdout).toContain('0002_add_note_author.sql: safe beside the running version');
    expect(table.stdout).toContain('0003_rename_body.sql: BREAKS the running version');
  });

  it("finds nothing breaking in the service's own migrations on an empty database", async () => {
    const database = await freshDatabase();
    const run = await cli(['plan', '--json'], { DATABASE_URL: database.url });
    const plan = JSON.parse(run.stdout) as PendingPlan;
    expect(plan.pending).toHaveLength(8);
    expect(plan.pending.flatMap((file) => file.breaking)).toEqual([]);
  });
});

describe('command line', () => {
  it.each([
    [['--force'], "Unknown option '--force'"],
    [['down'], 'unknown command "down"; use up, status or plan'],
    [['status', '--json'], '--json applies to plan, not status'],
    [['up', 'status'], 'expected one command, got "up" "status"'],
    [['--lock-timeout', 'soon'], '--lock-timeout "soon" is invalid: give whole seconds from 0 to 86400'],
    [['--lock-timeout'], "Option '--lock-timeout <value>' argument missing"],
  ])('%j is a usage error: exit 64 with the usage', async (argv, message) => {
    const run = await cli(argv, { DATABASE_URL: 'postgres://unused@127.0.0.1/none' });
    expect(run.code).toBe(EXIT.usage);
    expect(EXIT.usage).toBe(64);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('usage: npm run migrate -w app -- [up | status | plan] [options]');
    expect(run.stdout).toBe('');
  });

  it('refuses an unclear MIGRATE_ALLOW_DESTRUCTIVE', async () => {
    const run = await cli([], { DATABASE_URL: 'postgres://unused@127.0.0.1/none', MIGRATE_ALLOW_DESTRUCTIVE: 'yes' });
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain('MIGRATE_ALLOW_DESTRUCTIVE="yes" is invalid: set it to 1 to allow, or unset it');
  });

  it('exits 78 naming DATABASE_URL when it is missing, without a password when it is wrong', async () => {
    const missing = await cli([], {});
    expect(missing.code).toBe(EXIT.config);
    expect(missing.stderr).toMatch(/^config error: DATABASE_URL is not set but is required: /);
    const wrong = await cli([], { DATABASE_URL: 'mysql://erp:hunter2@db/erp' });
    expect(wrong.code).toBe(EXIT.config);
    expect(wrong.stderr).not.toContain('hunter2');
  });

  it('prints the usage for --help', async () => {
    const run = await cli(['--help'], {});
    expect(run).toMatchObject({ code: EXIT.ok, stderr: '' });
    expect(run.stdout).toContain('--allow-destructive');
  });

  it('says when the database cannot be reached', async () => {
    const run = await cli(['status'], { DATABASE_URL: 'postgres://erp:pw@127.0.0.1:1/erp' });
    expect(run.code).toBe(EXIT.failed);
    expect(run.stderr).toMatch(
      /^migrate: could not reach the database: .*; check DATABASE_URL and that PostgreSQL is up/,
    );
  });

  it('runs as a script with the exit code of the outcome', async () => {
    const database = await freshDatabase();
    const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', 'app/src/bin/migrate.ts', 'up'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, DATABASE_URL: database.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect(stdout).toContain('done: 8 applied; database at version 0008');
  });
});
