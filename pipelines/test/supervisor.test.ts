import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, test } from 'vitest';

import { PlatformError } from '../src/platform/errors.js';
import { freePort, isPortFree } from '../src/platform/ports.js';
import { isAlive } from '../src/platform/processes.js';
import { silentProgress } from '../src/platform/progress.js';
import {
  AlreadyRunning,
  claimState,
  readState,
  stopRecorded,
  Supervisor,
  type PlatformState,
  type ServiceDefinition,
} from '../src/platform/supervisor.js';

const HOST = '127.0.0.1';

/** A real HTTP server process; `exitCode` makes it die at once instead (a broken service). */
function httpService(
  name: string,
  port: number,
  options: { exitCode?: number; ignoreTerm?: boolean; title?: string } = {},
) {
  const script =
    options.exitCode !== undefined
      ? `console.error('fatal: cannot open config'); process.exit(${options.exitCode})`
      : `${options.ignoreTerm ? "process.on('SIGTERM', () => console.log('ignoring SIGTERM'));" : ''}
         ${options.title === undefined ? '' : `process.title = ${JSON.stringify(options.title)};`}
         require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '${HOST}', () => console.log('listening'))`;
  return {
    name,
    host: HOST,
    port,
    portEnv: 'TEST_PORT',
    url: `http://${HOST}:${port}`,
    command: process.execPath,
    args: ['-e', script],
    stopTimeoutMs: 1_000,
    readyTimeoutMs: 5_000,
    async probe() {
      const response = await fetch(`http://${HOST}:${port}/`);
      if (!response.ok) throw new Error(`status ${response.status}`);
    },
  } satisfies ServiceDefinition;
}

function scratch(): { stateFile: string; logDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-supervisor-'));
  return { stateFile: join(dir, 'state.json'), logDir: join(dir, 'logs') };
}

const started: Supervisor[] = [];
function supervisor(): Supervisor {
  const { stateFile, logDir } = scratch();
  const s = new Supervisor(stateFile, logDir, silentProgress);
  started.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stopAll()));
});

describe('Supervisor', () => {
  test('starts services in order, records them, and stops them so no process or port is left', async () => {
    const s = supervisor();
    const [portA, portB] = [await freePort(), await freePort()];
    await s.start(httpService('alpha', portA));
    await s.start(httpService('beta', portB));

    const state = readState(s.stateFile);
    expect(state?.supervisorPid).toBe(process.pid);
    expect(state?.services.map((r) => r.name)).toEqual(['alpha', 'beta']);
    const pids = s.services.map((r) => r.pid);
    expect(pids.every(isAlive)).toBe(true);
    expect(readFileSync(join(s.logDir, 'alpha.log'), 'utf8')).toContain('listening');

    await s.stopAll();
    expect(pids.some(isAlive)).toBe(false);
    expect(await isPortFree(HOST, portA)).toBe(true);
    expect(await isPortFree(HOST, portB)).toBe(true);
    expect(existsSync(s.stateFile)).toBe(false);
  });

  test('a taken port fails before anything starts, naming the port and the variable that moves it', async () => {
    const blocker: Server = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, HOST, resolve));
    try {
      const s = supervisor();
      const failure = s.start(httpService('alpha', port));
      await expect(failure).rejects.toBeInstanceOf(PlatformError);
      await expect(failure).rejects.toThrow(`alpha cannot listen on ${HOST}:${port}`);
      await expect(failure).rejects.toMatchObject({ fix: expect.stringContaining('TEST_PORT=<port>') as unknown });
      expect(s.services).toHaveLength(0);
    } finally {
      blocker.close();
    }
  });

  test('a service that dies during start-up is reported with the tail of its log', async () => {
    const s = supervisor();
    const failure = s.start(httpService('broken', await freePort(), { exitCode: 3 }));
    await expect(failure).rejects.toThrow(/broken exited during start-up \(code 3[\s\S]*fatal: cannot open config/);
    expect(s.services).toHaveLength(0);
  });

  test('a service that ignores the polite signal is killed after its stop timeout', async () => {
    const s = supervisor();
    await s.start(httpService('stubborn', await freePort(), { ignoreTerm: true }));
    const [pid] = s.services.map((r) => r.pid);
    await s.stopAll();
    expect(isAlive(pid ?? 0)).toBe(false);
  });

  test('reports a service that exits on its own after it was ready', async () => {
    const s = supervisor();
    const exits: string[] = [];
    s.onUnexpectedExit = (name, code, signal) => exits.push(`${name}:${String(code)}:${String(signal)}`);
    await s.start(httpService('alpha', await freePort()));
    process.kill(s.services[0]?.pid ?? 0, 'SIGKILL');
    await expect.poll(() => exits, { timeout: 5_000 }).toEqual(['alpha:null:SIGKILL']);
  });
});

