import { readFileSync } from 'node:fs';

import { Redis } from 'ioredis';

import { PermissionCache } from '../components/access/cache.js';
import { ROLE_NAME_PATTERN } from '../components/access/schemas.js';
import { AccessService } from '../components/access/service.js';
import type { PermissionInvalidator } from '../components/access/service.js';
import { findUserIdByEmail } from '../components/access/repository.js';
import { AuditLog } from '../components/audit/log.js';
import { grantRole, insertUser } from '../components/auth/repository.js';
import { newPasswordSchema, PasswordHasher } from '../components/auth/passwords.js';
import { DEFAULT_ROLE } from '../components/auth/service.js';
import { ConfigError, loadDatabaseUrl, loadPasswordPepper } from '../config.js';
import { createDatabase } from '../db/pool.js';
import type { Database } from '../db/pool.js';
import { withTransaction } from '../db/transaction.js';
import { parseCommandLine, parseFlagsAndCommand, readCliConfig, runWhenEntryPoint, UsageError } from './cli.js';
import type { CliIo } from './cli.js';
import { AppError, ServiceUnavailableError } from '../errors.js';
import { createLogger } from '../logger.js';
import type { Logger } from '../logger.js';
import { Metrics } from '../observability/metrics.js';

/** sysexits.h codes, as the migration CLI uses them. */
export const EXIT = { ok: 0, failed: 1, usage: 64, config: 78 } as const;

export const USAGE = `usage: npm run admin -w app -- <command> --email <email> --role <role>
       npm run admin -w app -- create-user --email <email> --username <name> --password-file <file|-> [--role <role>]

commands:
  grant-role             give the account the role (e.g. the first administrator: --role admin)
  revoke-role            take the role from the account
  create-user            make the account (role customer) unless one has the email, then grant --role if given;
                         for the first administrator, without the public and rate-limited sign-up

options:
  --email <email>        the account, by its email (case-insensitive); it must have registered
  --role <role>          a role name: admin, manager, customer (GET /api/v1/roles lists them)
  --username <name>      create-user: the new account's username
  --password-file <file> create-user: a file whose first line is the password (- reads standard input), so it
                         never appears in the process list; an existing account keeps its password
  -h, --help             show this help

environment:
  DATABASE_URL           the service's database (required)
  REDIS_URL              the service's Redis (optional): when set, the account's cached permissions are
                         dropped so the change applies to its next request; otherwise within 5 minutes
  PASSWORD_PEPPER        create-user: the service's pepper (required), so the account can sign in

exit codes: 0 done (also when nothing had to change), 1 failed (unknown account or role, database error),
            64 usage error, 78 DATABASE_URL, REDIS_URL or PASSWORD_PEPPER missing or invalid`;

export type { CliIo } from './cli.js';

type Invocation =
  | { readonly command: 'grant-role' | 'revoke-role'; readonly email: string; readonly role: string }
  | {
      readonly command: 'create-user';
      readonly email: string;
      readonly username: string;
      readonly passwordFile: string;
      readonly role: string | undefined;
    };

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/;

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,253}$/;
// Long enough to connect and send one MULTI; a Redis that does not answer by then is reported, not waited for.
const REDIS_CONNECT_TIMEOUT_MS = 2_000;

