import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client, escapeIdentifier } from 'pg';

import { latestBackupId } from './catalogue.js';
import {
  DUMP_OBJECT,
  MANIFEST_OBJECT,
  backupObjectKey,
  factDifferences,
  isBackupId,
  parseManifest,
  readDatabaseFacts,
} from './manifest.js';
import type { BackupManifest } from './manifest.js';
import { databaseName, libpqConnection, runPostgresTool, withDatabase } from './postgres.js';
import type { BackupStore } from './store.js';

/** A restore that was refused before touching any database: the target is live or exists, or nothing to restore. */
export class RestoreRefusedError extends Error {
  override readonly name = 'RestoreRefusedError';
}

/** A backup object whose bytes differ from its manifest: nothing was restored from it. */
export class ChecksumMismatchError extends Error {
  override readonly name = 'ChecksumMismatchError';
}

/** The restored database differs from the manifest (migrations, row counts or the audit head). */
export class RestoreVerificationError extends Error {
  override readonly name = 'RestoreVerificationError';

  constructor(readonly problems: readonly string[]) {
    super(`the restored database differs from its manifest: ${problems.join('; ')}`);
  }
}

/** A database name the restore creates: plain, so it reads the same in SQL, URLs and logs. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** `latest` (the newest backup with a manifest) or a backup id, as the id of a backup that is there. */
export async function resolveBackupId(store: BackupStore, from: string): Promise<string> {
  if (from === 'latest') {
    const latest = await latestBackupId(store);
    if (latest === undefined)
      throw new RestoreRefusedError(
        `there is no complete backup (one with ${MANIFEST_OBJECT}) in ${store.url('backups/')}; run erp-api backup first`,
      );
    return latest;
  }
  if (!isBackupId(from))
    throw new RestoreRefusedError(
      `--from ${JSON.stringify(from)} is neither latest nor a backup id such as 2026-12-05T01-02-03-456Z`,
    );
  return from;
}

export interface FetchedBackup {
  readonly manifest: BackupManifest;
  /** Local paths of the manifest's objects, by name, each checked against its sha256 and size. */
  readonly files: Readonly<Record<string, string>>;
}

/**
 * Downloads a backup's manifest and objects into `dir` and checks every object's sha256 and size against the
 * manifest, before anything is restored from them.
 * @throws {ChecksumMismatchError} naming the first object that differs.
 */
export async function fetchVerifiedBackup(
  store: BackupStore,
  backupId: string,
  dir: string,
  progress: (line: string) => void = () => undefined,
): Promise<FetchedBackup> {
  const manifestKey = backupObjectKey(backupId, MANIFEST_OBJECT);
  const manifest = parseManifest(await store.getText(manifestKey), store.url(manifestKey));
  if (manifest.backupId !== backupId)
    throw new ChecksumMismatchError(`${store.url(manifestKey)} names backup ${manifest.backupId}, not ${backupId}`);
  const files: Record<string, string> = {};
  for (const object of manifest.objects) {
    const key = backupObjectKey(backupId, object.name);
    const path = join(dir, object.name);
    progress(`downloading ${store.url(key)} (${(object.size / 1e6).toFixed(1)} MB)`);
    const digest = await store.download(key, path);
    if (digest.sha256 !== object.sha256 || digest.size !== object.size)
      throw new ChecksumMismatchError(
        `${store.url(key)} is corrupt: sha256 ${digest.sha256} (${digest.size} bytes), the manifest says ${object.sha256} (${object.size} bytes); restore another backup (erp-api restore --from <older id>)`,
      );
    progress(`${object.name}: sha256 matches the manifest`);
    files[object.name] = path;
  }
  return { manifest, files };
}

export interface TargetOptions {
  /** The live database's URL (DATABASE_URL): the server to restore on, and the database never to overwrite by accident. */
  readonly connectionString: string;
  /** The database to restore into; created when absent. */
  readonly into: string;
  /** Must repeat `into` to replace an existing database, and to touch the live one at all. */
  readonly confirmOverwrite?: string | undefined;
}

async function withMaintenanceClient<T>(connectionString: string, use: (client: Client) => Promise<T>): Promise<T> {
  const admin = new Client({
    connectionString: withDatabase(connectionString, 'postgres'),
    application_name: 'erp-api-restore',
  });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/**
 * Checks, changing nothing, that restoring into `into` is allowed: the live database only when `confirmOverwrite`
 * repeats its name, an existing database likewise.
 * @throws {RestoreRefusedError} saying why and what to pass instead.
 */
export async function checkRestoreTarget(options: TargetOptions): Promise<{ readonly exists: boolean }> {
  const { into, confirmOverwrite } = options;
  if (!DATABASE_NAME.test(into))
    throw new RestoreRefusedError(
      `--into ${JSON.stringify(into)} is not a plain database name: use lower-case letters, digits and _ (at most 63), such as erp_restore`,
    );
  const live = databaseName(options.connectionString);
  const confirmed = confirmOverwrite === into;
  if (confirmOverwrite !== undefined && !confirmed)
    throw new RestoreRefusedError(
      `--confirm-overwrite ${JSON.stringify(confirmOverwrite)} does not repeat --into ${JSON.stringify(into)}; nothing was changed`,
    );
  if (into === live && !confirmed)
    throw new RestoreRefusedError(
      `--into ${into} is the live database (DATABASE_URL); restore into a scratch database, or repeat its name with --confirm-overwrite ${into} to replace it`,
    );
  const exists = await withMaintenanceClient(options.connectionString, async (admin) => {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [into]);
    return (rowCount ?? 0) > 0;
  });
  if (exists && !confirmed)
    throw new RestoreRefusedError(
      `database ${into} already exists; restore into a new name, or repeat it with --confirm-overwrite ${into} to drop and replace it`,
    );
  return { exists };
}

