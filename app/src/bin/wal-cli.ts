import { loadBackupConfig, loadBackupStoreConfig } from '../backup/config.js';
import { formatTable, megabytes, seconds } from '../backup/report.js';
import { BackupStore } from '../backup/store.js';
import {
  ARCHIVE_TIMEOUT_SECONDS,
  BASE_FOLDER,
  WAL_FOLDER,
  WalFileNameError,
  fetchWalFile,
  pushWalFile,
  takeBaseBackup,
} from '../backup/wal.js';
import { parseCommandLine, readCliConfig, runWhenEntryPoint, UsageError } from './cli.js';
import type { CliIo } from './cli.js';

/** sysexits.h codes; `fetch` exits 1 for a file the archive lacks, which PostgreSQL reads as "not archived". */
export const EXIT = { ok: 0, failed: 1, usage: 64, config: 78 } as const;

export const USAGE = `usage: npm run wal -w app -- <command> …

The WAL archive of point-in-time recovery, in the backup store (BACKUP_* and AWS_*, as for erp-api backup), for a
PostgreSQL server of our own (the local platform's); the image has no wal command, since RDS keeps its own WAL.

commands:
  push <path> <name>     archive one WAL file as <BACKUP_PREFIX>${WAL_FOLDER}<name>.gz; PostgreSQL's archive_command
                         runs it as: push "%p" "%f" (with archive_timeout=${ARCHIVE_TIMEOUT_SECONDS}s, so RPO stays under 60 s)
  fetch <name> <path>    write one archived WAL file to <path>; exit 1 when the archive lacks it (restore_command:
                         fetch "%f" "%p")
  base-backup            pg_basebackup of DATABASE_URL's server (a role with REPLICATION) streamed to
                         <BACKUP_PREFIX>${BASE_FOLDER}<id>/base.tar.gz, then backup.json; then deletes base
                         backups older than BACKUP_RETENTION_DAYS (never the newest) and the WAL only they needed;
                         restore with erp-api restore --to-time <RFC 3339 time> --into <database>

options:
  -h, --help             show this help

exit codes: 0 done, 1 failed (or, for fetch, not in the archive), 64 usage error, 78 configuration invalid`;

type Invocation =
  | { readonly command: 'push'; readonly path: string; readonly name: string }
  | { readonly command: 'fetch'; readonly name: string; readonly path: string }
  | { readonly command: 'base-backup' };

function parseInvocation(argv: readonly string[]): Invocation | 'help' {
  if (argv.includes('-h') || argv.includes('--help')) return 'help';
  const [command, first, second, ...rest] = argv;
  if (command === 'push' || command === 'fetch') {
    if (first === undefined || second === undefined || first === '' || second === '' || rest.length > 0)
      throw new UsageError(
        command === 'push'
          ? `push takes exactly <path> <name> (archive_command: push "%p" "%f"), got ${JSON.stringify(argv.slice(1))}`
          : `fetch takes exactly <name> <path> (restore_command: fetch "%f" "%p"), got ${JSON.stringify(argv.slice(1))}`,
      );
    return command === 'push' ? { command, path: first, name: second } : { command, name: first, path: second };
  }
  if (command === 'base-backup') {
    if (argv.length > 1) throw new UsageError(`base-backup takes no arguments, got ${JSON.stringify(argv.slice(1))}`);
    return { command };
  }
  throw new UsageError(
    command === undefined
      ? 'a command is required: push, fetch or base-backup'
      : `unknown command ${JSON.stringify(command)}: use push, fetch or base-backup`,
  );
}

/** The WAL CLI as a function: parses `argv`, runs, writes progress to stderr and the result to stdout. */
export async function runWalCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const parsed = parseCommandLine('wal', USAGE, io, () => parseInvocation(argv));
  if (!parsed.ok) return parsed.exitCode;
  const invocation = parsed.value;
  const config = readCliConfig(io, () =>
    invocation.command === 'base-backup'
      ? loadBackupConfig(env)
      : { connectionString: '', store: loadBackupStoreConfig(env) },
  );
  if (!config.ok) return config.exitCode;
  const store = new BackupStore(config.value.store);
  try {
    switch (invocation.command) {
      case 'push':
        await pushWalFile(store, invocation.path, invocation.name);
        return EXIT.ok;
      case 'fetch':
        return (await fetchWalFile(store, invocation.name, invocation.path)) ? EXIT.ok : EXIT.failed;
      case 'base-backup': {
        const started = performance.now();
        const info = await takeBaseBackup({
          connectionString: config.value.connectionString,
          store,
          retentionDays: 'retentionDays' in config.value ? config.value.retentionDays : 0,
          progress: (line) => io.stderr(`wal: ${line}\n`),
        });
        io.stdout(
          `${formatTable([
            ['base backup', info.backupId],
            ['size', megabytes(info.size)],
            ['finished', info.finishedAt],
            ['took', seconds(Math.round(performance.now() - started))],
          ])}\n`,
        );
        return EXIT.ok;
      }
    }
  } catch (error) {
    if (error instanceof WalFileNameError) {
      io.stderr(`wal: ${error.message}\n`);
      return EXIT.usage;
    }
    io.stderr(`wal: ${invocation.command} failed: ${(error as Error).message}\n`);
    return EXIT.failed;
  } finally {
    store.destroy();
  }
}

runWhenEntryPoint(import.meta.url, 'wal', runWalCli, EXIT.failed);
