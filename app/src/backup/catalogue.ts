import { BACKUPS_FOLDER, MANIFEST_OBJECT, backupObjectKey, isBackupId } from './manifest.js';
import type { BackupStore } from './store.js';

/** One backup folder in the store: complete when its manifest is there (the manifest is written last). */
export interface StoredBackup {
  readonly backupId: string;
  readonly complete: boolean;
  /** Keys of every object in the folder, below the configured prefix. */
  readonly keys: readonly string[];
  readonly bytes: number;
}

/** The time a backup id names. */
export function backupTime(backupId: string): Date {
  const [, date = '', hh = '', mm = '', ss = '', ms = ''] =
    /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})-(\d{3})Z$/.exec(backupId) ?? [];
  return new Date(`${date}T${hh}:${mm}:${ss}.${ms}Z`);
}

/** Every backup folder in the store, oldest first; keys that are not a backup's are ignored. */
export async function listBackups(store: BackupStore): Promise<StoredBackup[]> {
  const byId = new Map<string, { keys: string[]; bytes: number; complete: boolean }>();
  for (const object of await store.list(BACKUPS_FOLDER)) {
    const [backupId = '', name] = object.key.slice(BACKUPS_FOLDER.length).split('/');
    if (!isBackupId(backupId) || name === undefined) continue;
    const entry = byId.get(backupId) ?? { keys: [], bytes: 0, complete: false };
    entry.keys.push(object.key);
    entry.bytes += object.size;
    if (object.key === backupObjectKey(backupId, MANIFEST_OBJECT)) entry.complete = true;
    byId.set(backupId, entry);
  }
  return [...byId.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([backupId, entry]) => ({ backupId, ...entry }));
}

/** The newest backup with a manifest, or undefined when there is none. */
export async function latestBackupId(store: BackupStore): Promise<string | undefined> {
  return (await listBackups(store)).filter((backup) => backup.complete).at(-1)?.backupId;
}

/**
 * Backups to delete under a retention of `days`: every folder older than the cutoff, complete or not, except the
 * newest complete backup, which is kept whatever its age.
 */
export function expiredBackups(backups: readonly StoredBackup[], days: number, now: Date): StoredBackup[] {
  const cutoff = now.getTime() - days * 86_400_000;
  const newest = backups.filter((backup) => backup.complete).at(-1)?.backupId;
  return backups.filter((backup) => backup.backupId !== newest && backupTime(backup.backupId).getTime() < cutoff);
}
