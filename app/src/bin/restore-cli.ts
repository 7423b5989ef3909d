import { loadBackupConfig } from '../backup/config.js';
import { KEY_TABLES } from '../backup/manifest.js';
import { formatTable, seconds } from '../backup/report.js';
import {
  ChecksumMismatchError,
  RestoreRefusedError,
  RestoreVerificationError,
  restoreBackup,
} from '../backup/restore.js';
import { ManifestError } from '../backup/manifest.js';
import { BackupStore } from '../backup/store.js';
import { parseRecoveryTime, pointInTimeRestore } from '../backup/wal.js';
import type { PointInTimeResult } from '../backup/wal.js';
import { parseCommandLine, parseFlags, readCliConfig, runWhenEntryPoint, UsageError } from './cli.js';
import type { CliIo } from './cli.js';

/** sysexits.h codes: a corrupt backup (65) and a refused target (77) differ from a failed restore (1). */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 64,
  /** EX_DATAERR: an object's checksum or the manifest is wrong; nothing was restored. */
  corrupt: 65,
  /** EX_NOPERM: the target is the live database or exists, and its name was not repeated; nothing was changed. */
  refused: 77,
  config: 78,
} as const;

export const USAGE = `usage: npm run restore -w app -- --from <backup-id|latest> --into <database> [options]
       npm run restore -w app -- --to-time <RFC 3339 time> [--from <base-backup-id|latest>] --into <database> [options]
       (the image: erp-api restore --from … --into …)

Downloads the backup's objects and checks each one's sha256 against its manifest before anything is restored,
creates <database> on DATABASE_URL's server, pg_restores into it, then checks migration checksums, row counts
and the audit log's newest id and hash against the manifest.

With --to-time (point-in-time recovery, where the server archives WAL into the store: the local platform), the
newest base backup finished before that time is unpacked into a scratch PostgreSQL cluster, which replays the
archived WAL up to the time and promotes; DATABASE_URL's database is dumped from it and restored into <database>.

options:
  --from <id|latest>          the backup: an id such as 2026-12-05T01-02-03-456Z, or latest (the newest
                              backup that has a manifest; with --to-time, the newest base backup before it)
  --to-time <time>            recover to this time, RFC 3339 with a zone, such as 2026-12-05T04:12:30Z (the
                              last transaction committed at or before it is the last one restored)
  --into <database>           the database to restore into (lower-case letters, digits, _); created
  --confirm-overwrite <name>  repeat --into to drop and replace an existing database; required to restore
                              into the live database (the one DATABASE_URL names)
  --scratch-dir <path>        where the downloaded objects are kept while restoring (default: the OS temp
                              directory); it needs room for the dump
  --json                      print the result as JSON instead of a table
  -h, --help                  show this help

environment: DATABASE_URL (the server; a role that may create databases), and the BACKUP_* and AWS_* variables
             of erp-api backup (npm run backup -w app -- --help)

exit codes: 0 restored and verified (with --to-time: recovered and restored), 1 failed or the restored data differs from the manifest, 64 usage error,
            65 an object's checksum or the manifest is wrong (nothing restored), 77 target refused (nothing
            changed), 78 configuration invalid`;

interface Invocation {
  readonly from: string;
  readonly toTime: Date | undefined;
  readonly into: string;
  readonly confirmOverwrite: string | undefined;
  readonly scratchDir: string | undefined;
  readonly json: boolean;
}

