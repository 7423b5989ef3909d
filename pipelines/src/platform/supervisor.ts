import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { PlatformError } from './errors.js';
import { repoRoot } from './paths.js';
import { assertPortFree } from './ports.js';
import { isAlive, runsCommand, stopProcessGroup } from './processes.js';
import { seconds, type Progress } from './progress.js';

/** A system account a service runs as (PostgreSQL refuses to run as root). */
export interface RunAs {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
}

/** One named service of the platform: how to prepare, start, probe and stop it. */
export interface ServiceDefinition {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** The variable that moves this service's port, named in the error when the port is taken. */
  readonly portEnv: string;
  /** What people connect to; never contains a secret. */
  readonly url: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly runAs?: RunAs;
  /** Signal for a clean shutdown; PostgreSQL's "fast" shutdown is SIGINT. */
  readonly stopSignal?: NodeJS.Signals;
  readonly stopTimeoutMs?: number;
  readonly readyTimeoutMs?: number;
  /** One-off work before the first start (e.g. initdb); idempotent. */
  prepare?(progress: Progress): Promise<void>;
  /** Resolves when the service answers; rejects (with the reason) while it does not. */
  probe(): Promise<void>;
  /** Work after the service answers (e.g. create the database); idempotent. */
  afterReady?(): Promise<void>;
}

/** What the state file records of one running service, enough to stop it from another process. */
export interface ServiceRecord {
  readonly name: string;
  readonly pid: number;
  readonly command: string;
  readonly url: string;
  readonly stopSignal: NodeJS.Signals;
  readonly stopTimeoutMs: number;
  readonly log: string;
}

export interface PlatformState {
  readonly supervisorPid: number;
  readonly startedAt: string;
  readonly services: ServiceRecord[];
}

const PROCESS_ENV_PASSTHROUGH = ['PATH', 'LANG', 'LC_ALL', 'TZ'] as const;
const LOG_TAIL_LINES = 20;

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log written)';
  }
}

export function readState(stateFile: string): PlatformState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8')) as PlatformState;
  } catch {
    return undefined;
  }
}

/** Stops every service a state file lists (newest first) and removes the file; safe when they are already gone. */
export async function stopRecorded(stateFile: string, progress: Progress): Promise<void> {
  const state = readState(stateFile);
  if (!state) return;
  for (const service of [...state.services].reverse()) {
    if (!isAlive(service.pid) || !runsCommand(service.pid, service.command)) continue;
    progress.step(`stopping ${service.name} (pid ${service.pid})`);
    const { forced } = await stopProcessGroup(service.pid, service.stopSignal, service.stopTimeoutMs);
    if (forced) progress.warn(`${service.name} did not stop within ${seconds(service.stopTimeoutMs)}; killed`);
    else progress.ok(`${service.name} stopped`);
  }
  rmSync(stateFile, { force: true });
}

interface Running {
  readonly record: ServiceRecord;
  readonly child: ChildProcess;
  stopping: boolean;
}

/**
 * Starts named services as real processes, each in its own process group with its log under logDir,
 * waits for each to answer before the next, records them in a state file so another process
 * (`npm stop`, or the next start after a crash) can stop them, and tears them down in reverse order.
 */
export class Supervisor {
  private readonly running: Running[] = [];
  private readonly startedAt = new Date().toISOString();
  /** Called when a service exits on its own after it was ready. */
  onUnexpectedExit: (name: string, code: number | null, signal: NodeJS.Signals | null, log: string) => void = () =>
    undefined;

  constructor(
    readonly stateFile: string,
    readonly logDir: string,
    /** Where start and stop report; replaceable, e.g. to stop quietly. */
    public progress: Progress,
  ) {
    mkdirSync(logDir, { recursive: true });
    mkdirSync(dirname(stateFile), { recursive: true });
  }

  get services(): readonly ServiceRecord[] {
    return this.running.map((r) => r.record);
  }

