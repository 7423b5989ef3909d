import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { PlatformError } from './errors.js';
import { repoRoot, toolsBinDir } from './paths.js';

export interface PinnedTool {
  readonly name: string;
  readonly goPackage: string;
  readonly version: string;
}

/** The tools scripts/bootstrap builds, as pinned in tools.versions (the one place versions live). */
export function pinnedTools(file = join(repoRoot, 'tools.versions')): PinnedTool[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line, index) => {
      const [name, goPackage, version, ...rest] = line.split(/\s+/);
      if (!name || !goPackage || !version || rest.length > 0 || !/^v\d+\.\d+\.\d+$/.test(version)) {
        throw new PlatformError(
          `tools.versions entry ${index + 1} is not "name go-package vX.Y.Z": ${JSON.stringify(line)}`,
          'fix that line in tools.versions',
        );
      }
      return { name, goPackage, version };
    });
}

/** Absolute path of a pinned tool, or an error that says how to build it. */
export function toolPath(name: string): string {
  const tool = pinnedTools().find((t) => t.name === name);
  if (!tool) throw new PlatformError(`'${name}' is not a pinned tool`, `add it to tools.versions`);
  const path = join(toolsBinDir, name);
  if (!existsSync(path)) {
    throw new PlatformError(`${name} ${tool.version} is not built (${path} is missing)`, 'run scripts/bootstrap');
  }
  return path;
}
