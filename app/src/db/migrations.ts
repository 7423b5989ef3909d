import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from 'pg';

import { sqlState } from './errors.js';
import { destructiveStatements } from './sql-scan.js';

/** app/migrations, from src/db (tsx) and dist/db (the build) alike. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** `0001_users_and_access.sql`: four-digit version, lower-case name. */
export const MIGRATION_FILE_NAME = /^(\d{4})_([a-z0-9][a-z0-9_]*)\.sql$/;

/**
 * The session-level advisory lock every runner takes, so two never migrate at once. A fixed, arbitrary
 * 63-bit number; changing it would let an old and a new runner overlap.
 */
export const MIGRATION_LOCK_KEY = 4_372_618_093_312_117_505n;

export interface MigrationFile {
  readonly version: number;
  readonly name: string;
  readonly fileName: string;
  readonly sql: string;
  /** sha256 of the file's bytes, hex. */
  readonly checksum: string;
}

export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
  readonly appliedAt: Date;
  readonly durationMs: number;
}

export interface EditedMigration {
  readonly file: MigrationFile;
  readonly applied: AppliedMigration;
}

/** Where a database stands against this build's migration files. */
export interface MigrationPlan {
  readonly applied: readonly AppliedMigration[];
  /** Files not applied yet, in version order. */
  readonly pending: readonly MigrationFile[];
  /** Applied migrations whose file has changed since: refused. */
  readonly edited: readonly EditedMigration[];
  /** Applied versions this build has no file for: a newer build migrated this database. */
  readonly unknown: readonly AppliedMigration[];
}

/** A migration could not be read, checked, locked or applied; the message says which file and what to do. */
export class MigrationError extends Error {
  override readonly name: string = 'MigrationError';
}

/** Another runner kept the migration lock past `lockTimeoutMs`. */
export class MigrationLockTimeoutError extends MigrationError {
  override readonly name = 'MigrationLockTimeoutError';
}

/** The server refuses to start on a schema older than its code. */
export class PendingMigrationsError extends MigrationError {
  override readonly name = 'PendingMigrationsError';

  constructor(readonly pending: readonly MigrationFile[]) {
    super(
      `the database schema is behind this build: ${pending.length} pending migration${pending.length === 1 ? '' : 's'} ` +
        `(${pending.map((file) => file.fileName).join(', ')}); run "npm run migrate -w app" (or the release's migration job) ` +
        'against this database, then start again',
    );
  }
}

