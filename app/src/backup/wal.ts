/* eslint-disable security/detect-non-literal-fs-filename -- paths are this restore's scratch folders and those PostgreSQL passes */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip, createGzip } from 'node:zlib';

import { Client } from 'pg';

import { hashingPassThrough } from './checksum.js';
import { KEY_TABLES, backupIdFor, isBackupId } from './manifest.js';
import type { KeyTable } from './manifest.js';
import {
  POSTGRES_BIN_DIR,
  PostgresToolError,
  databaseName,
  libpqConnection,
  runPostgresTool,
  startPostgresTool,
} from './postgres.js';
import { RestoreRefusedError, checkRestoreTarget, createTargetDatabase, pgRestore } from './restore.js';
import type { TargetOptions } from './restore.js';
import type { BackupStore } from './store.js';

/** Archived WAL segments and timeline history files, gzipped, by PostgreSQL's own file name. */
export const WAL_FOLDER = 'wal/';
/** Physical base backups: `base/<id>/base.tar.gz`, then `base/<id>/backup.json` written last. */
export const BASE_FOLDER = 'base/';
const BASE_OBJECT = 'base.tar.gz';
const BASE_INFO_OBJECT = 'backup.json';

/** A file name PostgreSQL archives: a segment, a timeline history, a backup history or a partial segment. */
const WAL_FILE_NAMES = [
  /^[0-9A-F]{24}$/,
  /^[0-9A-F]{24}\.partial$/,
  /^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$/,
  /^[0-9A-F]{8}\.history$/,
];

/** The archive_timeout that keeps the local RPO within 60 s: a segment is shipped at most this long after a write. */
export const ARCHIVE_TIMEOUT_SECONDS = 30;

/** A WAL file name that is not one PostgreSQL makes: the command was called by hand with a wrong argument. */
export class WalFileNameError extends Error {
  override readonly name = 'WalFileNameError';
}

function walKey(name: string): string {
  if (!WAL_FILE_NAMES.some((pattern) => pattern.test(name)))
    throw new WalFileNameError(
      `${JSON.stringify(name)} is not a WAL file name (24 hex digits, or <timeline>.history); PostgreSQL passes it as %f`,
    );
  return `${WAL_FOLDER}${name}.gz`;
}

/** archive_command: uploads one WAL file, gzipped (a forced switch leaves a mostly empty 16 MiB segment). */
export async function pushWalFile(store: BackupStore, path: string, name: string): Promise<void> {
  const key = walKey(name);
  await store.putStream(key, createReadStream(path).pipe(createGzip({ level: 6 })));
}

/** restore_command: writes one archived WAL file to `path`; false when the archive does not hold it (yet). */
export async function fetchWalFile(store: BackupStore, name: string, path: string): Promise<boolean> {
  const body = await store.openIfExists(walKey(name));
  if (body === undefined) return false;
  const partial = `${path}.fetching`;
  await pipeline(body, createGunzip(), createWriteStream(partial));
  // PostgreSQL must never see a half-written segment under its real name.
  await rename(partial, path);
  return true;
}

/**
 * The shell command PostgreSQL runs for `wal push %p %f` or `wal fetch %f %p`: this Node with tsx for the sources,
 * plain Node for the built image. The store comes from the server's environment (BACKUP_* and AWS_*).
 */
