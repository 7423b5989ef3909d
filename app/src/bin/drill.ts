import { randomBytes } from 'node:crypto';

import { Client, escapeIdentifier } from 'pg';

import { auditCheckpointConfig } from './audit.js';
import { pushNamespace } from './backup-cli.js';
import { loadBackupConfig } from '../backup/config.js';
import { formatTable, seconds } from '../backup/report.js';
import { restoreBackup } from '../backup/restore.js';
import { withDatabase } from '../backup/postgres.js';
import { BackupStore } from '../backup/store.js';
import { listBaseBackups, pointInTimeRestore } from '../backup/wal.js';
import { parseCommandLine, parseFlags, readCliConfig, runWhenEntryPoint } from './cli.js';
import type { CliIo } from './cli.js';
import { auditCheckpointSignatureValid } from '../components/audit/checkpoint.js';
import { verifyAuditChain } from '../components/audit/verify.js';
import { ConfigError, loadConfig } from '../config.js';
import { createDatabase } from '../db/pool.js';
import { createLogger } from '../logger.js';
import { freePort } from '../net.js';
import { PUSHED_METRICS, PUSH_JOBS } from '../observability/metric-catalogue.js';
import { pushMetrics } from '../observability/push.js';
import { startServer } from './server.js';

/** sysexits.h codes: a failed check (1) differs from a drill that could not run (69). */
export const EXIT = { ok: 0, failed: 1, usage: 64, unavailable: 69, config: 78 } as const;

/** The scratch database the drill restores into unless told otherwise. */
export const DRILL_DATABASE = 'erp_restore_drill';
/** How long the app may take to report ready against the restored database. */
const READY_TIMEOUT_MS = 60_000;

export const USAGE = `usage: npm run drill [-- options]        (the image: erp-api drill [options])

The restore drill: restores the newest backup (or --from) into a scratch database on DATABASE_URL's server and
proves it usable: every object's sha256 against the manifest, migration checksums, row counts and the audit head
against the manifest, the audit chain verified end to end and containing the newest checkpoint at or below the
backup's head, and the app reporting ready (GET /health/ready) against the restored database. Where the store
holds a base backup and archived WAL (the local platform's PostgreSQL archives), it then applies point-in-time
recovery into <database>_pitr: the newest base backup replays every archived WAL file, and its audit chain is
verified. It measures the RTO (wall time from start until all of that passed) and the RPO (drill start minus the
newest change restored: the last transaction WAL replay applied, or the logical backup's newest row), prints a
table, pushes the results to the Pushgateway, and drops the scratch databases.

options:
  --from <id|latest>     the backup to restore (default latest)
  --into <database>      the scratch database (default ${DRILL_DATABASE}); replaced if it exists
  --scratch-dir <path>   where the dump (and a base backup for PITR) is unpacked (default: the OS temp directory)
  --keep                 keep the scratch database afterwards (to look at it)
  --json                 print the result as JSON instead of a table
  -h, --help             show this help

environment:
  DATABASE_URL           the server to restore on (a role that may create and drop databases); never overwritten
  BACKUP_*, AWS_*        the backup store, as for erp-api backup (npm run backup -w app -- --help)
  AUDIT_CHECKPOINT_*     the checkpoint store, as for audit verify (default: the backup store)
  REDIS_URL              the Redis the app's readiness check needs (a drill only PINGs it)
  PUSHGATEWAY_URL        where the results are pushed (job ${PUSH_JOBS.restoreDrill}); unset: no push
  PUSH_NAMESPACE         the namespace label of the push (default local)

exit codes: 0 every check passed, 1 a check failed (the table says which), 64 usage error, 69 the drill could not
            run (store or server unreachable), 78 configuration invalid`;

interface Invocation {
  readonly from: string;
  readonly into: string;
  readonly scratchDir: string | undefined;
  readonly keep: boolean;
  readonly json: boolean;
}

