import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

import { Client, escapeIdentifier, escapeLiteral } from 'pg';

import { ConfigError, loadDatabaseUrl } from '../config.js';
import {
  MIGRATIONS_DIR,
  MigrationError,
  MigrationLockTimeoutError,
  migrate,
  migrationPlan,
  planProblems,
} from '../db/migrations.js';
import type { MigrationPlan } from '../db/migrations.js';
import { formatTable } from '../backup/report.js';
import { breakingStatements, type BreakingStatement } from '../db/sql-scan.js';
import { parseCommandLine, parseFlagsAndCommand, readCliConfig, runWhenEntryPoint, UsageError } from './cli.js';
import type { CliIo } from './cli.js';

/** sysexits.h codes, so scripts and the orchestrator can tell a usage mistake from a failed migration. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 64,
  /** EX_TEMPFAIL: another runner held the lock too long; trying again later is the fix. */
  lockTimeout: 75,
  config: 78,
} as const;

export const USAGE = `usage: npm run migrate -w app -- [up | status | plan] [options]

commands:
  up (default)           apply pending migrations in order, each in its own transaction
  status                 list applied and pending migrations
  plan                   the pending migrations and the statements in them that break the version still
                         running (drops, renames, type changes, NOT NULL without a default); applies nothing

options:
  --allow-destructive    allow DROP, TRUNCATE, ALTER TABLE … DROP COLUMN and DELETE without WHERE
                         (or set MIGRATE_ALLOW_DESTRUCTIVE=1)
  --lock-timeout <s>     give up after waiting <s> seconds for another runner's lock (default: wait)
  --dir <path>           migrations directory (default: app/migrations)
  --json                 plan: print one JSON document instead of a table
  -h, --help             show this help

environment:
  DATABASE_URL           the database to migrate (required)
  APP_DATABASE_PASSWORD  after migrating, let APP_DATABASE_ROLE log in with this password (optional;
                         at least 16 printable ASCII characters; sent as a SCRAM-SHA-256 verifier, never logged)
  APP_DATABASE_ROLE      the app's least-privilege role (default erp_app)
  AUDIT_DATABASE_PASSWORD
                         the same for AUDIT_DATABASE_ROLE (optional)
  AUDIT_DATABASE_ROLE    the read-only role \`audit verify\` logs in as (default erp_audit_reader)

exit codes: 0 done, 1 a migration failed or was refused, 64 usage error, 75 lock wait timed out,
            78 DATABASE_URL missing or invalid`;

export type { CliIo } from './cli.js';

interface Invocation {
  readonly command: 'up' | 'status' | 'plan';
  readonly allowDestructive: boolean;
  readonly json: boolean;
  readonly lockTimeoutMs: number | undefined;
  readonly dir: string;
}

const MAX_LOCK_TIMEOUT_S = 86_400;