function parseInvocation(argv: readonly string[]): Invocation | 'help' {
  const values = parseFlags(argv, {
    from: { type: 'string' },
    'to-time': { type: 'string' },
    into: { type: 'string' },
    'confirm-overwrite': { type: 'string' },
    'scratch-dir': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return 'help';
  const toTimeText = values['to-time'];
  const toTime = toTimeText === undefined ? undefined : parseRecoveryTime(toTimeText);
  if (toTimeText !== undefined && toTime === undefined)
    throw new UsageError(
      `--to-time ${JSON.stringify(toTimeText)} is not an RFC 3339 time with a zone: use such as 2026-12-05T04:12:30Z or 2026-12-05T05:12:30+01:00`,
    );
  if ((values.from === undefined || values.from === '') && toTime === undefined)
    throw new UsageError('--from is required: a backup id, or latest');
  if (values.into === undefined || values.into === '')
    throw new UsageError('--into is required: the database to restore into, such as erp_restore');
  return {
    from: values.from === undefined || values.from === '' ? 'latest' : values.from,
    toTime,
    into: values.into,
    confirmOverwrite: values['confirm-overwrite'],
    scratchDir: values['scratch-dir'],
    json: values.json === true,
  };
}

/** The gap between the target and the last transaction recovered: what the recovery could not bring back. */
function targetGapSeconds(result: PointInTimeResult): number | undefined {
  if (result.toTime === undefined || result.newestChange === undefined) return undefined;
  return (new Date(result.toTime).getTime() - new Date(result.newestChange).getTime()) / 1000;
}

function pointInTimeSummary(result: PointInTimeResult, invocation: Invocation): string {
  const gap = targetGapSeconds(result);
  if (invocation.json)
    return `${JSON.stringify(
      {
        baseBackupId: result.baseBackupId,
        into: invocation.into,
        toTime: result.toTime,
        newestChange: result.newestChange,
        targetGapSeconds: gap,
        rowCounts: result.rowCounts,
        downloadMs: result.downloadMs,
        replayMs: result.replayMs,
        restoreMs: result.restoreMs,
        totalMs: result.totalMs,
      },
      null,
      2,
    )}\n`;
  return `${formatTable([
    ['base backup', result.baseBackupId],
    ['recovered to', result.toTime ?? 'end of the WAL archive'],
    [
      'last transaction restored',
      `${result.newestChange ?? 'none after the base backup'}${gap === undefined ? '' : ` (${gap.toFixed(1)} s before the target)`}`,
    ],
    ['restored into', invocation.into],
    ['rows', KEY_TABLES.map((table) => `${table} ${result.rowCounts[table]}`).join(', ')],
    ['download + unpack', seconds(result.downloadMs)],
    ['WAL replay', seconds(result.replayMs)],
    ['pg_dump + pg_restore', seconds(result.restoreMs)],
    ['total', seconds(result.totalMs)],
  ])}\n`;
}

/** The restore CLI as a function: parses `argv`, runs, writes progress to stderr and the result to stdout. */
export async function runRestoreCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const parsed = parseCommandLine('restore', USAGE, io, () => parseInvocation(argv));
  if (!parsed.ok) return parsed.exitCode;
  const invocation = parsed.value;
  const config = readCliConfig(io, () => loadBackupConfig(env));
  if (!config.ok) return config.exitCode;
  const store = new BackupStore(config.value.store);
  try {
    if (invocation.toTime !== undefined) {
      const recovered = await pointInTimeRestore({
        connectionString: config.value.connectionString,
        store,
        from: invocation.from,
        toTime: invocation.toTime,
        into: invocation.into,
        confirmOverwrite: invocation.confirmOverwrite,
        ...(invocation.scratchDir === undefined ? {} : { scratchDir: invocation.scratchDir }),
        progress: (line) => io.stderr(`restore: ${line}\n`),
      });
      io.stdout(pointInTimeSummary(recovered, invocation));
      return EXIT.ok;
    }
    const result = await restoreBackup({
      connectionString: config.value.connectionString,
      store,
      from: invocation.from,
      into: invocation.into,
      confirmOverwrite: invocation.confirmOverwrite,
      ...(invocation.scratchDir === undefined ? {} : { scratchDir: invocation.scratchDir }),
      progress: (line) => io.stderr(`restore: ${line}\n`),
    });
    const { manifest } = result;
    const summary = {
      backupId: manifest.backupId,
      into: invocation.into,
      createdAt: manifest.createdAt,
      rowCounts: manifest.rowCounts,
      auditHead: manifest.auditHead,
      downloadMs: result.downloadMs,
      restoreMs: result.restoreMs,
      verifyMs: result.verifyMs,
      totalMs: result.totalMs,
    };
    if (invocation.json) {
      io.stdout(`${JSON.stringify(summary, null, 2)}\n`);
      return EXIT.ok;
    }
    io.stdout(
      `${formatTable([
        ['backup', `${manifest.backupId} (taken ${manifest.createdAt})`],
        ['restored into', invocation.into],
        ['rows (verified)', KEY_TABLES.map((table) => `${table} ${manifest.rowCounts[table]}`).join(', ')],
        [
          'audit head (verified)',
          manifest.auditHead === null ? 'empty log' : `${manifest.auditHead.sequence} ${manifest.auditHead.hash}`,
        ],
        ['migrations (verified)', String(manifest.migrations.length)],
        ['download + checksums', seconds(result.downloadMs)],
        ['pg_restore', seconds(result.restoreMs)],
        ['verify', seconds(result.verifyMs)],
        ['total', seconds(result.totalMs)],
      ])}\n`,
    );
    return EXIT.ok;
  } catch (error) {
    const message = (error as Error).message;
    if (error instanceof RestoreRefusedError) {
      io.stderr(`restore: refused: ${message}\n`);
      return EXIT.refused;
    }
    if (error instanceof ChecksumMismatchError || error instanceof ManifestError) {
      io.stderr(`restore: refused: ${message}\n`);
      return EXIT.corrupt;
    }
    if (error instanceof RestoreVerificationError) {
      io.stderr(`restore: verification failed: ${message}; keep ${invocation.into} for inspection\n`);
      return EXIT.failed;
    }
    io.stderr(`restore: failed: ${message}\n`);
    return EXIT.failed;
  } finally {
    store.destroy();
  }
}

runWhenEntryPoint(import.meta.url, 'restore', runRestoreCli, EXIT.failed);
