import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { scopeDir } from '../../platform/paths.js';
import { isAlive, runsCommand } from '../../platform/processes.js';
import { EXIT, ReleaseError } from '../errors.js';
import type { ReleaseRecord } from '../release-record.js';

/** The version that takes the front door's traffic between releases. */
export interface StableVersion {
  /** `host:port` it answers on. */
  readonly address: string;
  readonly pod: string;
  readonly podTemplateHash: string;
  /** Image digest; absent for the app `npm start` runs from source. */
  readonly digest?: string;
  /** podman container name; absent for the app `npm start` runs from source (the platform owns that process). */
  readonly container?: string;
}

/** What a running release holds, so `status`, `abort`, a second `deploy` and the guard find it. */
export interface RunningRelease {
  readonly id: string;
  readonly executorPid: number;
  readonly guardPid?: number;
  readonly canaryContainer: string;
  readonly nginxDir: string;
  readonly frontDoorUrl: string;
  readonly prometheusTargetsDir: string;
  readonly stable: StableVersion;
}

export type ControlAction = 'abort' | 'promote';

/** Where a platform's releases live: `.local/<scope>/releases/<id>.json`, plus the lock and the stable version. */
export function releasesDir(scope: string): string {
  return join(scopeDir(scope), 'releases');
}

const file = (scope: string, name: string): string => join(releasesDir(scope), name);

function writeJson(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${String(process.pid)}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

export function recordFile(scope: string, id: string): string {
  return file(scope, `${id}.json`);
}

export function saveRecord(scope: string, record: ReleaseRecord): void {
  mkdirSync(releasesDir(scope), { recursive: true });
  writeJson(recordFile(scope, record.id), record);
}

export function readRecord(scope: string, id: string): ReleaseRecord | undefined {
  return readJson(recordFile(scope, id)) as ReleaseRecord | undefined;
}

/** Every release of the platform, oldest first (ids sort by time). */
export function listRecords(scope: string): ReleaseRecord[] {
  if (!existsSync(releasesDir(scope))) return [];
  return readdirSync(releasesDir(scope))
    .filter((name) => /^\d{8}T\d{6}Z-[0-9a-f]{8}\.json$/.test(name))
    .sort()
    .flatMap((name) => (readJson(file(scope, name)) as ReleaseRecord | undefined) ?? []);
}

export function readStable(scope: string): StableVersion | undefined {
  return readJson(file(scope, 'stable.json')) as StableVersion | undefined;
}

export function saveStable(scope: string, stable: StableVersion): void {
  mkdirSync(releasesDir(scope), { recursive: true });
  writeJson(file(scope, 'stable.json'), stable);
}

/** Forgets the promoted version (its container stopped with the platform): the next start serves the source app. */
export function clearStable(scope: string): void {
  rmSync(file(scope, 'stable.json'), { force: true });
}

export function readRunning(scope: string): RunningRelease | undefined {
  return readJson(file(scope, 'running.json')) as RunningRelease | undefined;
}

/** True while the executor recorded in running.json lives. */
export function executorAlive(running: RunningRelease): boolean {
  return isAlive(running.executorPid) && runsCommand(running.executorPid, process.execPath);
}

/**
 * Takes the platform's release lock, or refuses naming the release that holds it. A lock whose executor died is
 * returned as `orphan` for the caller to clean up (traffic back on stable) before it takes the lock.
 */
export function claimRelease(scope: string, running: RunningRelease): void {
  mkdirSync(releasesDir(scope), { recursive: true });
  const held = readRunning(scope);
  if (held !== undefined && executorAlive(held)) {
    const record = readRecord(scope, held.id);
    const stage = record?.stages.at(-1);
    throw new ReleaseError(
      `release ${held.id} is running (executor pid ${String(held.executorPid)}, canary ${record?.canary.digest ?? '?'}${stage === undefined ? '' : `, stage ${String(stage.index)} at ${String(stage.weight)} %`})`,
      'wait for it (npm run release -- status), or stop it: npm run release -- abort',
      EXIT.refused,
    );
  }
  if (held !== undefined) {
    throw new ReleaseError(
      `release ${held.id} was left by an executor that died (pid ${String(held.executorPid)})`,
      'npm run release -- abort puts its traffic back on stable and clears it',
      EXIT.refused,
    );
  }
  writeJson(file(scope, 'running.json'), running);
}

export function updateRunning(scope: string, running: RunningRelease): void {
  writeJson(file(scope, 'running.json'), running);
}

export function releaseLock(scope: string): void {
  rmSync(file(scope, 'running.json'), { force: true });
  rmSync(file(scope, 'control.json'), { force: true });
}

/** Asks the running executor to abort or promote; it reads the request within a second. */
export function requestControl(scope: string, action: ControlAction): void {
  writeJson(file(scope, 'control.json'), { action, requestedAt: new Date().toISOString() });
}

export function takeControl(scope: string): ControlAction | undefined {
  const request = readJson(file(scope, 'control.json')) as { action: ControlAction } | undefined;
  if (request !== undefined) rmSync(file(scope, 'control.json'), { force: true });
  return request?.action;
}

/** `20261204T213000Z-1a2b3c4d`: sortable by time, unique, safe in a file name. */
export function releaseId(now: Date, digest: string): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${digest.replace(/^sha256:/, '').slice(0, 8)}`;
}