function parseInvocation(argv: readonly string[]): Invocation | 'help' {
  const parsed = parseFlagsAndCommand(argv, {
    email: { type: 'string' },
    role: { type: 'string' },
    username: { type: 'string' },
    'password-file': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const { values, positionals } = parsed;
  if (values.help === true) return 'help';
  if (positionals.length !== 1) {
    throw new UsageError(
      `expected one command (grant-role, revoke-role or create-user), got ${positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ')}`,
    );
  }
  const command = positionals[0];
  if (command !== 'grant-role' && command !== 'revoke-role' && command !== 'create-user') {
    throw new UsageError(`unknown command ${JSON.stringify(command)}; use grant-role, revoke-role or create-user`);
  }
  const { email, role, username } = values;
  const passwordFile = values['password-file'];
  if (email === undefined || !EMAIL.test(email)) {
    throw new UsageError(
      `--email ${email === undefined ? 'is missing' : `${JSON.stringify(email.slice(0, 80))} is not an email address`}; give the account's email, e.g. --email ada@example.com`,
    );
  }
  if (command === 'create-user') {
    if (username === undefined || !USERNAME.test(username)) {
      throw new UsageError(
        `--username ${username === undefined ? 'is missing' : `${JSON.stringify(username.slice(0, 80))} is not a username`}; give 3 to 64 letters, digits, dots, underscores or dashes, e.g. --username ada`,
      );
    }
    if (passwordFile === undefined || passwordFile === '') {
      throw new UsageError('--password-file is missing; give a file holding the password, or - for standard input');
    }
    if (role !== undefined && !ROLE_NAME_PATTERN.test(role)) {
      throw new UsageError(
        `--role ${JSON.stringify(role.slice(0, 80))} is not a role name; give a role such as --role admin`,
      );
    }
    return { command, email, username, passwordFile, role };
  }
  if (role === undefined || !ROLE_NAME_PATTERN.test(role)) {
    throw new UsageError(
      `--role ${role === undefined ? 'is missing' : `${JSON.stringify(role.slice(0, 80))} is not a role name`}; give a role such as --role admin`,
    );
  }
  return { command, email, role };
}

/** REDIS_URL when set; a value that is not a redis:// or rediss:// URL is a config error. */
function redisUrlFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const value = env.REDIS_URL ?? '';
  if (value === '') return undefined;
  let protocol: string | undefined;
  try {
    protocol = new URL(value).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new ConfigError([
      'REDIS_URL is invalid: must be a redis:// or rediss:// URL such as redis://localhost:6379; fix it or unset it to skip cache invalidation',
    ]);
  }
  return value;
}

/** Drops cached permissions through Redis; the CLI's only use of Redis, so it connects lazily and briefly. */
async function connectInvalidator(
  url: string,
  logger: Logger,
): Promise<{ cache: PermissionInvalidator; close: () => void }> {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    lazyConnect: true,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectionName: 'erp-api-admin',
  });
  redis.on('error', () => undefined);
  await redis.connect();
  const cache = new PermissionCache({
    db: { query: () => Promise.reject(new Error('the admin CLI reads no permissions')) },
    redis,
    metrics: new Metrics({ defaultMetrics: false }),
    logger,
    redisTimeoutMs: REDIS_CONNECT_TIMEOUT_MS / 4,
  });
  return { cache, close: () => redis.disconnect() };
}

/** The first line of `file` (`-`: standard input), checked as the API checks a new password. */
function readPassword(file: string): { ok: true; password: string } | { ok: false; problem: string } {
  let text: string;
  try {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the operator names the file on the command line
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    return { ok: false, problem: `cannot read --password-file ${file}: ${(error as Error).message}` };
  }
  const password = text.split(/\r?\n/)[0] ?? '';
  const checked = newPasswordSchema.safeParse(password);
  if (!checked.success) {
    return {
      ok: false,
      problem: `the password in --password-file ${file} is refused: it ${checked.error.issues[0]?.message ?? 'is invalid'}`,
    };
  }
  return { ok: true, password };
}

/** Makes the account with the default role unless one has the email; an existing one is left as it is. */
async function createUser(
  db: Database,
  user: { readonly email: string; readonly username: string; readonly password: string },
  passwords: PasswordHasher,
): Promise<{ created: boolean; userId: string }> {
  const existing = await findUserIdByEmail(db, user.email);
  if (existing !== undefined) return { created: false, userId: existing };
  const passwordHash = await passwords.hash(user.password);
  const created = await withTransaction(
    db,
    async (tx) => {
      const row = await insertUser(tx, { email: user.email, username: user.username, passwordHash });
      if (!(await grantRole(tx, row.id, DEFAULT_ROLE))) {
        throw new Error(`role ${DEFAULT_ROLE} is missing; the seed migration 0005 has not been applied`);
      }
      return row;
    },
    { name: 'admin.createUser' },
  );
  return { created: true, userId: created.id };
}

