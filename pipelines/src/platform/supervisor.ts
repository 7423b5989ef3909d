import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { PlatformError } from './errors.js';
import { repoRoot } from './paths.js';
import { assertPortFree } from './ports.js';
import { isAlive, isSameProcess, killGroup, processStartTime, runsCommand, stopProcessGroup } from './processes.js';
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
  /** Overrides the supervisor's restart policy for this service; `never` leaves it down when it dies. */
  readonly restart?: RestartPolicy | 'never';
  /** True once another process serves in its place (a promoted release): its exit is then a retirement, not a crash. */
  readonly superseded?: () => string | undefined;
}

/** How a service that dies after it was ready comes back: after a delay that doubles per crash, up to a cap. */
export interface RestartPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** A service that stayed up this long starts again from the initial delay (as a kubelet's CrashLoopBackOff). */
  readonly resetAfterMs: number;
}

/** The local platform's policy: 1 s, 2 s, 4 s … up to 30 s between restarts; a minute up forgives earlier crashes. */
export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  resetAfterMs: 60_000,
};

/** The delay before restart number `consecutive` (1-based) of a run of crashes. */
export function restartDelay(policy: RestartPolicy, consecutive: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, consecutive - 1));
}

/** What the state file records of one running service, enough to stop it from another process. */
export interface ServiceRecord {
  readonly name: string;
  readonly pid: number;
  /** With the pid, names the process for good (see processStartTime); titles can be rewritten. */
  readonly startTime: string;
  readonly command: string;
  readonly url: string;
  readonly stopSignal: NodeJS.Signals;
  readonly stopTimeoutMs: number;
  readonly log: string;
  /** Times the supervisor restarted the service after it died, and the last of those exits. */
  readonly restarts: number;
  readonly lastExit?: string;
  /** Set while the service waits out its back-off or comes back up. */
  readonly restarting?: boolean;
}

export interface PlatformState {
  readonly supervisorPid: number;
  readonly supervisorStartTime?: string;
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

/** Whether a recorded service is still that very process. */
export function isRecordedAlive(record: Pick<ServiceRecord, 'pid' | 'startTime' | 'command'>): boolean {
  // state files written before start times were recorded name the executable only
  if ((record.startTime as string | undefined) === undefined)
    return isAlive(record.pid) && runsCommand(record.pid, record.command);
  return isSameProcess(record.pid, record.startTime);
}

/** The folder of one PID file per running service, beside the state file. */
export function pidDir(stateFile: string): string {
  return join(dirname(stateFile), 'pids');
}

/** The services recorded in PID files (written at spawn, removed at stop), whatever became of the state file. */
export function readPidFiles(stateFile: string): ServiceRecord[] {
  const dir = pidDir(stateFile);
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.pid'));
  } catch {
    return [];
  }
  const records: ServiceRecord[] = [];
  for (const name of names) {
    try {
      records.push(JSON.parse(readFileSync(join(dir, name), 'utf8')) as ServiceRecord);
    } catch {
      // a file cut short by a crash mid-write names no process we could prove is ours
    }
  }
  return records;
}

/**
 * Stops every service a state file or a PID file names (newest first), when it is still the process that was
 * started (pid and start time), and removes the records; safe when they are already gone.
 */
export async function stopRecorded(stateFile: string, progress: Progress): Promise<void> {
  const state = readState(stateFile);
  const recorded = [...(state?.services ?? [])];
  for (const record of readPidFiles(stateFile)) {
    if (!recorded.some((r) => r.pid === record.pid && r.startTime === record.startTime)) recorded.push(record);
  }
  for (const service of recorded.reverse()) {
    if (!isRecordedAlive(service)) continue;
    progress.step(`stopping ${service.name} (pid ${service.pid})`);
    const { forced } = await stopProcessGroup(service.pid, service.stopSignal, service.stopTimeoutMs);
    if (forced) progress.warn(`${service.name} did not stop within ${seconds(service.stopTimeoutMs)}; killed`);
    else progress.ok(`${service.name} stopped`);
  }
  rmSync(pidDir(stateFile), { recursive: true, force: true });
  rmSync(stateFile, { force: true });
}

/** Whether the supervisor a state file names still runs (its pid and start time; older files: its executable). */
export function isSupervisorAlive(state: PlatformState): boolean {
  if (state.supervisorStartTime !== undefined) return isSameProcess(state.supervisorPid, state.supervisorStartTime);
  return isAlive(state.supervisorPid) && runsCommand(state.supervisorPid, process.execPath);
}