/** Just enough of pg's Client or Pool to read the migration table. */
export interface SqlRunner {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Reads and checks every `NNNN_name.sql` in `dir`, in version order; other files are an error, not ignored. */
export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  let names: string[];
  try {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the migrations directory, from code or the CLI's --dir
    names = await readdir(dir);
  } catch (error) {
    throw new MigrationError(`cannot read the migrations directory ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const files: MigrationFile[] = [];
  for (const fileName of names.sort()) {
    if (fileName.startsWith('.')) continue;
    const match = MIGRATION_FILE_NAME.exec(fileName);
    if (match === null) {
      throw new MigrationError(
        `${join(dir, fileName)} is not a migration file name; name it NNNN_description.sql (four digits, lower-case words joined by _)`,
      );
    }
    const version = Number(match[1]);
    const previous = files.at(-1);
    if (previous?.version === version) {
      throw new MigrationError(`${previous.fileName} and ${fileName} share version ${match[1]}; renumber one of them`);
    }
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- a file listed in the migrations directory
    const sql = await readFile(join(dir, fileName), 'utf8');
    files.push({ version, name: match[2] ?? '', fileName, sql, checksum: sha256(sql) });
  }
  return files;
}

const CREATE_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL
  )`;

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
  duration_ms: number;
}

/** The applied migrations recorded in the database; none when the table does not exist yet. */
export async function appliedMigrations(runner: SqlRunner): Promise<AppliedMigration[]> {
  const { rows: exists } = await runner.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present");
  if ((exists[0] as { present?: boolean } | undefined)?.present !== true) return [];
  const { rows } = await runner.query(
    'SELECT version, name, checksum, applied_at, duration_ms FROM schema_migrations ORDER BY version',
  );
  return (rows as AppliedRow[]).map((row) => ({
    version: row.version,
    name: row.name,
    checksum: row.checksum,
    appliedAt: row.applied_at,
    durationMs: row.duration_ms,
  }));
}

/** Compares the files with what the database recorded. */
export function planMigrations(files: readonly MigrationFile[], applied: readonly AppliedMigration[]): MigrationPlan {
  const appliedByVersion = new Map(applied.map((migration) => [migration.version, migration]));
  const fileVersions = new Set(files.map((file) => file.version));
  const pending: MigrationFile[] = [];
  const edited: EditedMigration[] = [];
  for (const file of files) {
    const record = appliedByVersion.get(file.version);
    if (record === undefined) pending.push(file);
    else if (record.checksum !== file.checksum) edited.push({ file, applied: record });
  }
  return { applied, pending, edited, unknown: applied.filter((migration) => !fileVersions.has(migration.version)) };
}

/** Where the database stands; `runner` may be a pool or a client. */
export async function migrationPlan(runner: SqlRunner, dir: string = MIGRATIONS_DIR): Promise<MigrationPlan> {
  return planMigrations(await readMigrations(dir), await appliedMigrations(runner));
}

/** Problems that stop `migrate up`: an edited migration, or a pending one older than the newest applied. */
export function planProblems(plan: MigrationPlan): string[] {
  const problems = plan.edited.map(
    ({ file, applied }) =>
      `${file.fileName} was edited after it was applied: applied checksum ${applied.checksum}, file checksum ${file.checksum}; ` +
      'restore the applied version of the file and put the change in a new migration',
  );
  const newest = Math.max(0, ...plan.applied.map((migration) => migration.version));
  for (const file of plan.pending) {
    if (file.version < newest) {
      problems.push(
        `${file.fileName} is pending but a later version (${String(newest).padStart(4, '0')}) is already applied; ` +
          'renumber it after the newest applied migration',
      );
    }
  }
  return problems;
}

/** @throws {PendingMigrationsError} when the database lacks migrations this build has. */
export async function assertMigrationsApplied(runner: SqlRunner, dir: string = MIGRATIONS_DIR): Promise<MigrationPlan> {
  const plan = await migrationPlan(runner, dir);
  if (plan.pending.length > 0) throw new PendingMigrationsError(plan.pending);
  return plan;
}

export interface MigrateOptions {
  readonly dir?: string;
  /** Allows DROP, TRUNCATE, ALTER TABLE … DROP COLUMN and DELETE without WHERE. */
  readonly allowDestructive?: boolean;
  /** Give up waiting for another runner's lock after this long; wait for ever when absent. */
  readonly lockTimeoutMs?: number;
  /** One line per step, for a person watching. */
  readonly progress?: (line: string) => void;
}

export interface MigrateResult {
  readonly applied: readonly MigrationFile[];
  readonly plan: MigrationPlan;
}

/** classid/objid of a bigint advisory lock as pg_locks shows it. */
function lockIds(key: bigint): [number, number] {
  return [Number(key >> 32n), Number(key & 0xffff_ffffn)];
}

async function lockHolder(client: Client): Promise<string> {
  const [classid, objid] = lockIds(MIGRATION_LOCK_KEY);
  const { rows } = await client.query<{ pid: number; application_name: string }>(
    `SELECT a.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1`,
    [classid, objid],
  );
  const holder = rows[0];
  return holder === undefined
    ? 'another runner'
    : `another runner (pid ${holder.pid}, ${holder.application_name || 'no application_name'})`;
}

async function acquireLock(client: Client, options: MigrateOptions, say: (line: string) => void): Promise<void> {
  const key = MIGRATION_LOCK_KEY.toString();
  const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key]);
  if (rows[0]?.locked === true) return;
  const holder = await lockHolder(client);
  const { lockTimeoutMs } = options;
  say(
    `${holder} holds the migration lock; waiting${lockTimeoutMs === undefined ? '' : ` up to ${lockTimeoutMs / 1000} s`} for it to finish…`,
  );
  if (lockTimeoutMs !== undefined) {
    await client.query("SELECT set_config('lock_timeout', $1, false)", [`${lockTimeoutMs}ms`]);
  }
  try {
    await client.query('SELECT pg_advisory_lock($1)', [key]);
  } catch (error) {
    if (sqlState(error) === '55P03') {
      throw new MigrationLockTimeoutError(
        `gave up after waiting ${(lockTimeoutMs ?? 0) / 1000} s for the migration lock held by ${holder}; ` +
          'try again once it has finished (if it hung, end it with pg_terminate_backend(pid))',
        { cause: error },
      );
    }
    throw error;
  } finally {
    if (lockTimeoutMs !== undefined)
      await client.query("SELECT set_config('lock_timeout', '0', false)").catch(() => undefined);
  }
}