/** The admin CLI as a function: parses `argv`, runs, writes to `io` and returns the exit code. */
export async function runAdminCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const parsed = parseCommandLine('admin', USAGE, io, () => parseInvocation(argv));
  if (!parsed.ok) return parsed.exitCode;
  const invocation = parsed.value;
  const config = readCliConfig(io, () => ({
    connectionString: loadDatabaseUrl(env),
    redisUrl: redisUrlFromEnv(env),
    pepper: invocation.command === 'create-user' ? loadPasswordPepper(env) : undefined,
  }));
  if (!config.ok) return config.exitCode;
  const { connectionString, redisUrl, pepper } = config.value;
  let password: string | undefined;
  if (invocation.command === 'create-user') {
    const read = readPassword(invocation.passwordFile);
    if (!read.ok) {
      io.stderr(`admin: ${read.problem}\n${USAGE}\n`);
      return EXIT.usage;
    }
    password = read.password;
  }

  // Warnings and errors (a failed invalidation) go to stderr as JSON lines, like the service's.
  const logger = createLogger({ logLevel: 'warn', appEnv: 'dev' }, { write: (line: string) => io.stderr(line) });
  const db = createDatabase({ connectionString, slowQueryMs: 60_000, applicationName: 'erp-api-admin' }, logger);
  let invalidator: { cache: PermissionInvalidator; close: () => void } | undefined;
  try {
    if (invocation.command === 'create-user' && pepper !== undefined && password !== undefined) {
      const created = await createUser(db, { ...invocation, password }, new PasswordHasher(pepper));
      io.stdout(
        created.created
          ? `created ${invocation.email} (user ${created.userId}) with role ${DEFAULT_ROLE}\n`
          : `${invocation.email} (user ${created.userId}) already exists; its password is unchanged\n`,
      );
      if (invocation.role === undefined) return EXIT.ok;
    }
    const userId = await findUserIdByEmail(db, invocation.email);
    if (userId === undefined) {
      io.stderr(
        `admin: no account has the email ${invocation.email}; register it first (POST /api/v1/auth/register)\n`,
      );
      return EXIT.failed;
    }
    if (redisUrl !== undefined) {
      try {
        invalidator = await connectInvalidator(redisUrl, logger);
      } catch (error) {
        io.stderr(
          `admin: could not reach Redis (${(error as Error).message}); the change applies once cached permissions expire (at most 5 minutes)\n`,
        );
      }
    }
    const service = new AccessService({
      db,
      cache: invalidator?.cache ?? { invalidateUsers: () => Promise.resolve() },
      audit: new AuditLog(),
    });
    const actor = { source: 'admin-cli', log: logger };
    if (invocation.command === 'grant-role' || invocation.command === 'create-user') {
      const role = invocation.role ?? DEFAULT_ROLE;
      const { granted } = await service.grantRole(userId, role, actor);
      io.stdout(
        granted
          ? `granted role ${role} to ${invocation.email} (user ${userId})\n`
          : `${invocation.email} (user ${userId}) already has role ${role}; nothing changed\n`,
      );
    } else {
      await service.revokeRole(userId, invocation.role, actor);
      io.stdout(`${invocation.email} (user ${userId}) no longer has role ${invocation.role}\n`);
    }
    return EXIT.ok;
  } catch (error) {
    if (error instanceof AppError && !(error instanceof ServiceUnavailableError)) {
      io.stderr(`admin: ${error.message}\n`);
      return EXIT.failed;
    }
    // Connection refused, bad password and the like: say so without a stack trace.
    const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
    io.stderr(
      `admin: could not reach the database: ${(error as Error).message}${cause}; check DATABASE_URL and that PostgreSQL is up\n`,
    );
    return EXIT.failed;
  } finally {
    invalidator?.close();
    await db.end().catch(() => undefined);
  }
}

runWhenEntryPoint(import.meta.url, 'admin', runAdminCli, EXIT.failed);