function parseInvocation(argv: readonly string[]): Invocation | 'help' {
  const flags = parseFlags(argv, {
    from: { type: 'string' },
    into: { type: 'string' },
    'scratch-dir': { type: 'string' },
    keep: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flags.help === true) return 'help';
  return {
    from: flags.from ?? 'latest',
    into: flags.into ?? DRILL_DATABASE,
    scratchDir: flags['scratch-dir'],
    keep: flags.keep === true,
    json: flags.json === true,
  };
}

/** One check of the drill and what it found. */
export interface DrillCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface DrillResult {
  readonly backupId: string;
  readonly checks: readonly DrillCheck[];
  readonly ok: boolean;
  /** Wall time from the drill's start until the last check passed (or failed). */
  readonly rtoSeconds: number;
  /** The drill's start minus the newest change in the restored data; undefined when the data has no timestamps. */
  readonly rpoSeconds: number | undefined;
  readonly newestChange: string | undefined;
  readonly timings: {
    readonly restoreMs: number;
    readonly auditMs: number;
    readonly readyMs: number;
    /** Point-in-time recovery (base backup, WAL replay, dump, restore); undefined when the store has no WAL archive. */
    readonly pitrMs: number | undefined;
  };
}

/** The newest time anything in the restored data changed: orders, users, products, audit rows. */
async function newestChange(url: string): Promise<Date | undefined> {
  const client = new Client({ connectionString: url, application_name: 'erp-api-drill' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ newest: Date | null }>(
      `SELECT greatest((SELECT max(updated_at) FROM orders), (SELECT max(updated_at) FROM users),
                       (SELECT max(updated_at) FROM products), (SELECT max(occurred_at) FROM audit_logs)) AS newest`,
    );
    return rows[0]?.newest ?? undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Starts the app in this process against `url` on a free loopback port and polls /health/ready until 200. */
async function appBecomesReady(url: string, env: NodeJS.ProcessEnv): Promise<DrillCheck> {
  let config;
  try {
    config = loadConfig({
      ...env,
      DATABASE_URL: url,
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      LOG_LEVEL: 'silent',
      // throwaway secrets: readiness needs none of the real ones, and the drill should not hold them
      JWT_SECRETS: randomBytes(48).toString('base64'),
      JWT_SECRET: '',
      PASSWORD_PEPPER: randomBytes(32).toString('base64'),
    });
  } catch (error) {
    const problems = error instanceof ConfigError ? error.problems.join('; ') : (error as Error).message;
    return { name: 'app ready', ok: false, detail: `the app's configuration is invalid: ${problems}` };
  }
  const logger = createLogger(config, { write: () => undefined });
  let running;
  try {
    running = await startServer(config, logger);
  } catch (error) {
    return { name: 'app ready', ok: false, detail: `the app did not start: ${(error as Error).message}` };
  }
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  try {
    const base = running.url.replace('0.0.0.0', '127.0.0.1');
    for (;;) {
      try {
        const response = await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(5_000) });
        last = `${response.status} ${(await response.text()).slice(0, 300)}`;
        if (response.status === 200) return { name: 'app ready', ok: true, detail: `GET /health/ready: 200` };
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline)
        return {
          name: 'app ready',
          ok: false,
          detail: `GET /health/ready did not answer 200 within ${READY_TIMEOUT_MS / 1000} s: ${last}`,
        };
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await running.shutdown('restore drill done').catch(() => undefined);
  }
}

async function dropDatabase(connectionString: string, name: string): Promise<void> {
  const admin = new Client({ connectionString: withDatabase(connectionString, 'postgres') });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

export interface DrillOptions {
  readonly from: string;
  readonly into: string;
  readonly scratchDir?: string | undefined;
  readonly keep: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly progress: (line: string) => void;
}

/** Runs the drill: restore, checks, measurements; throws only when it could not run at all. */
export async function runDrill(options: DrillOptions): Promise<DrillResult> {
  const started = Date.now();
  const { env, progress } = options;
  const backupConfig = loadBackupConfig(env);
  const checkpoints = auditCheckpointConfig(env);
  const store = new BackupStore(backupConfig.store);
  const checks: DrillCheck[] = [];
  let targetUrl: string | undefined;
  const pitrInto = `${options.into}_pitr`;
  let pitrUrl: string | undefined;
  try {
    const restoreStarted = performance.now();
    // The scratch database is the drill's own: replaced without asking, never the live one (restore refuses that).
    const restored = await restoreBackup({
      store,
      from: options.from,
      connectionString: backupConfig.connectionString,
      into: options.into,
      confirmOverwrite: options.into,
      ...(options.scratchDir === undefined ? {} : { scratchDir: options.scratchDir }),
      progress,
    });
    targetUrl = restored.targetUrl;
    const restoreMs = Math.round(performance.now() - restoreStarted);
    const { manifest } = restored;
    checks.push({
      name: 'manifest checksums',
      ok: true,
      detail: manifest.objects.map((object) => `${object.name} sha256 ${object.sha256.slice(0, 12)}…`).join(', '),
    });
    checks.push({
      name: 'migrations, row counts, audit head',
      ok: true,
      detail: `${manifest.migrations.length} migrations; ${Object.entries(manifest.rowCounts)
        .map(([table, count]) => `${table} ${count}`)
        .join(', ')}`,
    });

    const auditStarted = performance.now();
    const head = manifest.auditHead;
    const checkpoint =
      checkpoints.store === undefined || head === null ? undefined : await checkpoints.store.latest(head.sequence);
    const db = createDatabase(
      { connectionString: targetUrl, slowQueryMs: 60_000, applicationName: 'erp-api-drill', maxConnections: 1 },
      createLogger({ logLevel: 'silent', appEnv: 'dev' }, { write: () => undefined }),
    );
    try {
      const chain = await verifyAuditChain(db, checkpoint === undefined ? {} : { checkpoint: checkpoint.checkpoint });
      const headMatches =
        (chain.lastId ?? null) === (head?.sequence ?? null) && (chain.lastHash ?? null) === (head?.hash ?? null);
      const signed =
        checkpoint === undefined ||
        checkpoints.signingKey === undefined ||
        auditCheckpointSignatureValid(checkpoint.checkpoint, checkpoints.signingKey);
      checks.push({
        name: 'audit chain',
        ok: chain.firstBrokenId === undefined && chain.checkpointFailure === undefined && headMatches && signed,
        detail: !headMatches
          ? `the chain ends at ${chain.lastId ?? 'nothing'} ${chain.lastHash ?? ''}, the manifest says ${head?.sequence ?? 'empty'} ${head?.hash ?? ''}`
          : !signed
            ? `checkpoint ${checkpoint.key} has no valid signature`
            : `${chain.reason}${checkpoint === undefined ? '; no checkpoint at or below the backup head' : ` (checkpoint ${checkpoint.key})`}`,
      });
    } finally {
      await db.end().catch(() => undefined);
    }
    const auditMs = Math.round(performance.now() - auditStarted);

    const readyStarted = performance.now();
    progress('starting the app against the restored database');
    checks.push(await appBecomesReady(targetUrl, env));
    const readyMs = Math.round(performance.now() - readyStarted);

    const pitr = await pointInTimeCheck(options, backupConfig.connectionString, store, pitrInto);
    if (pitr !== undefined) {
      checks.push(pitr.check);
      pitrUrl = pitr.url;
    }

    const logicalNewest = await newestChange(targetUrl);
    const newest =
      pitr?.newest !== undefined && (logicalNewest === undefined || pitr.newest > logicalNewest)
        ? pitr.newest
        : logicalNewest;
    const rtoSeconds = (Date.now() - started) / 1000;
    const rpoSeconds = newest === undefined ? undefined : Math.max(0, (started - newest.getTime()) / 1000);
    return {
      backupId: manifest.backupId,
      checks,
      ok: checks.every((check) => check.ok),
      rtoSeconds,
      rpoSeconds,
      newestChange: newest?.toISOString(),
      timings: { restoreMs, auditMs, readyMs, pitrMs: pitr?.ms },
    };
  } finally {
    store.destroy();
    checkpoints.store?.close?.();
    if (!options.keep && targetUrl !== undefined)
      await dropDatabase(backupConfig.connectionString, options.into).catch(() => undefined);
    if (!options.keep && pitrUrl !== undefined)
      await dropDatabase(backupConfig.connectionString, pitrInto).catch(() => undefined);
  }
}

/**
 * Point-in-time recovery into `into` when the store holds base backups: the newest replays every archived WAL file
 * (the most recent recoverable point), then its audit chain is verified. Undefined without a WAL archive (the cloud:
 * RDS keeps its own, restored with aws rds restore-db-instance-to-point-in-time).
 */
async function pointInTimeCheck(
  options: DrillOptions,
  connectionString: string,
  store: BackupStore,
  into: string,
): Promise<{ check: DrillCheck; url: string | undefined; newest: Date | undefined; ms: number } | undefined> {
  if ((await listBaseBackups(store)).length === 0) {
    options.progress('no base backup in the store: point-in-time recovery skipped (the logical backup sets the RPO)');
    return undefined;
  }
  const started = performance.now();
  const name = 'point-in-time recovery';
  let recovered;
  try {
    recovered = await pointInTimeRestore({
      connectionString,
      store,
      toTime: undefined,
      into,
      confirmOverwrite: into,
      ...(options.scratchDir === undefined ? {} : { scratchDir: options.scratchDir }),
      progress: options.progress,
    });
  } catch (error) {
    const ms = Math.round(performance.now() - started);
    return { check: { name, ok: false, detail: (error as Error).message }, url: undefined, newest: undefined, ms };
  }
  const db = createDatabase(
    { connectionString: recovered.targetUrl, slowQueryMs: 60_000, applicationName: 'erp-api-drill', maxConnections: 1 },
    createLogger({ logLevel: 'silent', appEnv: 'dev' }, { write: () => undefined }),
  );
  let chain;
  try {
    chain = await verifyAuditChain(db, {});
  } finally {
    await db.end().catch(() => undefined);
  }
  // The app's own rows, not the last replayed commit: that may be the drill's own restore on the same server.
  const newest = await newestChange(recovered.targetUrl);
  return {
    check: {
      name,
      ok: chain.firstBrokenId === undefined,
      detail: `base ${recovered.baseBackupId} + WAL to ${recovered.newestChange ?? 'the base backup'}: newest row ${newest?.toISOString() ?? 'none'}, orders ${recovered.rowCounts.orders}, audit ${chain.reason}`,
    },
    url: recovered.targetUrl,
    newest,
    ms: Math.round(performance.now() - started),
  };
}

/** The drill CLI as a function: parses `argv`, runs, prints a table (or JSON), pushes metrics, returns the exit code. */
export async function runDrillCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const parsed = parseCommandLine('drill', USAGE, io, () => parseInvocation(argv));
  if (!parsed.ok) return parsed.exitCode;
  const config = readCliConfig(io, () => {
    loadBackupConfig(env);
    auditCheckpointConfig(env).store?.close?.();
    return true;
  });
  if (!config.ok) return config.exitCode;
  let result: DrillResult;
  try {
    result = await runDrill({ ...parsed.value, env, progress: (line) => io.stderr(`drill: ${line}\n`) });
  } catch (error) {
    io.stderr(
      `drill: failed: ${(error as Error).message}; nothing was proven restorable, check the backup store and DATABASE_URL\n`,
    );
    return EXIT.unavailable;
  }
  if (parsed.value.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else
    io.stdout(
      `${formatTable([
        ['check', 'result', 'detail'],
        ...result.checks.map((check) => [check.name, check.ok ? 'ok' : 'FAILED', check.detail]),
      ])}\n\n${formatTable([
        ['measure', 'value'],
        ['backup', result.backupId],
        ['restore (download, checksums, pg_restore, facts)', seconds(result.timings.restoreMs)],
        ['audit chain verify', seconds(result.timings.auditMs)],
        ['app ready', seconds(result.timings.readyMs)],
        [
          'point-in-time recovery (base backup + WAL replay)',
          result.timings.pitrMs === undefined ? 'no WAL archive' : seconds(result.timings.pitrMs),
        ],
        ['RTO (drill wall time)', `${result.rtoSeconds.toFixed(1)} s`],
        [
          'RPO (drill start - newest restored change)',
          result.rpoSeconds === undefined
            ? 'no timestamps'
            : `${result.rpoSeconds.toFixed(1)} s (${result.newestChange ?? ''})`,
        ],
      ])}\n`,
    );
  if (!result.ok) {
    io.stderr('drill: FAILED: a check failed (see the table); nothing pushed, so RestoreDrillStale keeps its clock\n');
    return EXIT.failed;
  }
  const pushgateway = env.PUSHGATEWAY_URL ?? '';
  if (pushgateway !== '') {
    try {
      await pushMetrics(pushgateway, { job: PUSH_JOBS.restoreDrill, namespace: pushNamespace(env) }, [
        { metric: PUSHED_METRICS.restoreDrillLastSuccessTimestampSeconds, value: Date.now() / 1000 },
        { metric: PUSHED_METRICS.restoreDrillRtoSeconds, value: result.rtoSeconds },
        ...(result.rpoSeconds === undefined
          ? []
          : [{ metric: PUSHED_METRICS.restoreDrillRpoSeconds, value: result.rpoSeconds }]),
      ]);
      io.stderr(`drill: pushed success, RTO and RPO to ${pushgateway} (job ${PUSH_JOBS.restoreDrill})\n`);
    } catch (error) {
      io.stderr(`drill: every check passed, but ${(error as Error).message}\n`);
      return EXIT.failed;
    }
  }
  return EXIT.ok;
}

runWhenEntryPoint(import.meta.url, 'drill', runDrillCli, EXIT.unavailable);