/** 1-based line of a 1-based character position, to point at the failing statement. */
function lineOf(sql: string, position: unknown): number | undefined {
  const at = Number(position);
  if (!Number.isInteger(at) || at < 1) return undefined;
  return sql.slice(0, at - 1).split('\n').length;
}

async function applyOne(client: Client, file: MigrationFile): Promise<number> {
  const started = performance.now();
  await client.query('BEGIN');
  try {
    // No parameters: pg sends it as one simple query, so the file may hold many statements.
    await client.query(file.sql);
    const durationMs = Math.round(performance.now() - started);
    await client.query('INSERT INTO schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)', [
      file.version,
      file.name,
      file.checksum,
      durationMs,
    ]);
    await client.query('COMMIT');
    return durationMs;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    const pg = error as { message?: string; position?: unknown; hint?: string };
    const line = lineOf(file.sql, pg.position);
    const state = sqlState(error);
    throw new MigrationError(
      `${file.fileName}${line === undefined ? '' : ` line ${line}`} failed: ${pg.message ?? String(error)}` +
        `${state === undefined ? '' : ` (SQLSTATE ${state})`}${pg.hint === undefined ? '' : `; hint: ${pg.hint}`}; ` +
        'nothing of this migration was applied (earlier ones stay); fix the file and run again',
      { cause: error },
    );
  }
}

/**
 * Applies pending migrations in version order, each in its own transaction and recorded in
 * `schema_migrations`, under an advisory lock so concurrent runners take turns.
 * @throws {MigrationError} naming the file: edited after apply, out of order, destructive without permission,
 *   or failed; {@link MigrationLockTimeoutError} when the lock wait outlasts `lockTimeoutMs`.
 */
export async function migrate(connectionString: string, options: MigrateOptions = {}): Promise<MigrateResult> {
  const say = options.progress ?? (() => undefined);
  const files = await readMigrations(options.dir);
  // Migrations may build big indexes: no statement timeout on this session.
  const client = new Client({ connectionString, application_name: 'erp-api-migrate', statement_timeout: 0 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await acquireLock(client, options, say);
    try {
      await client.query(CREATE_TABLE);
      const plan = planMigrations(files, await appliedMigrations(client));
      const problems = planProblems(plan);
      if (problems.length > 0) throw new MigrationError(problems.join('\n'));
      for (const migration of plan.unknown) {
        say(`note: version ${migration.version} (${migration.name}) is applied but this build has no file for it`);
      }
      if (options.allowDestructive !== true) {
        const refused = plan.pending.flatMap((file) =>
          destructiveStatements(file.sql).map((statement) => `${file.fileName}: ${truncate(statement)}`),
        );
        if (refused.length > 0) {
          throw new MigrationError(
            `refusing destructive statements (they drop or delete data):\n  ${refused.join('\n  ')}\n` +
              'review them, then run again with --allow-destructive (or MIGRATE_ALLOW_DESTRUCTIVE=1)',
          );
        }
      }
      if (plan.pending.length === 0) say('database is up to date; nothing to apply');
      const applied: MigrationFile[] = [];
      for (const file of plan.pending) {
        const durationMs = await applyOne(client, file);
        applied.push(file);
        say(`applied ${file.fileName} in ${durationMs} ms (${applied.length}/${plan.pending.length})`);
      }
      return { applied, plan };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

const MAX_STATEMENT_SHOWN = 160;

function truncate(statement: string): string {
  return statement.length > MAX_STATEMENT_SHOWN ? `${statement.slice(0, MAX_STATEMENT_SHOWN)}…` : statement;
}