/**
 * Makes `into` an empty database after {@link checkRestoreTarget} allowed it: drops it first when it exists (the
 * name was confirmed). Returns the target's connection URL.
 */
export async function createTargetDatabase(options: TargetOptions): Promise<string> {
  const { exists } = await checkRestoreTarget(options);
  await withMaintenanceClient(options.connectionString, async (admin) => {
    // FORCE ends the sessions still connected, which the operator confirmed by repeating the name.
    if (exists) await admin.query(`DROP DATABASE ${escapeIdentifier(options.into)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${escapeIdentifier(options.into)} TEMPLATE template0`);
  });
  return withDatabase(options.connectionString, options.into);
}

/** Parallel restore jobs: the 2 cores of the drill's machine, and a job's request in the cluster. */
const RESTORE_JOBS = '2';

/** pg_restore of a custom-format dump into an empty database; objects owned by the connecting role. */
export async function pgRestore(
  targetUrl: string,
  dumpFile: string,
  progress: (line: string) => void = () => undefined,
): Promise<void> {
  const { dbname, env } = libpqConnection(targetUrl);
  await runPostgresTool(
    'pg_restore',
    [
      '--exit-on-error',
      '--no-owner',
      `--jobs=${RESTORE_JOBS}`,
      '--no-password',
      '--verbose',
      `--dbname=${dbname}`,
      dumpFile,
    ],
    env,
    (line) => {
      if (/processing data for table|finished main parallel loop/.test(line)) progress(line);
    },
  );
}

/**
 * Compares a restored database with its manifest: migration checksums, row counts of the key tables, the audit
 * log's newest sequence number and hash.
 * @throws {RestoreVerificationError} listing every difference.
 */
export async function verifyRestoredDatabase(targetUrl: string, manifest: BackupManifest): Promise<void> {
  const client = new Client({ connectionString: targetUrl, application_name: 'erp-api-restore' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const problems = factDifferences(manifest, await readDatabaseFacts(client));
    await client.query('COMMIT');
    if (problems.length > 0) throw new RestoreVerificationError(problems);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface RestoreOptions extends TargetOptions {
  readonly store: BackupStore;
  /** `latest` or a backup id. */
  readonly from: string;
  readonly scratchDir?: string;
  readonly progress?: (line: string) => void;
}

export interface RestoreResult {
  readonly manifest: BackupManifest;
  /** The restored database's URL (with the live URL's credentials). */
  readonly targetUrl: string;
  readonly downloadMs: number;
  readonly restoreMs: number;
  readonly verifyMs: number;
  readonly totalMs: number;
}

/**
 * Restores a backup: resolve `from`, check the target may be written, download and check every object's checksum,
 * create the database, pg_restore, then compare migrations, row counts and the audit head with the manifest.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const progress = options.progress ?? (() => undefined);
  const started = performance.now();
  const backupId = await resolveBackupId(options.store, options.from);
  progress(`restoring backup ${backupId} into ${options.into}`);
  const scratch = await mkdtemp(join(options.scratchDir ?? tmpdir(), 'erp-api-restore-'));
  try {
    // Refusals first, before any download; the database is made only once every object's checksum holds.
    await checkRestoreTarget(options);
    const fetched = await fetchVerifiedBackup(options.store, backupId, scratch, progress);
    const downloadMs = Math.round(performance.now() - started);
    const targetUrl = await createTargetDatabase(options);
    const restoreStarted = performance.now();
    const dump = fetched.files[DUMP_OBJECT];
    if (dump === undefined) throw new ChecksumMismatchError(`backup ${backupId} has no dump.pgcustom`);
    await pgRestore(targetUrl, dump, progress);
    const restoreMs = Math.round(performance.now() - restoreStarted);
    const verifyStarted = performance.now();
    await verifyRestoredDatabase(targetUrl, fetched.manifest);
    const verifyMs = Math.round(performance.now() - verifyStarted);
    progress(`restored ${backupId} into ${options.into}: migrations, row counts and audit head match the manifest`);
    return {
      manifest: fetched.manifest,
      targetUrl,
      downloadMs,
      restoreMs,
      verifyMs,
      totalMs: Math.round(performance.now() - started),
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