  async start(definition: ServiceDefinition): Promise<void> {
    const began = Date.now();
    await assertPortFree(definition.name, definition.host, definition.port, definition.portEnv);
    await definition.prepare?.(this.progress);

    const log = join(this.logDir, `${definition.name}.log`);
    const fd = openSync(log, 'a');
    const env: Record<string, string> = {};
    for (const key of PROCESS_ENV_PASSTHROUGH) {
      const value = process.env[key];
      if (value !== undefined) env[key] = value;
    }
    Object.assign(env, definition.env);
    writeFileSync(
      fd,
      `\n--- ${new Date().toISOString()} starting ${definition.command} ${definition.args.join(' ')}\n`,
    );
    const child = spawn(definition.command, definition.args, {
      cwd: definition.cwd ?? repoRoot,
      env,
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(definition.runAs ? { uid: definition.runAs.uid, gid: definition.runAs.gid } : {}),
    });
    closeSync(fd);
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    const pid = child.pid;
    if (pid === undefined) {
      const error = await spawnError;
      throw new PlatformError(
        `${definition.name} could not start: ${error.message}`,
        'run scripts/bootstrap to install the missing program',
        { cause: error },
      );
    }
    const record: ServiceRecord = {
      name: definition.name,
      pid,
      command: definition.command,
      url: definition.url,
      stopSignal: definition.stopSignal ?? 'SIGTERM',
      stopTimeoutMs: definition.stopTimeoutMs ?? 30_000,
      log,
    };
    const entry: Running = { record, child, stopping: false };
    this.running.push(entry);
    this.saveState();

    let ready = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    child.once('exit', (code, sig) => {
      exited = { code, signal: sig };
      if (!entry.stopping && ready) this.onUnexpectedExit(definition.name, code, sig, log);
    });

    // the readiness budget starts at spawn: prepare() (initdb, migrations) has no bearing on it
    const spawnedAt = Date.now();
    const timeoutMs = definition.readyTimeoutMs ?? 30_000;
    let lastReason = 'no answer yet';
    let nextNotice = Date.now() + 3_000;
    while (!ready) {
      if (exited) {
        this.forget(entry);
        throw new PlatformError(
          `${definition.name} exited during start-up (code ${String(exited.code)}, signal ${String(exited.signal)}); last lines of ${relative(repoRoot, log)}:\n${tail(log, LOG_TAIL_LINES)}`,
          `read ${relative(repoRoot, log)}; if the data directory is damaged, run npm stop and remove it`,
        );
      }
      if (Date.now() - spawnedAt > timeoutMs) {
        await this.stopOne(entry);
        throw new PlatformError(
          `${definition.name} did not answer on ${definition.host}:${definition.port} within ${seconds(timeoutMs)} (${lastReason}); last lines of ${relative(repoRoot, log)}:\n${tail(log, LOG_TAIL_LINES)}`,
          `read ${relative(repoRoot, log)} for the cause`,
        );
      }
      try {
        await definition.probe();
        ready = true;
      } catch (error) {
        lastReason = error instanceof Error ? error.message : String(error);
        if (Date.now() >= nextNotice) {
          this.progress.step(`waiting for ${definition.name} (${seconds(Date.now() - began)}: ${lastReason})`);
          nextNotice = Date.now() + 3_000;
        }
        await sleep(100);
      }
    }
    await definition.afterReady?.();
    this.progress.ok(`${definition.name} ready at ${definition.url} (${seconds(Date.now() - began)}, pid ${pid})`);
  }

  /** Stops everything this supervisor started, newest first. */
  async stopAll(): Promise<void> {
    for (const entry of [...this.running].reverse()) await this.stopOne(entry);
    rmSync(this.stateFile, { force: true });
  }

  private async stopOne(entry: Running): Promise<void> {
    entry.stopping = true;
    const { record } = entry;
    this.progress.step(`stopping ${record.name} (pid ${record.pid})`);
    const { forced } = await stopProcessGroup(record.pid, record.stopSignal, record.stopTimeoutMs);
    if (forced) this.progress.warn(`${record.name} did not stop within ${seconds(record.stopTimeoutMs)}; killed`);
    else this.progress.ok(`${record.name} stopped`);
    this.forget(entry);
  }

  private forget(entry: Running): void {
    const index = this.running.indexOf(entry);
    if (index >= 0) this.running.splice(index, 1);
    this.saveState();
  }

  private saveState(): void {
    const state: PlatformState = {
      supervisorPid: process.pid,
      startedAt: this.startedAt,
      services: this.running.map((r) => r.record),
    };
    writeFileSync(this.stateFile, `${JSON.stringify(state, null, 2)}\n`);
  }
}

/** Refuses a second live supervisor on one state folder, and cleans up after one that died without stopping its services. */
export async function claimState(stateFile: string, progress: Progress): Promise<void> {
  const state = readState(stateFile);
  if (!state) return;
  if (
    state.supervisorPid !== process.pid &&
    isAlive(state.supervisorPid) &&
    runsCommand(state.supervisorPid, process.execPath)
  ) {
    throw new AlreadyRunning(state, stateFile);
  }
  progress.warn(`an earlier run (pid ${state.supervisorPid}) ended without stopping its services; stopping them now`);
  await stopRecorded(stateFile, progress);
}

export class AlreadyRunning extends PlatformError {
  constructor(
    readonly state: PlatformState,
    stateFile: string,
  ) {
    super(
      `already running (supervisor pid ${state.supervisorPid}, since ${state.startedAt}; state in ${relative(repoRoot, stateFile)})`,
      'use it as it is, or stop it first with: npm stop',
    );
  }
}
