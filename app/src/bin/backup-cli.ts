import { RetentionError, takeBackup } from '../backup/backup.js';
import { loadBackupConfig } from '../backup/config.js';
import { BACKUPS_FOLDER, DUMP_OBJECT, KEY_TABLES } from '../backup/manifest.js';
import type { BackupManifest } from '../backup/manifest.js';
import { formatTable, megabytes, seconds } from '../backup/report.js';
import { BackupStore } from '../backup/store.js';
import { Client } from 'pg';

import { auditCheckpointConfig } from './audit.js';
import { checkpointHolds, writeAuditCheckpoint } from '../components/audit/checkpoint.js';
import { parseCommandLine, parseFlags, readCliConfig, runWhenEntryPoint } from './cli.js';
import { APP_METRICS, PUSH_JOBS } from '../observability/metric-catalogue.js';
import { pushMetrics } from '../observability/push.js';
import type { CliIo } from './cli.js';

/** sysexits.h codes, as the other entry points use them. */
export const EXIT = { ok: 0, failed: 1, usage: 64, config: 78 } as const;

export const USAGE = `usage: npm run backup -w app -- [options]        (the image: erp-api backup [options])

Takes a consistent custom-format pg_dump of DATABASE_URL (one snapshot), uploads it to
<BACKUP_PREFIX>${BACKUPS_FOLDER}<backup-id>/${DUMP_OBJECT} in BACKUP_BUCKET, then writes manifest.json beside it (sha256
and size of each object, migrations applied, row counts of ${KEY_TABLES.join(', ')}, the audit log's newest
id and hash, the source commit). The manifest is written last: a backup without one is incomplete and never
"latest". Then deletes backups older than BACKUP_RETENTION_DAYS, never the newest.

options:
  --json                 print the manifest and timings as JSON instead of a table
  -h, --help             show this help

environment:
  DATABASE_URL                the database to back up (required; a role that reads every table)
  BACKUP_BUCKET               the bucket (required)
  BACKUP_PREFIX               key prefix, empty or ending in / (default empty; daily/ in the cloud)
  BACKUP_S3_ENDPOINT          a local S3-compatible server (empty: AWS S3 in AWS_REGION)
  BACKUP_S3_FORCE_PATH_STYLE  true for a local server (default false)
  BACKUP_KMS_KEY_ID           KMS key for SSE-KMS (empty: no key named)
  BACKUP_RETENTION_DAYS       days backups are kept by this command (default 7; 0: the bucket lifecycle does)
  AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: the AWS SDK's default chain (IRSA in the cluster)
  AUDIT_CHECKPOINT_*          after the upload, the backup writes an audit checkpoint of the manifest's audit head
                              (see npm run audit -w app -- --help; by default in the backup store), once the live
                              chain still holds the previous checkpoint
  PUSHGATEWAY_URL             where backup_last_success_timestamp_seconds is pushed (job ${PUSH_JOBS.backup}); unset: no push
  PUSH_NAMESPACE              the namespace label of the push (default local; the pod's namespace in the cluster)

exit codes: 0 backup complete, 1 failed (no manifest written: the backup is not complete), or complete but the
            audit chain no longer holds the last checkpoint, or the checkpoint or push failed, 64 usage error,
            78 configuration invalid`;

