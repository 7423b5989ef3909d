import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** True while a process with this pid exists (and we may signal it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The argv of a live process, or undefined when it is gone (Linux /proc). */
export function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/**
 * When a process started, in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined when it is gone.
 * With the pid it names one process for good: unlike its title, a process cannot change it (Redis rewrites its title).
 */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the command name in parentheses may hold spaces and parentheses; the fields after its last ')' do not
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

/** True while `pid` is still the process that started at `startTime` (guards against pid reuse). */
export function isSameProcess(pid: number, startTime: string): boolean {
  return isAlive(pid) && processStartTime(pid) === startTime;
}

/** Guards against pid reuse: the pid still runs the executable we started. */
export function runsCommand(pid: number, command: string): boolean {
  const argv = commandLine(pid);
  const first = argv?.[0];
  if (first === undefined) return false;
  const base = command.split('/').pop() ?? command;
  return first === command || first.endsWith(`/${base}`) || first === base;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** SIGKILL to every process left in the group `pid` led; nothing when the group is empty. */
export function killGroup(pid: number): void {
  signal(-pid, 'SIGKILL');
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

export interface StopOutcome {
  readonly forced: boolean;
}

/**
 * Stops a process-group leader: the polite signal to the leader (PostgreSQL and Redis shut their own
 * children down), SIGKILL to the whole group after the timeout, and a final sweep of the group so no
 * stray child keeps a port.
 */
export async function stopProcessGroup(pid: number, sig: NodeJS.Signals, timeoutMs: number): Promise<StopOutcome> {
  if (!isAlive(pid)) return { forced: false };
  signal(pid, sig);
  const exited = await waitForExit(pid, timeoutMs);
  signal(-pid, 'SIGKILL');
  if (!exited) await waitForExit(pid, 5_000);
  return { forced: !exited };
}
