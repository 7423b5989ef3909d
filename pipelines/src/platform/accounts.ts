import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { PlatformError } from './errors.js';
import type { Progress } from './progress.js';
import type { RunAs } from './supervisor.js';

/**
 * The unprivileged account a server runs as when we are root, or undefined when we are not root
 * (then it runs as us). PostgreSQL refuses to run as root, and no server needs root here.
 */
export function serviceAccount(user: string, installedBy: string): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  let entry: string;
  try {
    entry = execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).trim();
  } catch {
    throw new PlatformError(
      `running as root, and the system account '${user}' that the server should run as does not exist`,
      `run scripts/bootstrap (the ${installedBy} package creates '${user}'), or run as a normal user`,
    );
  }
  const [, , uid, gid] = entry.split(':');
  return { user, uid: Number(uid), gid: Number(gid) };
}

/** Removes a directory made by ownedDirectory, and the folder it links to when it was moved. */
export function removeDirectory(dir: string): void {
  if (lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink())
    rmSync(readlinkSync(dir), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}

function reachableBy(dir: string, runAs: RunAs): boolean {
  // cwd '/': the account may not be able to enter our working directory
  return spawnSync('test', ['-w', dir, '-a', '-x', dir], { uid: runAs.uid, gid: runAs.gid, cwd: '/' }).status === 0;
}

/**
 * Makes `dir` a directory the account owns and can reach. When a parent folder shuts the account out
 * (a checkout under a private 0700 folder, as `mktemp -d` makes), the data goes to a folder of the
 * account's own under the system temp dir and `dir` becomes a link to it (for people looking in .local/).
 * Returns the real folder: the server must be given that path, since resolving the link still crosses the
 * private parent.
 */
export function ownedDirectory(dir: string, runAs: RunAs | undefined, progress: Progress, fresh = false): string {
  if (fresh) removeDirectory(dir);
  if (!runAs) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  if (lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink()) {
    const target = readlinkSync(dir);
    if (existsSync(target)) return target;
    rmSync(dir);
  }
  if (!existsSync(dir)) {
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, runAs.uid, runAs.gid);
  }
  if (reachableBy(dir, runAs)) return dir;

  const key = createHash('sha256').update(dir).digest('hex').slice(0, 12);
  const outside = join(tmpdir(), `slipway-${runAs.user}-${key}`);
  progress.warn(
    `${dir} is not reachable by the '${runAs.user}' account (a parent folder is private); keeping its data in ${outside}`,
  );
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(outside, { recursive: true, mode: 0o700 });
  chownSync(outside, runAs.uid, runAs.gid);
  symlinkSync(outside, dir);
  if (!reachableBy(outside, runAs)) {
    throw new PlatformError(
      `'${runAs.user}' cannot write ${outside} either`,
      `check the permissions of ${tmpdir()}, or run as a normal user`,
    );
  }
  return outside;
}