export function walShellCommand(subcommand: 'push' | 'fetch'): string {
  const here = fileURLToPath(import.meta.url);
  const source = extname(here) === '.ts';
  const cli = join(here, '..', '..', 'bin', source ? 'wal-cli.ts' : 'wal-cli.js');
  const argv = source
    ? [process.execPath, createRequire(import.meta.url).resolve('tsx/cli'), cli]
    : [process.execPath, cli];
  const quoted = argv.map((part) => `'${part.replace(/'/g, `'\\''`)}'`).join(' ');
  return subcommand === 'push' ? `${quoted} push "%p" "%f"` : `${quoted} fetch "%f" "%p"`;
}

/** The PostgreSQL settings that archive every WAL file into the backup store (archive_mode needs a restart). */
export function walArchiveSettings(): readonly string[] {
  return [
    'wal_level=replica',
    'archive_mode=on',
    `archive_command=${walShellCommand('push')}`,
    `archive_timeout=${ARCHIVE_TIMEOUT_SECONDS}s`,
  ];
}

/** What `base/<id>/backup.json` records of a base backup. */
export interface BaseBackupInfo {
  readonly format: 'slipway-base-backup/1';
  readonly backupId: string;
  readonly startedAt: string;
  /** After pg_basebackup returned: the WAL it needs was archived, so any later target can be reached. */
  readonly finishedAt: string;
  readonly sha256: string;
  readonly size: number;
  readonly serverVersion: string;
  /** The WAL segment the server wrote when the backup began: replay from this backup needs no older one. */
  readonly startWal: string;
}

/** A base backup whose info is missing or unreadable: a failed or running upload, never restored from. */
function parseBaseInfo(text: string): BaseBackupInfo | undefined {
  try {
    const value = JSON.parse(text) as Partial<BaseBackupInfo>;
    if (value.format !== 'slipway-base-backup/1' || typeof value.backupId !== 'string') return undefined;
    if (typeof value.finishedAt !== 'string' || typeof value.sha256 !== 'string') return undefined;
    if (typeof value.startWal !== 'string') return undefined;
    return value as BaseBackupInfo;
  } catch {
    return undefined;
  }
}

/** Every complete base backup (one with backup.json), oldest first. */
export async function listBaseBackups(store: BackupStore): Promise<BaseBackupInfo[]> {
  const ids = new Set<string>();
  for (const object of await store.list(BASE_FOLDER)) {
    const [id = '', name] = object.key.slice(BASE_FOLDER.length).split('/');
    if (isBackupId(id) && name === BASE_INFO_OBJECT) ids.add(id);
  }
  const infos: BaseBackupInfo[] = [];
  for (const id of [...ids].sort()) {
    const info = parseBaseInfo(await store.getText(`${BASE_FOLDER}${id}/${BASE_INFO_OBJECT}`));
    if (info !== undefined) infos.push(info);
  }
  return infos;
}

export interface BaseBackupOptions {
  /** A role with REPLICATION on the server to back up (the superuser locally). */
  readonly connectionString: string;
  readonly store: BackupStore;
  /** Delete base backups older than this many days afterwards (never the newest), and the WAL only they needed; 0 keeps all. */
  readonly retentionDays: number;
  readonly now?: () => Date;
  readonly progress?: (line: string) => void;
}

/**
 * pg_basebackup as a gzipped tar streamed into the store, then backup.json. WAL is not included (-X none): the server
 * archives it, and pg_basebackup waits until the segments the backup needs are archived.
 */
export async function takeBaseBackup(options: BaseBackupOptions): Promise<BaseBackupInfo> {
  const progress = options.progress ?? (() => undefined);
  const now = options.now ?? (() => new Date());
  const started = now();
  const backupId = backupIdFor(started);
  const { dbname, env } = libpqConnection(options.connectionString);
  const { serverVersion, startWal } = await serverFacts(options.connectionString);
  progress(`base backup ${backupId}: pg_basebackup streaming to ${options.store.url(`${BASE_FOLDER}${backupId}/`)}`);
  const tool = startPostgresTool(
    'pg_basebackup',
    [
      `--dbname=${dbname}`,
      '--pgdata=-',
      '--format=tar',
      '--gzip',
      '--wal-method=none',
      '--checkpoint=fast',
      '--no-password',
    ],
    env,
    { stdout: 'pipe' },
  );
  const hashing = hashingPassThrough();
  if (tool.stdout === null) throw new PostgresToolError('pg_basebackup gave no output stream');
  const upload = options.store.putStream(`${BASE_FOLDER}${backupId}/${BASE_OBJECT}`, tool.stdout.pipe(hashing.stream));
  try {
    await Promise.all([tool.exited, upload]);
  } catch (error) {
    tool.kill();
    await upload.catch(() => undefined);
    throw error;
  }
  const digest = hashing.digest();
  const info: BaseBackupInfo = {
    format: 'slipway-base-backup/1',
    backupId,
    startedAt: started.toISOString(),
    finishedAt: now().toISOString(),
    sha256: digest.sha256,
    size: digest.size,
    serverVersion,
    startWal,
  };
  await options.store.putText(
    `${BASE_FOLDER}${backupId}/${BASE_INFO_OBJECT}`,
    `${JSON.stringify(info, null, 2)}\n`,
    'application/json',
  );
  progress(`base backup ${backupId}: ${(digest.size / 1e6).toFixed(1)} MB, sha256 ${digest.sha256.slice(0, 12)}…`);
  if (options.retentionDays > 0) {
    const pruned = await pruneBaseBackups(options.store, options.retentionDays, now());
    progress(
      `retention: deleted ${pruned.baseBackups} base backups and ${pruned.walFiles} WAL files older than ${options.retentionDays} days`,
    );
  }
  return info;
}

/**
 * Deletes base backups started more than `days` ago, never the newest, then every archived WAL segment older than
 * the oldest kept base backup's start (timeline history files stay: they are tiny and recovery reads them).
 */
export async function pruneBaseBackups(
  store: BackupStore,
  days: number,
  now: Date,
): Promise<{ readonly baseBackups: number; readonly walFiles: number }> {
  const bases = await listBaseBackups(store);
  const cutoff = now.getTime() - days * 86_400_000;
  const newest = bases.at(-1)?.backupId;
  const expired = bases.filter((base) => base.backupId !== newest && new Date(base.startedAt).getTime() < cutoff);
  for (const base of expired)
    await store.delete((await store.list(`${BASE_FOLDER}${base.backupId}/`)).map((object) => object.key));
  const oldestKept = bases.find((base) => !expired.includes(base));
  if (oldestKept === undefined) return { baseBackups: expired.length, walFiles: 0 };
  // Segment names are timeline, log and segment numbers in fixed-width hex: text order is WAL order.
  const older = (await store.list(WAL_FOLDER))
    .map((object) => object.key)
    .filter((key) => /^[0-9A-F]{24}/.test(key.slice(WAL_FOLDER.length)))
    .filter((key) => key.slice(WAL_FOLDER.length, WAL_FOLDER.length + 24) < oldestKept.startWal);
  await store.delete(older);
  return { baseBackups: expired.length, walFiles: older.length };
}

async function serverFacts(connectionString: string): Promise<{ serverVersion: string; startWal: string }> {
  const client = new Client({ connectionString, application_name: 'erp-api-base-backup' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string; wal: string }>(
      "SELECT current_setting('server_version') AS server_version, pg_walfile_name(pg_current_wal_lsn()) AS wal",
    );
    return { serverVersion: rows[0]?.server_version ?? 'unknown', startWal: rows[0]?.wal ?? '' };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The system account the scratch server runs as when we are root (PostgreSQL refuses root). */
function scratchAccount(): { readonly uid: number; readonly gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const entry = spawnSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' });
  const [, , uid, gid] = entry.stdout.trim().split(':');
  if (entry.status !== 0 || uid === undefined || gid === undefined)
    throw new PostgresToolError(
      "running as root, and there is no 'postgres' account to run the scratch PostgreSQL as: install the postgresql package (scripts/bootstrap does), or run as a normal user",
    );
  return { uid: Number(uid), gid: Number(gid) };
}

/** The PostgreSQL server binary point-in-time recovery runs a scratch cluster with. */
function serverBinary(): string {
  const path = join(POSTGRES_BIN_DIR, 'postgres');
  if (!existsSync(path))
    throw new PostgresToolError(
      `${path} is missing: point-in-time recovery replays WAL in a scratch PostgreSQL server; install it with apt-get install -y postgresql-15 (scripts/bootstrap does). In the cloud use RDS point-in-time recovery (runbooks/disaster-recovery.md)`,
    );
  return path;
}

export interface PointInTimeOptions extends TargetOptions {
  readonly store: BackupStore;
  /** Recover up to and including this time; undefined replays every archived WAL file (the newest recoverable point). */
  readonly toTime: Date | undefined;
  /** `latest` (the newest base backup finished before the target) or a base backup id. */
  readonly from?: string;
  readonly scratchDir?: string;
  readonly progress?: (line: string) => void;
}

export interface PointInTimeResult {
  readonly baseBackupId: string;
  readonly targetUrl: string;
  readonly toTime: string | undefined;
  /** The commit time of the last transaction replayed (pg_last_xact_replay_timestamp); undefined when none was. */
  readonly newestChange: string | undefined;
  readonly rowCounts: Readonly<Record<KeyTable, number>>;
  readonly downloadMs: number;
  readonly replayMs: number;
  readonly restoreMs: number;
  readonly totalMs: number;
}

/** The newest base backup that can reach `toTime` (finished before it), or the one `from` names. */
async function chooseBaseBackup(store: BackupStore, from: string, toTime: Date | undefined): Promise<BaseBackupInfo> {
  const bases = await listBaseBackups(store);
  if (from !== 'latest') {
    const named = bases.find((base) => base.backupId === from);
    if (named === undefined)
      throw new RestoreRefusedError(
        `there is no complete base backup ${JSON.stringify(from)} in ${store.url(BASE_FOLDER)}; list them there, or pass --from latest`,
      );
    if (toTime !== undefined && new Date(named.finishedAt) > toTime)
      throw new RestoreRefusedError(
        `base backup ${from} finished at ${named.finishedAt}, after --to-time ${toTime.toISOString()}; pick an older base backup`,
      );
    return named;
  }
  const usable = bases.filter((base) => toTime === undefined || new Date(base.finishedAt) <= toTime);
  const chosen = usable.at(-1);
  if (chosen === undefined)
    throw new RestoreRefusedError(
      bases.length === 0
        ? `there is no base backup in ${store.url(BASE_FOLDER)}: point-in-time recovery needs one (npm run wal -w app -- base-backup) and the server archiving WAL`
        : `--to-time ${toTime?.toISOString() ?? ''} is before the oldest base backup finished (${bases[0]?.finishedAt ?? ''}); nothing can be recovered to that time`,
    );
  return chosen;
}

const KEPT_LOG = 4000;

/** The scratch cluster: a postgres process on a private socket, and what it wrote to stderr. */
interface ScratchServer {
  readonly socketDir: string;
  readonly port: number;
  readonly exited: Promise<number | null>;
  log(): string;
  stop(): Promise<void>;
}

function startScratchServer(
  dataDir: string,
  socketDir: string,
  settings: readonly string[],
  env: NodeJS.ProcessEnv,
  account: { readonly uid: number; readonly gid: number } | undefined,
): ScratchServer {
  // A socket only (no TCP listener), so the port cannot collide with anything; 5432 names the socket file.
  const port = 5432;
  const child = spawn(
    serverBinary(),
    [
      '-D',
      dataDir,
      ...[
        `port=${port}`,
        'listen_addresses=',
        `unix_socket_directories=${socketDir}`,
        `hba_file=${join(socketDir, 'pg_hba.conf')}`,
        // The scratch must not archive into the store it recovers from: a second timeline there would confuse both.
        'archive_mode=off',
        'hot_standby=off',
        'fsync=off',
        'logging_collector=off',
        ...settings,
      ].flatMap((setting) => ['-c', setting]),
    ],
    {
      cwd: '/',
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(account === undefined ? {} : { uid: account.uid, gid: account.gid }),
    },
  );
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    log = (log + chunk).slice(-KEPT_LOG);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (error) => {
      log += `\n${error.message}`;
      resolve(-1);
    });
    child.on('close', (code) => resolve(code));
  });
  return {
    socketDir,
    port,
    exited,
    log: () => log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}

/** Waits until the scratch server has finished recovery and accepts connections as a primary. */
async function waitForPromotion(server: ScratchServer, user: string, database: string): Promise<Date | undefined> {
  const state = { exited: false };
  void server.exited.then(() => {
    state.exited = true;
  });
  for (;;) {
    if (state.exited)
      throw new PostgresToolError(
        `the scratch PostgreSQL stopped during recovery: ${server.log().trim().split('\n').slice(-6).join(' | ')}`,
      );
    const client = new Client({ host: server.socketDir, port: server.port, user, database });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ recovering: boolean; replayed: Date | null }>(
        'SELECT pg_is_in_recovery() AS recovering, pg_last_xact_replay_timestamp() AS replayed',
      );
      const row = rows[0];
      // After promotion the replay timestamp stays at the last transaction recovery applied.
      if (row !== undefined && !row.recovering) return row.replayed ?? undefined;
    } catch {
      // still replaying (hot_standby is off, so it refuses connections until it is done)
    } finally {
      await client.end().catch(() => undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The store's BACKUP_* and AWS_* variables, for restore_command in the scratch server's environment. */
function storeEnvironment(store: BackupStore): Record<string, string> {
  const { config } = store;
  return {
    BACKUP_BUCKET: config.bucket,
    BACKUP_PREFIX: config.prefix,
    BACKUP_S3_ENDPOINT: config.endpoint ?? '',
    BACKUP_S3_FORCE_PATH_STYLE: String(config.forcePathStyle),
    ...(config.region === undefined ? {} : { AWS_REGION: config.region }),
    ...(config.credentials === undefined
      ? {}
      : {
          AWS_ACCESS_KEY_ID: config.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: config.credentials.secretAccessKey,
          ...(config.credentials.sessionToken === undefined
            ? {}
            : { AWS_SESSION_TOKEN: config.credentials.sessionToken }),
        }),
  };
}

/** Parses an RFC 3339 time with a zone (Z or ±hh:mm); undefined when it is not one. */
export function parseRecoveryTime(value: string): Date | undefined {
  // eslint-disable-next-line security/detect-unsafe-regex -- anchored, bounded repetitions only
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/.test(value)) return undefined;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? undefined : time;
}

/**
 * Point-in-time recovery: the chosen base backup is unpacked into a scratch PostgreSQL cluster, which replays the
 * archived WAL up to `toTime` (or to its end) and promotes; the database DATABASE_URL names is then dumped from it and
 * restored into `into` on the live server, under the same overwrite guard as a logical restore.
 */
export async function pointInTimeRestore(options: PointInTimeOptions): Promise<PointInTimeResult> {
  const progress = options.progress ?? (() => undefined);
  const started = performance.now();
  await checkRestoreTarget(options);
  const base = await chooseBaseBackup(options.store, options.from ?? 'latest', options.toTime);
  const account = scratchAccount();
  progress(
    `recovering from base backup ${base.backupId} (finished ${base.finishedAt}) to ${options.toTime?.toISOString() ?? 'the end of the WAL archive'}`,
  );
  const scratch = await mkdtemp(join(options.scratchDir ?? tmpdir(), 'erp-api-pitr-'));
  // Unix sockets need a short path (107 bytes), whatever the scratch folder is.
  const socketDir = await mkdtemp(join(tmpdir(), 'erp-pitr-'));
  let server: ScratchServer | undefined;
  try {
    const archive = join(scratch, BASE_OBJECT);
    progress(
      `downloading ${options.store.url(`${BASE_FOLDER}${base.backupId}/${BASE_OBJECT}`)} (${(base.size / 1e6).toFixed(1)} MB)`,
    );
    const digest = await options.store.download(`${BASE_FOLDER}${base.backupId}/${BASE_OBJECT}`, archive);
    if (digest.sha256 !== base.sha256 || digest.size !== base.size)
      throw new RestoreRefusedError(
        `base backup ${base.backupId} is corrupt: sha256 ${digest.sha256} (${digest.size} bytes), backup.json says ${base.sha256} (${base.size} bytes); pick an older one with --from`,
      );
    const dataDir = join(scratch, 'data');
    await mkdir(dataDir, { mode: 0o700 });
    const untar = spawnSync('tar', ['-xzf', archive, '-C', dataDir], { encoding: 'utf8' });
    if (untar.status !== 0)
      throw new PostgresToolError(`tar could not unpack ${archive}: ${(untar.stderr || String(untar.error)).trim()}`);
    await rm(archive);
    const downloadMs = Math.round(performance.now() - started);
    await writeFile(join(dataDir, 'recovery.signal'), '');
    await writeFile(join(socketDir, 'pg_hba.conf'), 'local all all trust\n');
    if (account !== undefined) {
      for (const dir of [scratch, socketDir]) await chown(dir, account.uid, account.gid);
      await chown(join(socketDir, 'pg_hba.conf'), account.uid, account.gid);
      const owned = spawnSync('chown', ['-R', `${account.uid}:${account.gid}`, dataDir], { encoding: 'utf8' });
      if (owned.status !== 0) throw new PostgresToolError(`chown of ${dataDir} failed: ${owned.stderr.trim()}`);
    }
    await chmod(dataDir, 0o700);

    const replayStarted = performance.now();
    const user = decodeURIComponent(new URL(options.connectionString).username);
    const database = databaseName(options.connectionString);
    server = startScratchServer(
      dataDir,
      socketDir,
      [
        `restore_command=${walShellCommand('fetch')}`,
        ...(options.toTime === undefined
          ? []
          : [
              // PostgreSQL's timestamptz input takes a space and a numeric zone, not ISO's T and Z.
              `recovery_target_time=${options.toTime.toISOString().replace('T', ' ').replace('Z', '+00')}`,
              'recovery_target_action=promote',
            ]),
      ],
      { ...process.env, ...storeEnvironment(options.store) },
      account,
    );
    progress('replaying archived WAL in a scratch PostgreSQL');
    const replayed = await waitForPromotion(server, user, database);
    const replayMs = Math.round(performance.now() - replayStarted);
    progress(`recovered: last replayed transaction committed at ${replayed?.toISOString() ?? 'none'}`);

    const restoreStarted = performance.now();
    const dump = join(scratch, 'recovered.pgcustom');
    await runPostgresTool(
      'pg_dump',
      [
        '--format=custom',
        '--no-password',
        `--host=${socketDir}`,
        `--port=${server.port}`,
        `--username=${user}`,
        `--file=${dump}`,
        database,
      ],
      {},
    );
    await server.stop();
    server = undefined;
    await rm(dataDir, { recursive: true, force: true });
    const targetUrl = await createTargetDatabase(options);
    await pgRestore(targetUrl, dump, progress);
    const rowCounts = await countRows(targetUrl);
    const restoreMs = Math.round(performance.now() - restoreStarted);
    progress(`restored ${database} as of ${replayed?.toISOString() ?? 'the base backup'} into ${options.into}`);
    return {
      baseBackupId: base.backupId,
      targetUrl,
      toTime: options.toTime?.toISOString(),
      newestChange: replayed?.toISOString(),
      rowCounts,
      downloadMs,
      replayMs,
      restoreMs,
      totalMs: Math.round(performance.now() - started),
    };
  } finally {
    await server?.stop();
    await rm(scratch, { recursive: true, force: true });
    await rm(socketDir, { recursive: true, force: true });
  }
}

async function countRows(url: string): Promise<Record<KeyTable, number>> {
  const client = new Client({ connectionString: url, application_name: 'erp-api-restore' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const counts = {} as Record<KeyTable, number>;
    for (const table of KEY_TABLES) {
      const { rows } = await client.query<{ count: string }>(`SELECT count(*)::text AS count FROM ${table}`);
      counts[table] = Number(rows[0]?.count ?? 0);
    }
    return counts;
  } finally {
    await client.end().catch(() => undefined);
  }
}