interface Running {
  readonly definition: ServiceDefinition;
  record: ServiceRecord;
  child: ChildProcess;
  stopping: boolean;
  /** Crashes since the service last stayed up for the policy's resetAfterMs. */
  consecutiveCrashes: number;
  readyAt: number;
  restartTimer?: NodeJS.Timeout | undefined;
}

/** Read through a call: `stopping` changes while a restart awaits. */
function isStopping(entry: Running): boolean {
  return entry.stopping;
}

/** A spawn that did not become ready: the reason, and whether the process is already gone. */
class LaunchFailure extends PlatformError {}

/**
 * Starts named services as real processes, each in its own process group with its log under logDir,
 * waits for each to answer before the next, records them in a state file and one PID file each so another
 * process (`npm stop`, or the next start after a crash) can stop them, restarts a service that dies (with a
 * {@link RestartPolicy}), and tears them down in reverse order.
 */
export class Supervisor {
  private readonly running: Running[] = [];
  private readonly startedAt = new Date().toISOString();
  private readonly ownStartTime = processStartTime(process.pid);
  /** Without one (the default), a service that dies stays down and is only reported. */
  restartPolicy: RestartPolicy | undefined;
  /** Called when a service exits on its own after it was ready. */
  onUnexpectedExit: (name: string, code: number | null, signal: NodeJS.Signals | null, log: string) => void = () =>
    undefined;
  /** Called when a restart is scheduled (`delayMs` from now) and when it answers again (`delayMs` undefined). */
  onRestart: (name: string, restarts: number, delayMs: number | undefined) => void = () => undefined;

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
    const entry = await this.spawnService(definition, undefined);
    this.running.push(entry);
    this.saveState();
    try {
      await this.awaitReady(entry, began);
    } catch (error) {
      this.forget(entry);
      throw error;
    }
    await definition.afterReady?.();
    this.progress.ok(
      `${definition.name} ready at ${definition.url} (${seconds(Date.now() - began)}, pid ${entry.record.pid})`,
    );
  }

  /** Spawns the service's process; `previous` carries the record of the run it replaces. */
  private async spawnService(definition: ServiceDefinition, previous: Running | undefined): Promise<Running> {
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
      // read at once: the pid cannot be reused before we reap the child
      startTime: processStartTime(pid) ?? 'unknown',
      command: definition.command,
      url: definition.url,
      stopSignal: definition.stopSignal ?? 'SIGTERM',
      stopTimeoutMs: definition.stopTimeoutMs ?? 30_000,
      log,
      restarts: previous?.record.restarts ?? 0,
      ...(previous?.record.lastExit === undefined ? {} : { lastExit: previous.record.lastExit }),
      ...(previous === undefined ? {} : { restarting: true }),
    };
    this.writePidFile(record);
    if (previous !== undefined) {
      previous.record = record;
      previous.child = child;
      return previous;
    }
    return { definition, record, child, stopping: false, consecutiveCrashes: 0, readyAt: 0 };
  }

  /** Waits until the service answers; rejects (having stopped it) when it exits or does not answer in time. */
  private async awaitReady(entry: Running, began: number): Promise<void> {
    const { definition, child } = entry;
    const { log, pid } = entry.record;
    let ready = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    child.once('exit', (code, sig) => {
      exited = { code, signal: sig };
      if (!entry.stopping && ready && entry.child === child) this.exitedAfterReady(entry, code, sig);
    });

    // the readiness budget starts at spawn: prepare() (initdb, migrations) has no bearing on it
    const spawnedAt = Date.now();
    const timeoutMs = definition.readyTimeoutMs ?? 30_000;
    let lastReason = 'no answer yet';
    let nextNotice = Date.now() + 3_000;
    while (!ready) {
      if (entry.stopping) throw new LaunchFailure(`${definition.name} was stopped while starting`, 'nothing to do');
      if (exited) {
        this.removePidFile(entry.record);
        throw new LaunchFailure(
          `${definition.name} exited during start-up (code ${String(exited.code)}, signal ${String(exited.signal)}); last lines of ${relative(repoRoot, log)}:\n${tail(log, LOG_TAIL_LINES)}`,
          `read ${relative(repoRoot, log)}; if the data directory is damaged, run npm stop and remove it`,
        );
      }
      if (Date.now() - spawnedAt > timeoutMs) {
        this.progress.step(`stopping ${definition.name} (pid ${pid})`);
        await stopProcessGroup(pid, entry.record.stopSignal, entry.record.stopTimeoutMs);
        this.removePidFile(entry.record);
        throw new LaunchFailure(
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
          this.progress.step(
            `waiting for ${definition.name} (${seconds(Date.now() - began)}: ${lastReason}, pid ${pid})`,
          );
          nextNotice = Date.now() + 3_000;
        }
        await sleep(100);
      }
    }
    entry.readyAt = Date.now();
  }

  /** Reports the exit and, under a restart policy, schedules the next start after the back-off. */
  private exitedAfterReady(entry: Running, code: number | null, sig: NodeJS.Signals | null): void {
    const { definition, record } = entry;
    const successor = definition.superseded?.();
    if (successor !== undefined) {
      killGroup(record.pid);
      this.removePidFile(record);
      this.progress.ok(`${definition.name} stopped: ${successor} serves in its place`);
      return;
    }
    this.onUnexpectedExit(definition.name, code, sig, record.log);
    const policy = definition.restart ?? this.restartPolicy;
    // a crashed leader's children (PostgreSQL's backends) would keep its port
    killGroup(record.pid);
    if (policy === undefined || policy === 'never') {
      this.removePidFile(record);
      return;
    }
    if (Date.now() - entry.readyAt >= policy.resetAfterMs) entry.consecutiveCrashes = 0;
    entry.consecutiveCrashes += 1;
    const delayMs = restartDelay(policy, entry.consecutiveCrashes);
    entry.record = {
      ...record,
      restarts: record.restarts + 1,
      lastExit: `${new Date().toISOString()} code ${String(code)} signal ${String(sig)}`,
      restarting: true,
    };
    this.saveState();
    this.onRestart(definition.name, entry.record.restarts, delayMs);
    entry.restartTimer = setTimeout(() => {
      entry.restartTimer = undefined;
      void this.restart(entry);
    }, delayMs);
  }

  private async restart(entry: Running): Promise<void> {
    if (entry.stopping) return;
    this.removePidFile(entry.record);
    const began = Date.now();
    try {
      await this.spawnService(entry.definition, entry);
      this.saveState();
      await this.awaitReady(entry, began);
      await entry.definition.afterReady?.();
    } catch (error) {
      if (isStopping(entry)) return;
      this.progress.warn(
        `${entry.definition.name} did not come back: ${error instanceof Error ? error.message : String(error)}`,
      );
      // counts as another crash: the back-off grows until it stays up
      this.crashedWhileRestarting(entry);
      return;
    }
    entry.record = { ...entry.record, restarting: false };
    this.saveState();
    this.onRestart(entry.definition.name, entry.record.restarts, undefined);
  }

  private crashedWhileRestarting(entry: Running): void {
    entry.readyAt = Date.now();
    this.exitedAfterReady(entry, null, null);
  }

  /** Stops everything this supervisor started, newest first. */
  async stopAll(): Promise<void> {
    for (const entry of [...this.running].reverse()) await this.stopOne(entry);
    rmSync(pidDir(this.stateFile), { recursive: true, force: true });
    rmSync(this.stateFile, { force: true });
  }

  private async stopOne(entry: Running): Promise<void> {
    entry.stopping = true;
    clearTimeout(entry.restartTimer);
    const { record } = entry;
    this.progress.step(`stopping ${record.name} (pid ${record.pid})`);
    const { forced } = await stopProcessGroup(record.pid, record.stopSignal, record.stopTimeoutMs);
    if (forced) this.progress.warn(`${record.name} did not stop within ${seconds(record.stopTimeoutMs)}; killed`);
    else this.progress.ok(`${record.name} stopped`);
    this.removePidFile(record);
    this.forget(entry);
  }

  private forget(entry: Running): void {
    const index = this.running.indexOf(entry);
    if (index >= 0) this.running.splice(index, 1);
    this.saveState();
  }

  private writePidFile(record: ServiceRecord): void {
    mkdirSync(pidDir(this.stateFile), { recursive: true });
    writeFileSync(join(pidDir(this.stateFile), `${record.name}.pid`), `${JSON.stringify(record)}\n`);
  }

  private removePidFile(record: ServiceRecord): void {
    rmSync(join(pidDir(this.stateFile), `${record.name}.pid`), { force: true });
  }

  private saveState(): void {
    const state: PlatformState = {
      supervisorPid: process.pid,
      ...(this.ownStartTime === undefined ? {} : { supervisorStartTime: this.ownStartTime }),
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
  if (state.supervisorPid !== process.pid && isSupervisorAlive(state)) {
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
