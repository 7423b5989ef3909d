import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { waitUntil } from '@slipway/pipelines/testing/wait';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One parsed pino line of a server process. */
export type LogLine = Record<string, unknown> & { readonly msg?: string; readonly time?: number };

/** A real `app/src/bin/server.ts` process, as the container runs it (plus tsx). */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** The JSON log lines written to stdout so far. */
  readonly logs: () => LogLine[];
  readonly exited: Promise<Exit>;
  /** SIGKILLs the process if it still runs and waits for it to be gone; for afterAll. */
  kill(): Promise<void>;
}

/**
 * Spawns the server on 127.0.0.1:`port` with only the variables given (plus PATH, HOME, TMPDIR). The caller
 * must `kill()` it in afterAll/finally, so a failing test leaves no process behind.
 */
export function spawnServer(port: number, env: NodeJS.ProcessEnv, entry = 'app/src/bin/server.ts'): ServerProcess {
  const inherited = { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR };
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: repoRoot,
    env: { ...inherited, ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    port,
    stdout: () => stdout,
    stderr: () => stderr,
    logs: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as LogLine),
    exited,
    kill: async () => {
      if (!running()) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Status of GET `path`, or undefined when no answer came within timeoutMs (refused, reset, timed out). */
export async function statusOf(url: string, timeoutMs = 2_000): Promise<number | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return undefined;
  }
}

/** Polls `attempt` every 50 ms until it returns a value, or fails naming `what` once timeoutMs has passed. */
export async function waitFor<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  return waitUntil(what, attempt, { timeoutMs });
}

/** Waits until the server's readiness answers 200; fails with its output when it exits or never gets there. */
export async function waitUntilReady(server: ServerProcess, timeoutMs = 30_000): Promise<void> {
  let exit: Exit | undefined;
  void server.exited.then((value) => (exit = value));
  await waitFor(
    `${server.url}/health/ready to answer 200`,
    async () => {
      if (exit) {
        throw new Error(
          `the server exited before it was ready (${JSON.stringify(exit)}):\n${server.stdout()}\n${server.stderr()}`,
        );
      }
      return (await statusOf(`${server.url}/health/ready`)) === 200 ? true : undefined;
    },
    timeoutMs,
  );
}
