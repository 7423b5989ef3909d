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
       (the image: erp-api restore --from … --into …)

Downloads the backup's objects and checks each one's sha256 against its manifest before anything is restored,
creates <database> on DATABASE_URL's server, pg_restores into it, then checks migration checksums, row counts
and the audit log's newest id and hash against the manifest.

options:
  --from <id|latest>          the backup: an id such as 2026-12-05T01-02-03-456Z, or latest (the newest
                              backup that has a manifest)
  --into <database>           the database to restore into (lower-case letters, digits, _); created
  --confirm-overwrite <name>  repeat --into to drop and replace an existing database; required to restore
                              into the live database (the one DATABASE_URL names)
  --scratch-dir <path>        where the downloaded objects are kept while restoring (default: the OS temp
                              directory); it needs room for the dump
  --json                      print the result as JSON instead of a table
  -h, --help                  show this help

environment: DATABASE_URL (the server; a role that may create databases), and the BACKUP_* and AWS_* variables
             of erp-api backup (npm run backup -w app -- --help)

exit codes: 0 restored and verified, 1 failed or the restored data differs from the manifest, 64 usage error,
            65 an object's checksum or the manifest is wrong (nothing restored), 77 target refused (nothing
            changed), 78 configuration invalid`;

interface Invocation {
  readonly from: string;
  readonly into: string;
  readonly confirmOverwrite: string | undefined;
  readonly scratchDir: string | undefined;
  readonly json: boolean;
}

function parseInvocation(argv: readonly string[]): Invocation | 'help' {
  const values = parseFlags(argv, {
    from: { type: 'string' },
    into: { type: 'string' },
    'confirm-overwrite': { type: 'string' },
    'scratch-dir': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return 'help';
  if (values.from === undefined || values.from === '')
    throw new UsageError('--from is required: a backup id, or latest');
  if (values.into === undefined || values.into === '')
    throw new UsageError('--into is required: the database to restore into, such as erp_restore');
  return {
    from: values.from,
    into: values.into,
    confirmOverwrite: values['confirm-overwrite'],
    scratchDir: values['scratch-dir'],
    json: values.json === true,
  };
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
