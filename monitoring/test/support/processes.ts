import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { requireTool } from './tools.js';

export interface Started {
  readonly child: ChildProcess;
  readonly log: string;
  stop(): Promise<void>;
}

/** Starts a tool in the background with its output in `dir`/<name>.log; stop() ends exactly that process. */
export function startTool(name: string, args: readonly string[], dir: string): Started {
  requireTool(name);
  const log = join(dir, `${basename(name)}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(name, args, { stdio: ['ignore', fd, fd] });
  return {
    child,
    log,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))]);
    },
  };
}

/** Polls `check` until it resolves, or fails with the last error and the tool's log after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T>, timeoutMs: number, log?: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await check();
    } catch (error) {
      last = error;
    }
    await sleep(250);
  }
  const tail = log === undefined ? '' : `\n--- ${log}\n${readFileSync(log, 'utf8').split('\n').slice(-20).join('\n')}`;
  throw new Error(`${what} did not happen within ${timeoutMs} ms: ${String(last)}${tail}`);
}