describe('restarts', () => {
  const policy = { initialDelayMs: 200, maxDelayMs: 1_000, resetAfterMs: 60_000 };

  test('brings a service that dies back after a back-off that doubles, and records its restarts', async () => {
    const s = supervisor();
    s.restartPolicy = policy;
    const delays: number[] = [];
    s.onRestart = (_name, _restarts, delayMs) => {
      if (delayMs !== undefined) delays.push(delayMs);
    };
    const port = await freePort();
    await s.start(httpService('alpha', port));
    for (const restarts of [1, 2]) {
      const before = s.services[0]?.pid ?? 0;
      process.kill(before, 'SIGKILL');
      await expect.poll(() => s.services[0], { timeout: 10_000 }).toMatchObject({ restarts, restarting: false });
      expect(s.services[0]?.pid).not.toBe(before);
      expect((await fetch(`http://${HOST}:${port}/`)).status).toBe(200);
    }
    expect(delays).toEqual([200, 400]);
    expect(readState(s.stateFile)?.services[0]).toMatchObject({ name: 'alpha', restarts: 2, restarting: false });
    expect(readState(s.stateFile)?.services[0]?.lastExit).toContain('signal SIGKILL');
  });

  test('leaves a service with restart: never down, and only reports it', async () => {
    const s = supervisor();
    s.restartPolicy = policy;
    const exits: string[] = [];
    s.onUnexpectedExit = (name) => exits.push(name);
    await s.start({ ...httpService('once', await freePort()), restart: 'never' });
    const pid = s.services[0]?.pid ?? 0;
    process.kill(pid, 'SIGKILL');
    await expect.poll(() => exits, { timeout: 5_000 }).toEqual(['once']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(s.services[0]).toMatchObject({ pid, restarts: 0 });
  });

  test('leaves a service that another process superseded down, and calls its exit no crash', async () => {
    const s = supervisor();
    s.restartPolicy = policy;
    const events: string[] = [];
    s.onUnexpectedExit = (name) => events.push(`crashed ${name}`);
    s.onRestart = (name) => events.push(`restarted ${name}`);
    const successor: { name?: string } = {};
    const port = await freePort();
    await s.start({ ...httpService('source', port), superseded: () => successor.name });
    successor.name = 'the promoted release';
    const pid = s.services[0]?.pid ?? 0;
    process.kill(pid, 'SIGTERM');
    await expect.poll(() => isAlive(pid), { timeout: 5_000 }).toBe(false);
    // past the first restart delay (200 ms), a restart would have begun
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(events).toEqual([]);
    expect(await isPortFree(HOST, port)).toBe(true);
  });
});

describe('process identity', () => {
  test('stops a service that rewrote its process title once its supervisor died', async () => {
    const { stateFile, logDir } = scratch();
    const owner = new Supervisor(stateFile, logDir, silentProgress);
    const port = await freePort();
    await owner.start(httpService('renamed', port, { title: 'renamed-by-itself 127.0.0.1:1' }));
    const pid = owner.services[0]?.pid ?? 0;
    await expect.poll(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('renamed-by-itself');
    // the supervisor that wrote the state is gone (kill -9): point it at a pid that no longer exists
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => dead.once('exit', resolve));
    writeFileSync(stateFile, JSON.stringify({ ...readState(stateFile), supervisorPid: dead.pid }));

    await claimState(stateFile, silentProgress);
    expect(isAlive(pid)).toBe(false);
    expect(await isPortFree(HOST, port)).toBe(true);
  });

  test('stops a service named only by its PID file when the state file is lost', async () => {
    const { stateFile, logDir } = scratch();
    const owner = new Supervisor(stateFile, logDir, silentProgress);
    const port = await freePort();
    await owner.start(httpService('orphan', port));
    const record = owner.services[0];
    expect(record?.startTime).toMatch(/^\d+$/);
    rmSync(stateFile);

    await stopRecorded(stateFile, silentProgress);
    expect(isAlive(record?.pid ?? 0)).toBe(false);
    expect(await isPortFree(HOST, port)).toBe(true);
  });

  test('leaves alone a process that merely reuses a recorded pid', async () => {
    const { stateFile } = scratch();
    const bystander = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    try {
      const pid = bystander.pid ?? 0;
      const state: PlatformState = {
        supervisorPid: 1,
        startedAt: 'earlier',
        services: [
          {
            name: 'ghost',
            pid,
            startTime: '1',
            command: process.execPath,
            url: 'http://127.0.0.1:1',
            stopSignal: 'SIGTERM',
            stopTimeoutMs: 1_000,
            log: '/dev/null',
            restarts: 0,
          },
        ],
      };
      writeFileSync(stateFile, JSON.stringify(state));
      await stopRecorded(stateFile, silentProgress);
      expect(isAlive(pid)).toBe(true);
    } finally {
      bystander.kill('SIGKILL');
    }
  });
});

describe('claimState', () => {
  test('refuses a second supervisor while the first is alive', async () => {
    const { stateFile } = scratch();
    // a live node process standing in for another supervisor
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    try {
      const state: PlatformState = { supervisorPid: other.pid ?? 0, startedAt: 'earlier', services: [] };
      writeFileSync(stateFile, JSON.stringify(state));
      await expect(claimState(stateFile, silentProgress)).rejects.toBeInstanceOf(AlreadyRunning);
      await expect(claimState(stateFile, silentProgress)).rejects.toMatchObject({
        message: expect.stringContaining(`supervisor pid ${other.pid ?? 0}`) as unknown,
        fix: expect.stringContaining('npm stop') as unknown,
      });
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('stops the services a dead supervisor left behind', async () => {
    const { stateFile, logDir } = scratch();
    const orphanOwner = new Supervisor(stateFile, logDir, silentProgress);
    const port = await freePort();
    await orphanOwner.start(httpService('orphan', port));
    const orphanPid = orphanOwner.services[0]?.pid ?? 0;
    // pretend the supervisor that wrote the state died: point it at a pid that no longer exists
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => dead.once('exit', resolve));
    const state = readState(stateFile);
    writeFileSync(stateFile, JSON.stringify({ ...state, supervisorPid: dead.pid }));

    await claimState(stateFile, silentProgress);
    expect(isAlive(orphanPid)).toBe(false);
    expect(await isPortFree(HOST, port)).toBe(true);
    expect(existsSync(stateFile)).toBe(false);
  });
});