function parseInvocation(argv: readonly string[]): { readonly json: boolean } | 'help' {
  const flags = parseFlags(argv, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (flags.help === true) return 'help';
  return { json: flags.json === true };
}

/** The backup CLI as a function: parses `argv`, runs, writes progress to stderr and the result to stdout. */
export async function runBackupCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const parsed = parseCommandLine('backup', USAGE, io, () => parseInvocation(argv));
  if (!parsed.ok) return parsed.exitCode;
  const config = readCliConfig(io, () => ({ ...loadBackupConfig(env), checkpoints: auditCheckpointConfig(env) }));
  if (!config.ok) return config.exitCode;
  const store = new BackupStore(config.value.store);
  const { checkpoints } = config.value;
  try {
    const result = await takeBackup({
      connectionString: config.value.connectionString,
      store,
      retentionDays: config.value.retentionDays,
      progress: (line) => io.stderr(`backup: ${line}\n`),
    });
    const { manifest } = result;
    try {
      const after = await afterBackup(manifest, config.value.connectionString, checkpoints, env, io);
      if (after !== EXIT.ok) return after;
    } catch (error) {
      io.stderr(
        `backup: ${manifest.backupId} is complete, but ${(error as Error).message}; check the checkpoint store and PUSHGATEWAY_URL\n`,
      );
      return EXIT.failed;
    }
    if (parsed.value.json) {
      io.stdout(`${JSON.stringify(result, null, 2)}\n`);
      return EXIT.ok;
    }
    const dump = manifest.objects[0];
    io.stdout(
      `${formatTable([
        ['backup', manifest.backupId],
        ['location', store.url(`${BACKUPS_FOLDER}${manifest.backupId}/`)],
        ['database', `${manifest.database} (PostgreSQL ${manifest.serverVersion})`],
        ['dump', dump === undefined ? '' : `${megabytes(dump.size)}, sha256 ${dump.sha256}`],
        ['rows', KEY_TABLES.map((table) => `${table} ${manifest.rowCounts[table]}`).join(', ')],
        [
          'audit head',
          manifest.auditHead === null ? 'empty log' : `${manifest.auditHead.sequence} ${manifest.auditHead.hash}`,
        ],
        ['migrations', String(manifest.migrations.length)],
        ['source commit', manifest.sourceCommit ?? 'unknown'],
        ['dump + upload', seconds(result.dumpMs)],
        ['total time', seconds(result.totalMs)],
        ['retention', result.pruned.length === 0 ? 'nothing expired' : `deleted ${result.pruned.join(', ')}`],
      ])}\n`,
    );
    return EXIT.ok;
  } catch (error) {
    if (error instanceof RetentionError) {
      io.stderr(`backup: ${error.message}; check the role may delete objects (s3:DeleteObject)\n`);
      return EXIT.failed;
    }
    io.stderr(
      `backup: failed: ${(error as Error).message}; no manifest was written, so this backup is not complete and "latest" still names the previous one\n`,
    );
    return EXIT.failed;
  } finally {
    store.destroy();
    checkpoints.store?.close?.();
  }
}

/**
 * After a complete backup: checks the live chain still holds the last audit checkpoint, writes one of the manifest's
 * audit head, and pushes the success time to the Pushgateway.
 */
async function afterBackup(
  manifest: BackupManifest,
  connectionString: string,
  checkpoints: ReturnType<typeof auditCheckpointConfig>,
  env: NodeJS.ProcessEnv,
  io: CliIo,
): Promise<number> {
  const { store: checkpointStore, signingKey } = checkpoints;
  if (checkpointStore !== undefined && manifest.auditHead !== null) {
    const previous = await checkpointStore.latest();
    if (previous !== undefined) {
      const client = new Client({ connectionString, application_name: 'erp-api-backup' });
      client.on('error', () => undefined);
      await client.connect();
      try {
        const broken = await checkpointHolds(client, previous.checkpoint);
        if (broken !== undefined) {
          io.stderr(
            `backup: ${manifest.backupId} is complete, but the audit chain no longer holds checkpoint ${previous.key} of ${checkpointStore.location}: ${broken}; no checkpoint written. Keep this backup and the database as evidence and follow the AuditIntegrityFailure runbook\n`,
          );
          return EXIT.failed;
        }
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    const written = await writeAuditCheckpoint(
      checkpointStore,
      { seq: manifest.auditHead.sequence, hash: manifest.auditHead.hash, rows: manifest.rowCounts.audit_logs },
      'backup',
      signingKey,
    );
    io.stderr(`backup: audit checkpoint ${written.key} written to ${checkpointStore.location}\n`);
  }
  const pushgateway = env.PUSHGATEWAY_URL ?? '';
  if (pushgateway !== '') {
    await pushMetrics(pushgateway, { job: PUSH_JOBS.backup, namespace: pushNamespace(env) }, [
      { metric: APP_METRICS.backupLastSuccessTimestampSeconds, value: Date.parse(manifest.completedAt) / 1000 },
    ]);
    io.stderr(`backup: pushed its success time to ${pushgateway} (job ${PUSH_JOBS.backup})\n`);
  }
  return EXIT.ok;
}

/** The namespace label of pushed metrics: PUSH_NAMESPACE (the pod's namespace in the cluster), or local. */
export function pushNamespace(env: NodeJS.ProcessEnv): string {
  const value = env.PUSH_NAMESPACE ?? '';
  return value === '' ? 'local' : value;
}

runWhenEntryPoint(import.meta.url, 'backup', runBackupCli, EXIT.failed);
