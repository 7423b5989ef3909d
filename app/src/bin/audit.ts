import type { DestinationStream } from 'pino';

import {
  AuditCheckpointFormatError,
  auditCheckpointSignatureValid,
  DirectoryAuditCheckpointStore,
  writeAuditCheckpoint,
} from '../components/audit/checkpoint.js';
import type { AuditCheckpointStore, StoredAuditCheckpoint } from '../components/audit/checkpoint.js';
import { S3AuditCheckpointStore } from '../components/audit/s3-checkpoint-store.js';
import type { CheckpointLock } from '../components/audit/s3-checkpoint-store.js';
import { verifyAuditChain } from '../components/audit/verify.js';
import { loadBackupConfig } from '../backup/config.js';
import { BackupStore } from '../backup/store.js';
import { APP_ENVS, ConfigError, LOG_LEVELS, loadDatabaseUrl } from '../config.js';
import type { AppEnv, LogLevel } from '../config.js';
import { createDatabase } from '../db/pool.js';
import { parseCommandLine, parseFlagsAndCommand, readCliConfig, runWhenEntryPoint, UsageError } from './cli.js';
import type { CliIo } from './cli.js';
import { createLogger } from '../logger.js';

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
export const AUDIT_CHECKPOINT_WRITTEN_EVENT = 'audit.checkpoint_written';
/** The `source` field of the checkpoints this command writes. */
export const AUDIT_VERIFY_CHECKPOINT_SOURCE = 'audit-verify';
/** A signing key shorter than this is refused: HMAC-SHA256 wants at least 32 bytes of secret. */
const MIN_SIGNING_KEY_LENGTH = 32;
/** Progress lines come at most this often, so a long run shows it is alive without flooding the log. */
const PROGRESS_EVERY_MS = 5_000;

export const USAGE = `usage: npm run audit -w app -- verify [options]

commands:
  verify                 recompute the hash chain of audit_logs in id order; log audit.integrity_failed with the
                         first broken row's id if any row was changed or removed, or when the chain no longer
                         contains the latest checkpoint (rows cut from the end, or rewritten and re-hashed); when
                         intact, write a new checkpoint (newest id, hash, row count, time) to the checkpoint store

options:
  --read-only            check against the latest checkpoint but write none (e.g. on a restored copy)
  -h, --help             show this help

environment:
  DATABASE_URL           the database to check (required; the app's role is enough: verify only reads)
  AUDIT_CHECKPOINT_DIR   directory of the checkpoint store (files under audit-checkpoints/, written once, 0444);
                         it must be out of reach of the database owner
  BACKUP_BUCKET, BACKUP_* when AUDIT_CHECKPOINT_DIR is unset and BACKUP_BUCKET is set, checkpoints are objects under
                         <BACKUP_PREFIX>audit-checkpoints/ of the backup store (see npm run backup -w app -- --help).
                         Neither set: no checkpoint is read or written
  AUDIT_CHECKPOINT_LOCK_MODE, AUDIT_CHECKPOINT_LOCK_DAYS
                         S3 Object Lock retention of each checkpoint object (GOVERNANCE or COMPLIANCE, and days);
                         the bucket must have Object Lock enabled. Unset: no lock (a local store)
  AUDIT_CHECKPOINT_HMAC_KEY
                         optional key (at least ${MIN_SIGNING_KEY_LENGTH} characters, kept outside the database) that signs every
                         checkpoint written; when set, a checkpoint without a valid signature fails verify
  LOG_LEVEL              fatal, error, warn, info (default), debug, trace or silent
  APP_ENV                dev (default), staging or prod: the env field of each log line

exit codes: 0 chain intact, 1 chain broken or checkpoint missing from it, 64 usage error, 69 database or
            checkpoint store unreachable or unreadable, 78 DATABASE_URL, LOG_LEVEL, APP_ENV or AUDIT_CHECKPOINT_* invalid`;

