import { parseArgs } from 'node:util';

import type { DestinationStream } from 'pino';

import { verifyAuditChain } from './components/audit/verify.js';
import { APP_ENVS, ConfigError, LOG_LEVELS, loadDatabaseUrl } from './config.js';
import type { AppEnv, LogLevel } from './config.js';
import { createDatabase } from './db/pool.js';
import { parseCommandLine, readCliConfig, runWhenEntryPoint, UsageError } from './cli.js';
import type { CliIo } from './cli.js';
import { createLogger } from './logger.js';

/**
 * sysexits.h codes, as the migration CLI uses them. A broken chain (1) and an unreachable database (69) differ, so
 * a CronJob's failure says which one to chase; the alert itself comes from the `audit.integrity_failed` log line.
 */
export const EXIT = {
  ok: 0,
  broken: 1,
  usage: 64,
  /** EX_UNAVAILABLE: the database could not be reached or read; nothing was concluded about the chain. */
  unavailable: 69,
  config: 78,
} as const;

/** The `event` field of the log line Loki's AuditIntegrityFailure alert matches (monitoring/src/loki.ts). */
export const AUDIT_INTEGRITY_FAILED_EVENT = 'audit.integrity_failed';
export const AUDIT_VERIFIED_EVENT = 'audit.verified';
/** Progress lines come at most this often, so a long run shows it is alive without flooding the log. */
const PROGRESS_EVERY_MS = 5_000;

export const USAGE = `usage: npm run audit -w app -- verify [options]

commands:
  verify                 recompute the hash chain of audit_logs in id order; log audit.integrity_failed with the
                         first broken row's id if any row was changed or removed

options:
  -h, --help             show this help

environment:
  DATABASE_URL           the database to check (required; the app's role is enough: verify only reads)
  LOG_LEVEL              fatal, error, warn, info (default), debug, trace or silent
  APP_ENV                dev (default), staging or prod: the env field of each log line

exit codes: 0 chain intact, 1 chain broken, 64 usage error, 69 database unreachable or unreadable,
            78 DATABASE_URL, LOG_LEVEL or APP_ENV invalid`;

export type { CliIo } from './cli.js';

function parseInvocation(argv: readonly string[]): 'verify' | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: { help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.values.help === true) return 'help';
  const { positionals } = parsed;
  if (positionals.length !== 1)
    throw new UsageError(
      positionals.length === 0
        ? 'no command given; use verify'
        : `expected one command, got ${positionals.map((p) => JSON.stringify(p)).join(' ')}`,
    );
  if (positionals[0] !== 'verify')
    throw new UsageError(`unknown command ${JSON.stringify(positionals[0])}; use verify`);
  return 'verify';
}

function oneOf<T extends string>(name: string, allowed: readonly T[], value: string | undefined, fallback: T): T {
  if (value === undefined || value === '') return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError([
    `${name}=${JSON.stringify(value.slice(0, 40))} is invalid: must be one of ${allowed.join(', ')}; set it to one, or unset it for ${fallback}`,
  ]);
}

/** The audit CLI as a function: parses `argv`, runs, writes to `io` and returns the exit code. */
export async function runAuditCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  // io.stdout takes the log lines (pino JSON), one per call
  const parsed = parseCommandLine('audit', USAGE, io, () => parseInvocation(argv));
  if (!parsed.ok) return parsed.exitCode;
  const config = readCliConfig(io, () => ({
    connectionString: loadDatabaseUrl(env),
    logLevel: oneOf<LogLevel>('LOG_LEVEL', LOG_LEVELS, env.LOG_LEVEL, 'info'),
    appEnv: oneOf<AppEnv>('APP_ENV', APP_ENVS, env.APP_ENV, 'dev'),
  }));
  if (!config.ok) return config.exitCode;
  const { connectionString, logLevel, appEnv } = config.value;

  const destination: DestinationStream = { write: (line: string) => io.stdout(line) };
  const logger = createLogger({ logLevel, appEnv }, destination).child({ command: 'audit.verify' });
  const db = createDatabase(
    { connectionString, slowQueryMs: 60_000, applicationName: 'erp-api-audit', maxConnections: 1 },
    logger,
  );
  const started = performance.now();
  let lastProgress = started;
  try {
    const result = await verifyAuditChain(db, {
      onProgress: ({ checked, lastId }) => {
        const now = performance.now();
        if (now - lastProgress < PROGRESS_EVERY_MS) return;
        lastProgress = now;
        logger.info({ checked, lastId }, `audit chain: ${checked} rows checked so far`);
      },
    });
    const durationMs = Math.round(performance.now() - started);
    if (result.firstBrokenId !== undefined) {
      logger.error(
        {
          event: AUDIT_INTEGRITY_FAILED_EVENT,
          firstBrokenId: result.firstBrokenId,
          checked: result.checked,
          durationMs,
        },
        `audit chain broken: ${result.reason}; keep this database as evidence and follow the AuditIntegrityFailure runbook`,
      );
      return EXIT.broken;
    }
    logger.info(
      { event: AUDIT_VERIFIED_EVENT, checked: result.checked, durationMs },
      `audit chain intact: ${result.reason}`,
    );
    return EXIT.ok;
  } catch (error) {
    logger.error(
      { err: error },
      'audit chain not verified: could not read audit_logs; check DATABASE_URL, that PostgreSQL is up and that the role may SELECT audit_logs',
    );
    return EXIT.unavailable;
  } finally {
    await db.end().catch(() => undefined);
  }
}

runWhenEntryPoint(import.meta.url, 'audit', runAuditCli, EXIT.unavailable);
