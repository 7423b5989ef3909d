import { Client } from 'pg';

import { hashingPassThrough } from './checksum.js';
import type { Digest } from './checksum.js';
import { expiredBackups, listBackups } from './catalogue.js';
import {
  DUMP_OBJECT,
  MANIFEST_FORMAT,
  MANIFEST_OBJECT,
  backupIdFor,
  backupObjectKey,
  readDatabaseFacts,
  sourceCommit,
} from './manifest.js';
import type { BackupManifest, DatabaseFacts } from './manifest.js';
import { POSTGRES_MAJOR_VERSION, libpqConnection, startPostgresTool } from './postgres.js';
import type { BackupStore } from './store.js';

export interface TakeBackupOptions {
  /** The database to back up (the admin DATABASE_URL: it must read every table). */
  readonly connectionString: string;
  readonly store: BackupStore;
  /** Delete whole backups older than this many days after success, never the newest; 0 deletes nothing. */
  readonly retentionDays: number;
  readonly now?: () => Date;
  /** One line of progress at a time, for stderr. */
  readonly progress?: (line: string) => void;
}

export interface BackupResult {
  readonly manifest: BackupManifest;
  /** Backup ids retention deleted. */
  readonly pruned: readonly string[];
  /** Snapshot, pg_dump and upload (they overlap: the dump streams to the store). */
  readonly dumpMs: number;
  readonly totalMs: number;
}

/** The backup is complete (manifest written) but expired backups could not be deleted. */
export class RetentionError extends Error {
  override readonly name = 'RetentionError';
}

/** Compression level of the custom-format dump: zlib 6, pg_dump's default, a fair trade on 2 cores. */
const COMPRESSION = '6';

/** Upload progress is reported at most this often. */
const PROGRESS_EVERY_MS = 5_000;

/**
 * Streams pg_dump of `snapshot` straight into the store (nothing staged on disk: a job's /tmp is small), hashing it
 * on the way. A failed dump or upload leaves no dump object behind.
 */
async function dumpToStore(
  options: TakeBackupOptions,
  snapshot: string,
  backupId: string,
  progress: (line: string) => void,
): Promise<Digest> {
  const { dbname, env } = libpqConnection(options.connectionString);
  const dump = startPostgresTool(
    'pg_dump',
    [
      '--format=custom',
      `--compress=${COMPRESSION}`,
      `--snapshot=${snapshot}`,
      '--no-password',
      '--verbose',
      `--dbname=${dbname}`,
    ],
    env,
    {
      stdout: 'pipe',
      onStderrLine: (line) => {
        if (line.includes('dumping contents of table')) progress(line);
      },
    },
  );
  const hashing = hashingPassThrough();
  dump.stdout?.pipe(hashing.stream);
  const key = backupObjectKey(backupId, DUMP_OBJECT);
  let lastReport = 0;
  const upload = options.store.putStream(key, hashing.stream, (sent) => {
    if (lastReport !== 0 && performance.now() - lastReport < PROGRESS_EVERY_MS) return;
    lastReport = performance.now();
    progress(`uploading ${options.store.url(key)}: ${(sent / 1e6).toFixed(1)} MB sent`);
  });
  try {
    // A failed upload stops the dump; a failed dump is caught below even when its truncated output uploaded.
    await Promise.all([
      upload.catch((error: unknown) => {
        dump.kill();
        throw error;
      }),
      dump.exited,
    ]);
  } catch (error) {
    dump.kill();
    hashing.stream.destroy();
    await upload.catch(() => undefined);
    await options.store.delete([key]).catch(() => undefined);
    throw error;
  }
  const digest = hashing.digest();
  progress(`dump uploaded: ${(digest.size / 1e6).toFixed(1)} MB, sha256 ${digest.sha256}`);
  return digest;
}

/**
 * Takes a consistent logical backup: one REPEATABLE READ snapshot is exported, the manifest's migrations, row
 * counts and audit head are read in it and pg_dump dumps exactly it; then the dump is uploaded and the manifest
 * written last, so a backup whose upload failed never looks complete. Retention runs only after success.
 */
export async function takeBackup(options: TakeBackupOptions): Promise<BackupResult> {
  const progress = options.progress ?? (() => undefined);
  const now = options.now ?? (() => new Date());
  const started = performance.now();
  const client = new Client({ connectionString: options.connectionString, application_name: 'erp-api-backup' });
  client.on('error', () => undefined);
  await client.connect();
  let snapshotOpen = false;
  let facts: DatabaseFacts;
  let createdAt: Date;
  let serverVersion: string;
  let database: string;
  let digest: Digest;
  let backupId: string;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    snapshotOpen = true;
    const { rows } = await client.query<{ snapshot: string; version: string; num: string; database: string }>(
      "SELECT pg_export_snapshot() AS snapshot, current_setting('server_version') AS version, current_setting('server_version_num') AS num, current_database() AS database",
    );
    const head = rows[0];
    if (head === undefined) throw new Error('pg_export_snapshot() returned no row');
    createdAt = now();
    serverVersion = head.version;
    database = head.database;
    const serverMajor = Math.floor(Number(head.num) / 10_000);
    if (serverMajor > POSTGRES_MAJOR_VERSION) {
      throw new Error(
        `the server runs PostgreSQL ${head.version}, newer than this image's pg_dump ${POSTGRES_MAJOR_VERSION}; pg_dump cannot read it. Keep the server at ${POSTGRES_MAJOR_VERSION} (infra/src/components/database.ts) or move POSTGRES_MAJOR_VERSION and the base image together`,
      );
    }
    facts = await readDatabaseFacts(client);
    progress(
      `snapshot ${head.snapshot} of ${database} (PostgreSQL ${head.version}): ${Object.entries(facts.rowCounts)
        .map(([table, count]) => `${table} ${count}`)
        .join(', ')}`,
    );
    backupId = backupIdFor(createdAt);
    digest = await dumpToStore(options, head.snapshot, backupId, progress);
  } finally {
    if (snapshotOpen) await client.query('COMMIT').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
  const dumpMs = Math.round(performance.now() - started);
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    backupId,
    createdAt: createdAt.toISOString(),
    completedAt: now().toISOString(),
    sourceCommit: sourceCommit(),
    database,
    serverVersion,
    pgDumpVersion: POSTGRES_MAJOR_VERSION,
    ...facts,
    objects: [{ name: DUMP_OBJECT, sha256: digest.sha256, size: digest.size }],
  };
  // Last: from here on the backup is complete and `latest` may name it.
  await options.store.putText(
    backupObjectKey(backupId, MANIFEST_OBJECT),
    `${JSON.stringify(manifest, null, 2)}\n`,
    'application/json',
  );
  progress(`backup ${backupId} complete: ${options.store.url(backupObjectKey(backupId, ''))}`);

  const pruned: string[] = [];
  if (options.retentionDays > 0) {
    try {
      for (const expired of expiredBackups(await listBackups(options.store), options.retentionDays, now())) {
        await options.store.delete(expired.keys);
        pruned.push(expired.backupId);
        progress(`retention: deleted backup ${expired.backupId} (older than ${options.retentionDays} days)`);
      }
    } catch (error) {
      throw new RetentionError(
        `backup ${backupId} is complete, but deleting expired backups failed: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  return { manifest, pruned, dumpMs, totalMs: Math.round(performance.now() - started) };
}
