import { spawnSync } from 'node:child_process';

import { toolPath } from '@slipway/pipelines/platform/tools';

/**
 * Alertmanager and amtool as pinned in tools.versions (the cluster's v0.28.1), not Debian's 0.25, which rejects
 * the webhook's `url_file`. A missing binary fails with `run scripts/bootstrap`.
 */
export const ALERTMANAGER = (): string => toolPath('alertmanager');
export const AMTOOL = (): string => toolPath('amtool');

export interface ToolResult {
  readonly status: number | null;
  readonly output: string;
}

/** Fails with what is missing and how to get it when a system tool is not on PATH; tests never skip. */
export function requireTool(name: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (found.status !== 0)
    throw new Error(`${name} is not on PATH: run scripts/bootstrap (it installs the Debian package that has it)`);
}

/** Runs a tool to completion and returns its exit status with stdout and stderr together. */
export function runTool(name: string, args: readonly string[], cwd?: string): ToolResult {
  requireTool(name);
  const result = spawnSync(name, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Same as runTool, without blocking the event loop, so several can run side by side. */
export async function runToolAsync(name: string, args: readonly string[], cwd?: string): Promise<ToolResult> {
  requireTool(name);
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(name, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, output }));
  });
}