export type { CliIo } from './cli.js';

interface Invocation {
  readonly command: 'verify';
  readonly readOnly: boolean;
}

function parseInvocation(argv: readonly string[]): Invocation | 'help' {
  const parsed = parseFlagsAndCommand(argv, {
    help: { type: 'boolean', short: 'h' },
    'read-only': { type: 'boolean' },
  });
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
  return { command: 'verify', readOnly: parsed.values['read-only'] === true };
}

/** The checkpoint store and signing key the environment configures; undefined store when none is. */
export function auditCheckpointConfig(env: NodeJS.ProcessEnv): {
  readonly store: AuditCheckpointStore | undefined;
  readonly signingKey: string | undefined;
} {
  const problems: string[] = [];
  const dir = env.AUDIT_CHECKPOINT_DIR;
  if (dir !== undefined && dir !== '' && !dir.startsWith('/')) {
    problems.push(
      `AUDIT_CHECKPOINT_DIR=${JSON.stringify(dir.slice(0, 200))} is not an absolute path; give the checkpoint directory as /path`,
    );
  }
  const key = env.AUDIT_CHECKPOINT_HMAC_KEY;
  if (key !== undefined && key !== '' && key.length < MIN_SIGNING_KEY_LENGTH) {
    problems.push(
      `AUDIT_CHECKPOINT_HMAC_KEY is ${key.length} characters, fewer than ${MIN_SIGNING_KEY_LENGTH}; generate one with \`openssl rand -base64 48\``,
    );
  }
  const mode = env.AUDIT_CHECKPOINT_LOCK_MODE ?? '';
  const days = env.AUDIT_CHECKPOINT_LOCK_DAYS ?? '';
  let lock: CheckpointLock | undefined;
  if (mode !== '' || days !== '') {
    if (mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE')
      problems.push(
        `AUDIT_CHECKPOINT_LOCK_MODE=${JSON.stringify(mode.slice(0, 40))} is invalid: set GOVERNANCE or COMPLIANCE with AUDIT_CHECKPOINT_LOCK_DAYS, or unset both`,
      );
    if (!/^\d{1,4}$/.test(days) || Number(days) < 1)
      problems.push(
        `AUDIT_CHECKPOINT_LOCK_DAYS=${JSON.stringify(days.slice(0, 40))} is invalid: set a whole number of days from 1 to 9999 with AUDIT_CHECKPOINT_LOCK_MODE, or unset both`,
      );
    if (mode === 'GOVERNANCE' || mode === 'COMPLIANCE') lock = { mode, days: Number(days) };
  }
  const useDir = dir !== undefined && dir !== '';
  const useBucket = !useDir && env.BACKUP_BUCKET !== undefined && env.BACKUP_BUCKET !== '';
  let backupStore: BackupStore | undefined;
  if (useBucket) {
    try {
      backupStore = new BackupStore(loadBackupConfig(env).store);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0) {
    backupStore?.destroy();
    throw new ConfigError(problems);
  }
  return {
    store: useDir
      ? new DirectoryAuditCheckpointStore(dir)
      : backupStore === undefined
        ? undefined
        : new S3AuditCheckpointStore(backupStore, lock),
    signingKey: key === undefined || key === '' ? undefined : key,
  };
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
    checkpoints: auditCheckpointConfig(env),
  }));
  if (!config.ok) return config.exitCode;
  const { connectionString, logLevel, appEnv, checkpoints } = config.value;
  const { readOnly } = parsed.value;

  const destination: DestinationStream = { write: (line: string) => io.stdout(line) };
  const logger = createLogger({ logLevel, appEnv }, destination).child({ command: 'audit.verify' });
  const db = createDatabase(
    { connectionString, slowQueryMs: 60_000, applicationName: 'erp-api-audit', maxConnections: 1 },
    logger,
  );
  const started = performance.now();
  let lastProgress = started;
  const { store, signingKey } = checkpoints;
  let latest: StoredAuditCheckpoint | undefined;
  if (store === undefined) {
    logger.warn(
      'no audit checkpoint store configured (AUDIT_CHECKPOINT_DIR or BACKUP_BUCKET): rows cut from the end of the chain, or rewritten with every later hash recomputed, would go unnoticed',
    );
  } else {
    try {
      latest = await store.latest();
    } catch (error) {
      await db.end().catch(() => undefined);
      store.close?.();
      if (error instanceof AuditCheckpointFormatError) {
        logger.error(
          { event: AUDIT_INTEGRITY_FAILED_EVENT, checkpointStore: store.location },
          `audit chain not trusted: ${error.message}; keep the store and this database as evidence and follow the AuditIntegrityFailure runbook`,
        );
        return EXIT.broken;
      }
      logger.error(
        { err: error, checkpointStore: store.location },
        `audit chain not verified: could not read the checkpoint store ${store.location}; check that it exists and this job may read it`,
      );
      return EXIT.unavailable;
    }
    if (
      latest !== undefined &&
      signingKey !== undefined &&
      !auditCheckpointSignatureValid(latest.checkpoint, signingKey)
    ) {
      await db.end().catch(() => undefined);
      store.close?.();
      logger.error(
        { event: AUDIT_INTEGRITY_FAILED_EVENT, checkpoint: latest.key, checkpointStore: store.location },
        `audit chain not trusted: checkpoint ${latest.key} in ${store.location} has no valid signature under AUDIT_CHECKPOINT_HMAC_KEY; it was forged or the key changed; follow the AuditIntegrityFailure runbook`,
      );
      return EXIT.broken;
    }
  }
  try {
    const result = await verifyAuditChain(db, {
      ...(latest === undefined ? {} : { checkpoint: latest.checkpoint }),
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
    if (result.checkpointFailure !== undefined && latest !== undefined && store !== undefined) {
      logger.error(
        {
          event: AUDIT_INTEGRITY_FAILED_EVENT,
          checkpoint: latest.key,
          checkpointStore: store.location,
          checked: result.checked,
          durationMs,
        },
        `audit chain broken: it no longer contains checkpoint ${latest.key} of ${store.location}: ${result.checkpointFailure}; keep this database as evidence and follow the AuditIntegrityFailure runbook`,
      );
      return EXIT.broken;
    }
    logger.info(
      {
        event: AUDIT_VERIFIED_EVENT,
        checked: result.checked,
        durationMs,
        ...(latest === undefined ? {} : { checkpoint: latest.key }),
      },
      `audit chain intact: ${result.reason}`,
    );
    if (store !== undefined && !readOnly) {
      try {
        const written = await writeAuditCheckpoint(
          store,
          { seq: result.lastId ?? '0', hash: result.lastHash ?? null, rows: result.checked },
          AUDIT_VERIFY_CHECKPOINT_SOURCE,
          signingKey,
        );
        logger.info(
          {
            event: AUDIT_CHECKPOINT_WRITTEN_EVENT,
            checkpoint: written.key,
            checkpointStore: store.location,
            seq: written.checkpoint.seq,
            signed: signingKey !== undefined,
          },
          `audit checkpoint ${written.key} written to ${store.location}`,
        );
      } catch (error) {
        logger.error(
          { err: error, checkpointStore: store.location },
          `audit chain intact but no checkpoint written to ${store.location}; check that the store is reachable and this job may write to it`,
        );
        return EXIT.unavailable;
      }
    }
    return EXIT.ok;
  } catch (error) {
    logger.error(
      { err: error },
      'audit chain not verified: could not read audit_logs; check DATABASE_URL, that PostgreSQL is up and that the role may SELECT audit_logs',
    );
    return EXIT.unavailable;
  } finally {
    await db.end().catch(() => undefined);
    store?.close?.();
  }
}

runWhenEntryPoint(import.meta.url, 'audit', runAuditCli, EXIT.unavailable);
