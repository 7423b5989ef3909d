import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from 'pg';

import { fileDigest } from './checksum.js';
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
import { POSTGRES_MAJOR_VERSION, libpqConnection, runPostgresTool } from './postgres.js';
import type { BackupStore } from './store.js';

export interface TakeBackupOptions {
  /** The database to back up (the admin DATABASE_URL: it must read every table). */
  readonly connectionString: string;
  readonly store: BackupStore;
  /** Delete whole backups older than this many days after success, never the newest; 0 deletes nothing. */
  readonly retentionDays: number;
  /** Where the dump is written before upload (default: the OS temp dir, /tmp in the image). */
  readonly scratchDir?: string;
  readonly now?: () => Date;
  /** One line of progress at a time, for stderr. */
  readonly progress?: (line: string) => void;
}

export interface BackupResult {
  readonly manifest: BackupManifest;
  /** Backup ids retention deleted. */
  readonly pruned: readonly string[];
  readonly dumpMs: number;
  readonly uploadMs: number;
  readonly totalMs: number;
}

/** The backup is complete (manifest written) but expired backups could not be deleted. */
export class RetentionError extends Error {
  override readonly name = 'RetentionError';
}

/** Compression level of the custom-format dump: zlib 6, pg_dump's default, a fair trade on 2 cores. */
const COMPRESSION = '6';

/**
 * Takes a consistent logical backup: one REPEATABLE READ snapshot is exported, the manifest's migrations, row
 * counts and audit head are read in it and pg_dump dumps exactly it; then the dump is uploaded and the manifest
 * written last, so a backup whose upload failed never looks complete. Retention runs only after success.
 */
export async function takeBackup(options: TakeBackupOptions): Promise<BackupResult> {
  const progress = options.progress ?? (() => undefined);
  const now = options.now ?? (() => new Date());
  const started = performance.now();
  const scratch = await mkdtemp(join(options.scratchDir ?? tmpdir(), 'erp-api-backup-'));
  try {
    const client = new Client({ connectionString: options.connectionString, application_name: 'erp-api-backup' });
    client.on('error', () => undefined);
    await client.connect();
    let snapshotOpen = false;
    const dumpFile = join(scratch, DUMP_OBJECT);
    let facts: DatabaseFacts;
    let createdAt: Date;
    let serverVersion: string;
    let database: string;
    let dumpMs: number;
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
      const { dbname, env } = libpqConnection(options.connectionString);
      const dumpStarted = performance.now();
      await runPostgresTool(
        'pg_dump',
        [
          '--format=custom',
          `--compress=${COMPRESSION}`,
          `--snapshot=${head.snapshot}`,
          '--no-password',
          '--verbose',
          `--file=${dumpFile}`,
          `--dbname=${dbname}`,
        ],
        env,
        (line) => {
          if (line.includes('dumping contents of table')) progress(line);
        },
      );
      dumpMs = Math.round(performance.now() - dumpStarted);
    } finally {
      if (snapshotOpen) await client.query('COMMIT').catch(() => undefined);
      await client.end().catch(() => undefined);
    }
    // A dump pg_restore cannot list is not a backup.
    await runPostgresTool('pg_restore', ['--list', dumpFile], {});
    const digest = await fileDigest(dumpFile);
    progress(
      `dump written: ${(digest.size / 1e6).toFixed(1)} MB in ${(dumpMs / 1000).toFixed(1)} s, sha256 ${digest.sha256}`,
    );

    const backupId = backupIdFor(createdAt);
    const dumpKey = backupObjectKey(backupId, DUMP_OBJECT);
    const uploadStarted = performance.now();
    let reported = 0;
    await options.store.putFile(dumpKey, dumpFile, (sent) => {
      const share = digest.size === 0 ? 1 : sent / digest.size;
      if (share - reported < 0.1 && sent < digest.size) return;
      reported = share;
      progress(`uploading ${options.store.url(dumpKey)}: ${Math.round(share * 100)}%`);
    });
    const uploadMs = Math.round(performance.now() - uploadStarted);
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
    return { manifest, pruned, dumpMs, uploadMs, totalMs: Math.round(performance.now() - started) };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
