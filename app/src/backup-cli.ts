import { parseArgs } from 'node:util';

import { RetentionError, takeBackup } from './backup/backup.js';
import { loadBackupConfig } from './backup/config.js';
import { BACKUPS_FOLDER, DUMP_OBJECT, KEY_TABLES } from './backup/manifest.js';
import { formatTable, megabytes, seconds } from './backup/report.js';
import { BackupStore } from './backup/store.js';
import { parseCommandLine, readCliConfig, runWhenEntryPoint, UsageError } from './cli.js';
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

exit codes: 0 backup complete, 1 failed (no manifest written: the backup is not complete), 64 usage error,
            78 configuration invalid`;

function parseInvocation(argv: readonly string[]): { readonly json: boolean } | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.values.help === true) return 'help';
  return { json: parsed.values.json === true };
}

/** The backup CLI as a function: parses `argv`, runs, writes progress to stderr and the result to stdout. */
export async function runBackupCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const parsed = parseCommandLine('backup', USAGE, io, () => parseInvocation(argv));
  if (!parsed.ok) return parsed.exitCode;
  const config = readCliConfig(io, () => loadBackupConfig(env));
  if (!config.ok) return config.exitCode;
  const store = new BackupStore(config.value.store);
  try {
    const result = await takeBackup({
      connectionString: config.value.connectionString,
      store,
      retentionDays: config.value.retentionDays,
      progress: (line) => io.stderr(`backup: ${line}\n`),
    });
    const { manifest } = result;
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
  }
}

runWhenEntryPoint(import.meta.url, 'backup', runBackupCli, EXIT.failed);