function parseInvocation(argv: readonly string[], env: NodeJS.ProcessEnv): Invocation | 'help' {
  const parsed = parseFlagsAndCommand(argv, {
    'allow-destructive': { type: 'boolean' },
    'lock-timeout': { type: 'string' },
    dir: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const { values, positionals } = parsed;
  if (values.help === true) return 'help';
  if (positionals.length > 1)
    throw new UsageError(`expected one command, got ${positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  const command = positionals[0] ?? 'up';
  if (command !== 'up' && command !== 'status' && command !== 'plan') {
    throw new UsageError(`unknown command ${JSON.stringify(command)}; use up, status or plan`);
  }
  if (values.json === true && command !== 'plan') throw new UsageError(`--json applies to plan, not ${command}`);

  let lockTimeoutMs: number | undefined;
  const lockTimeout = values['lock-timeout'];
  if (lockTimeout !== undefined) {
    if (!/^\d{1,6}$/.test(lockTimeout) || Number(lockTimeout) > MAX_LOCK_TIMEOUT_S) {
      throw new UsageError(
        `--lock-timeout ${JSON.stringify(lockTimeout)} is invalid: give whole seconds from 0 to ${MAX_LOCK_TIMEOUT_S}`,
      );
    }
    lockTimeoutMs = Number(lockTimeout) * 1000;
  }

  const fromEnv = env.MIGRATE_ALLOW_DESTRUCTIVE ?? '';
  if (!['', '0', '1', 'false', 'true'].includes(fromEnv)) {
    throw new UsageError(
      `MIGRATE_ALLOW_DESTRUCTIVE=${JSON.stringify(fromEnv)} is invalid: set it to 1 to allow, or unset it`,
    );
  }
  const allowDestructive = values['allow-destructive'] === true || fromEnv === '1' || fromEnv === 'true';
  return { command, allowDestructive, json: values.json === true, lockTimeoutMs, dir: values.dir ?? MIGRATIONS_DIR };
}

function statusTable(plan: MigrationPlan): string {
  const rows: string[][] = [['version', 'name', 'state', 'applied at', 'took']];
  const edited = new Map(plan.edited.map((entry) => [entry.file.version, entry]));
  for (const migration of plan.applied) {
    const state = edited.has(migration.version)
      ? 'EDITED'
      : plan.unknown.includes(migration)
        ? 'applied (no file)'
        : 'applied';
    rows.push([
      String(migration.version).padStart(4, '0'),
      migration.name,
      state,
      migration.appliedAt.toISOString(),
      `${migration.durationMs} ms`,
    ]);
  }
  for (const file of plan.pending) rows.push([String(file.version).padStart(4, '0'), file.name, 'pending', '', '']);
  return formatTable(rows);
}

async function status(connectionString: string, dir: string, io: CliIo): Promise<number> {
  const client = new Client({ connectionString, application_name: 'erp-api-migrate' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const plan = await migrationPlan(client, dir);
    io.stdout(`${statusTable(plan)}\n`);
    io.stdout(`${plan.applied.length} applied, ${plan.pending.length} pending\n`);
    const problems = planProblems(plan);
    for (const problem of problems) io.stderr(`migrate: ${problem}\n`);
    return problems.length > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** What `plan --json` prints: the pending migrations, each with the statements that break the running version. */
export interface PendingPlan {
  readonly applied: number;
  readonly pending: readonly {
    readonly version: number;
    readonly fileName: string;
    readonly checksum: string;
    readonly breaking: readonly BreakingStatement[];
  }[];
  /** Why `up` would refuse to run (an edited or out-of-order migration). */
  readonly problems: readonly string[];
}

export function pendingPlan(plan: MigrationPlan): PendingPlan {
  return {
    applied: plan.applied.length,
    pending: plan.pending.map((file) => ({
      version: file.version,
      fileName: file.fileName,
      checksum: file.checksum,
      breaking: breakingStatements(file.sql),
    })),
    problems: planProblems(plan),
  };
}

async function planCommand(connectionString: string, dir: string, json: boolean, io: CliIo): Promise<number> {
  const client = new Client({ connectionString, application_name: 'erp-api-migrate' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const plan = pendingPlan(await migrationPlan(client, dir));
    if (json) io.stdout(`${JSON.stringify(plan)}\n`);
    else {
      for (const file of plan.pending) {
        io.stdout(
          `${file.fileName}: ${file.breaking.length === 0 ? 'safe beside the running version' : 'BREAKS the running version'}\n`,
        );
        for (const found of file.breaking) io.stdout(`  ${found.statement}\n    ${found.reason}\n`);
      }
      io.stdout(`${plan.applied} applied, ${plan.pending.length} pending\n`);
      for (const problem of plan.problems) io.stderr(`migrate: ${problem}\n`);
    }
    return plan.problems.length > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A least-privilege role that `migrate` turns into a login, and its password. */
interface RoleLogin {
  readonly role: string;
  readonly password: string;
  readonly passwordVariable: string;
  /** How to make a role of another name, for the error message. */
  readonly madeBy: string;
}

// A plain lower-case identifier: the name is also quoted, but nothing odd should reach ALTER ROLE at all.
const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
// Printable ASCII is its own SASLprep form, so the verifier computed here is the one PostgreSQL would compute.
const LOGIN_PASSWORD = /^[\x20-\x7e]{16,1024}$/;
const SCRAM_ITERATIONS = 4096;

/** The logins `migrate up` may set: the app's, and the audit verifier's read-only one. */
const LOGINS = [
  {
    passwordVariable: 'APP_DATABASE_PASSWORD',
    roleVariable: 'APP_DATABASE_ROLE',
    defaultRole: 'erp_app',
    purpose: "the app's login role",
    madeBy: 'erp_app is made by 0001; create any other as a member of erp_app',
  },
  {
    passwordVariable: 'AUDIT_DATABASE_PASSWORD',
    roleVariable: 'AUDIT_DATABASE_ROLE',
    defaultRole: 'erp_audit_reader',
    purpose: "audit verify's read-only role",
    madeBy: 'erp_audit_reader is made by 0008; create any other as a member of erp_audit_reader',
  },
] as const;

/** Each login whose password variable is set, checked; all problems at once. */
function loginsFromEnv(env: NodeJS.ProcessEnv): RoleLogin[] {
  const problems: string[] = [];
  const logins: RoleLogin[] = [];
  for (const spec of LOGINS) {
    const password = env[spec.passwordVariable] ?? '';
    if (password.length === 0) continue;
    const given = env[spec.roleVariable];
    const role = given === undefined || given === '' ? spec.defaultRole : given;
    if (!ROLE_NAME.test(role)) {
      problems.push(
        `${spec.roleVariable}=${JSON.stringify(role.slice(0, 80))} is invalid: must match ^[a-z_][a-z0-9_]{0,62}$ (a lower-case PostgreSQL role name); set it to ${spec.purpose}, or unset it to use ${spec.defaultRole}`,
      );
    }
    if (!LOGIN_PASSWORD.test(password)) {
      problems.push(
        `${spec.passwordVariable}="[redacted]" is invalid (it is ${password.length} characters long): must be 16 to 1024 printable ASCII characters; set it to the output of \`openssl rand -base64 32\``,
      );
    }
    logins.push({ role, password, passwordVariable: spec.passwordVariable, madeBy: spec.madeBy });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return logins;
}

/** The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 7677), as `\\password` in psql sends it. */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(password, salt, SCRAM_ITERATIONS, 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * ALTER ROLE … LOGIN PASSWORD with a pre-computed verifier, so the plain password never reaches the server, its
 * statement log or pg_stat_statements.
 */
async function setLogin(connectionString: string, login: RoleLogin): Promise<void> {
  const client = new Client({ connectionString, application_name: 'erp-api-migrate' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(
      `ALTER ROLE ${escapeIdentifier(login.role)} LOGIN PASSWORD ${escapeLiteral(scramSha256Verifier(login.password))}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The migration CLI as a function: parses `argv`, runs, writes to `io` and returns the exit code. */
export async function runMigrateCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const parsed = parseCommandLine('migrate', USAGE, io, () => parseInvocation(argv, env));
  if (!parsed.ok) return parsed.exitCode;
  const invocation = parsed.value;
  const config = readCliConfig(io, () => ({
    connectionString: loadDatabaseUrl(env),
    logins: invocation.command === 'up' ? loginsFromEnv(env) : [],
  }));
  if (!config.ok) return config.exitCode;
  const { connectionString, logins } = config.value;

  try {
    if (invocation.command === 'status') return await status(connectionString, invocation.dir, io);
    if (invocation.command === 'plan') return await planCommand(connectionString, invocation.dir, invocation.json, io);
    const result = await migrate(connectionString, {
      dir: invocation.dir,
      allowDestructive: invocation.allowDestructive,
      ...(invocation.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: invocation.lockTimeoutMs }),
      progress: (line) => io.stdout(`${line}\n`),
    });
    const latest = result.plan.applied.at(-1)?.version ?? 0;
    const version = Math.max(latest, ...result.applied.map((file) => file.version));
    io.stdout(`done: ${result.applied.length} applied; database at version ${String(version).padStart(4, '0')}\n`);
    for (const login of logins) {
      try {
        await setLogin(connectionString, login);
      } catch (error) {
        io.stderr(
          `migrate: could not let role ${login.role} log in: ${(error as Error).message}; the migration user needs CREATEROLE, and the role must exist (${login.madeBy})\n`,
        );
        return EXIT.failed;
      }
      io.stdout(`role ${login.role} may now log in with ${login.passwordVariable}\n`);
    }
    return EXIT.ok;
  } catch (error) {
    if (error instanceof MigrationLockTimeoutError) {
      io.stderr(`migrate: ${error.message}\n`);
      return EXIT.lockTimeout;
    }
    if (error instanceof MigrationError) {
      io.stderr(`migrate: ${error.message}\n`);
      return EXIT.failed;
    }
    // Connection refused, bad password and the like: say so without a stack trace.
    io.stderr(
      `migrate: could not reach the database: ${(error as Error).message}; check DATABASE_URL and that PostgreSQL is up\n`,
    );
    return EXIT.failed;
  }
}

runWhenEntryPoint(import.meta.url, 'migrate', runMigrateCli, EXIT.failed);
