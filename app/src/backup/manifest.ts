import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { ClientBase } from 'pg';

import { appliedMigrations } from '../db/migrations.js';

/** The manifest's format; a restore refuses a format it does not know. */
export const MANIFEST_FORMAT = 'slipway-backup/1';
/** Object names inside a backup's folder; the manifest is written last, so without it a backup is not complete. */
export const DUMP_OBJECT = 'dump.pgcustom';
export const MANIFEST_OBJECT = 'manifest.json';
/** Every backup's folder under the configured prefix: `<prefix>backups/<backup-id>/`. */
export const BACKUPS_FOLDER = 'backups/';

/** Tables whose row counts a backup records and a restore compares: people, catalogue, orders, the audit log. */
export const KEY_TABLES = ['users', 'products', 'orders', 'order_items', 'audit_logs'] as const;
export type KeyTable = (typeof KEY_TABLES)[number];

/** `2026-12-05T01-02-03-456Z`: a UTC time, sortable as text, safe in an S3 key. */
const BACKUP_ID = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

export function backupIdFor(time: Date): string {
  return time.toISOString().replace(/[:.]/g, '-');
}

export function isBackupId(value: string): boolean {
  return BACKUP_ID.test(value);
}

/** The key of an object of a backup, below the configured prefix. */
export function backupObjectKey(backupId: string, object: string): string {
  return `${BACKUPS_FOLDER}${backupId}/${object}`;
}

export interface ManifestObject {
  /** The object's name inside the backup's folder, such as dump.pgcustom. */
  readonly name: string;
  readonly sha256: string;
  readonly size: number;
}

export interface ManifestMigration {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
}

/** The newest audit row: its id (the chain's sequence number, as text: a bigint) and hash. */
export interface AuditHead {
  readonly sequence: string;
  readonly hash: string;
}

/** What a database held at one snapshot: compared between the source of a backup and its restore. */
export interface DatabaseFacts {
  readonly migrations: readonly ManifestMigration[];
  readonly rowCounts: Readonly<Record<KeyTable, number>>;
  /** Null when the audit log is empty. */
  readonly auditHead: AuditHead | null;
}

export interface BackupManifest extends DatabaseFacts {
  readonly format: typeof MANIFEST_FORMAT;
  readonly backupId: string;
  /** When the snapshot was taken (ISO 8601, UTC). */
  readonly createdAt: string;
  /** When the dump was uploaded, just before the manifest. */
  readonly completedAt: string;
  /** The git commit of the app that took the backup; null when it cannot tell (a source tree without git). */
  readonly sourceCommit: string | null;
  readonly database: string;
  /** `server_version` of the source server, such as 15.14. */
  readonly serverVersion: string;
  readonly pgDumpVersion: number;
  readonly objects: readonly ManifestObject[];
}

/**
 * Reads migrations, row counts and the audit head on `client`; run inside the dump's snapshot transaction so the
 * numbers describe exactly the dumped data.
 */
export async function readDatabaseFacts(client: ClientBase): Promise<DatabaseFacts> {
  const migrations = (await appliedMigrations(client)).map(({ version, name, checksum }) => ({
    version,
    name,
    checksum,
  }));
  const counts: Partial<Record<KeyTable, number>> = {};
  for (const table of KEY_TABLES) {
    // Fixed table names from KEY_TABLES, never input.
    const { rows } = await client.query<{ count: string }>(`SELECT count(*)::text AS count FROM ${table}`);
    counts[table] = Number(rows[0]?.count ?? Number.NaN);
  }
  const { rows } = await client.query<{ sequence: string; hash: string }>(
    'SELECT id::text AS sequence, hash FROM audit_logs ORDER BY id DESC LIMIT 1',
  );
  const head = rows[0];
  return {
    migrations,
    rowCounts: counts as Record<KeyTable, number>,
    auditHead: head === undefined ? null : { sequence: head.sequence, hash: head.hash },
  };
}

/** Where the facts of a restored database differ from its manifest, one line each; empty when they agree. */
export function factDifferences(expected: DatabaseFacts, actual: DatabaseFacts): string[] {
  const problems: string[] = [];
  const describe = (m: ManifestMigration) => `${String(m.version).padStart(4, '0')}_${m.name} ${m.checksum}`;
  const want = expected.migrations.map(describe);
  const got = actual.migrations.map(describe);
  if (want.join('\n') !== got.join('\n'))
    problems.push(`migrations differ: the manifest lists [${want.join(', ')}], the database has [${got.join(', ')}]`);
  for (const table of KEY_TABLES) {
    if (expected.rowCounts[table] !== actual.rowCounts[table])
      problems.push(`${table} has ${actual.rowCounts[table]} rows, the manifest says ${expected.rowCounts[table]}`);
  }
  const head = (value: AuditHead | null) => (value === null ? 'none (empty log)' : `${value.sequence} ${value.hash}`);
  if (head(expected.auditHead) !== head(actual.auditHead))
    problems.push(`the newest audit row is ${head(actual.auditHead)}, the manifest says ${head(expected.auditHead)}`);
  return problems;
}

/** A manifest that does not have the expected shape. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses and checks a manifest's shape; `where` names it in errors. */
export function parseManifest(text: string, where: string): BackupManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`${where} is not JSON: ${(error as Error).message}`);
  }
  const problems: string[] = [];
  if (!isRecord(value)) throw new ManifestError(`${where} is not a JSON object`);
  if (value.format !== MANIFEST_FORMAT)
    problems.push(`format is ${JSON.stringify(value.format)}, expected ${MANIFEST_FORMAT}`);
  if (typeof value.backupId !== 'string' || !isBackupId(value.backupId)) problems.push('backupId is not a backup id');
  const objects = Array.isArray(value.objects) ? (value.objects as unknown[]) : [];
  if (objects.length === 0) problems.push('objects is empty or missing');
  for (const object of objects) {
    if (
      !isRecord(object) ||
      typeof object.name !== 'string' ||
      !/^[\w.-]+$/.test(object.name) ||
      typeof object.sha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(object.sha256) ||
      typeof object.size !== 'number'
    )
      problems.push(`object ${JSON.stringify(object)} needs name, sha256 (64 hex) and size`);
  }
  if (!objects.some((object) => isRecord(object) && object.name === DUMP_OBJECT))
    problems.push(`objects lacks ${DUMP_OBJECT}`);
  if (!Array.isArray(value.migrations)) problems.push('migrations is missing');
  if (
    !isRecord(value.rowCounts) ||
    KEY_TABLES.some((table) => typeof (value.rowCounts as Record<string, unknown>)[table] !== 'number')
  )
    problems.push(`rowCounts needs a number for each of ${KEY_TABLES.join(', ')}`);
  if (problems.length > 0) throw new ManifestError(`${where} is not a valid backup manifest: ${problems.join('; ')}`);
  return value as unknown as BackupManifest;
}

/**
 * The commit the running app was built from: app/source.json in the image (written by the release build), else git
 * in a source checkout; null when neither tells.
 */
export function sourceCommit(): string | null {
  try {
    const file = fileURLToPath(new URL('../../source.json', import.meta.url));
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- a fixed path next to the app
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { commit?: unknown };
    if (typeof parsed.commit === 'string' && /^[0-9a-f]{40}$/.test(parsed.commit)) return parsed.commit;
  } catch {
    // not an image build: ask git below
  }
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return /^[0-9a-f]{40}$/.test(commit) ? commit : null;
  } catch {
    return null;
  }
}
