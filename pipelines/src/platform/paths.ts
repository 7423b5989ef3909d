import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this file that holds the workspace root package.json and Pulumi.yaml. */
function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'Pulumi.yaml')) && existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no Slipway checkout above ${start} (looked for Pulumi.yaml + package.json)`);
    dir = parent;
  }
}

export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

/** Everything a run writes (data, logs, pid files) lives under `.local/` (gitignored). */
export const localDir = join(repoRoot, '.local');

/** Where one platform instance keeps its state: `start` uses `platform`, the test harness `test`. */
export function scopeDir(scope: string): string {
  return resolve(localDir, scope);
}

/** Pinned tools built by scripts/bootstrap. */
export const toolsBinDir = join(repoRoot, '.tools', 'bin');
