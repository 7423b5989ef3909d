import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import type { TestProject } from 'vitest/node';

import { removeDirectory } from '../platform/accounts.js';
import { scopeDir } from '../platform/paths.js';
import { freePort } from '../platform/ports.js';
import { isAlive } from '../platform/processes.js';
import { consoleProgress, silentProgress } from '../platform/progress.js';
import { postgresService } from '../platform/services/postgres.js';
import { redisService } from '../platform/services/redis.js';
import { readState, stopRecorded, Supervisor } from '../platform/supervisor.js';
import type { TestServices } from './services.js';

const HOST = '127.0.0.1';

/** Removes what earlier runs left behind when they died before their teardown (their supervisor is gone). */
async function sweepDeadRuns(root: string): Promise<void> {
  const runs = existsSync(root) ? readdirSync(root).filter((name) => name.startsWith('run-')) : [];
  for (const run of runs) {
    const dir = join(root, run);
    // run-<pid>[-<what>]: a folder whose maker still lives may be one it is filling right now, before its state file
    const owner = Number(/^run-(\d+)/.exec(run)?.[1]);
    if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) continue;
    const state = readState(join(dir, 'state.json'));
    if (state && isAlive(state.supervisorPid)) continue;
    await stopRecorded(join(dir, 'state.json'), consoleProgress);
    removeRun(dir);
  }
}

function removeRun(dir: string): void {
  removeDirectory(join(dir, 'postgres', 'data'));
  removeDirectory(join(dir, 'redis', 'data'));
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Vitest global setup for every project: one PostgreSQL and one Redis of our own, on free loopback
 * ports, with fresh data under .local/test/run-<pid>, shared by all test files of the run and removed at
 * its end. Each run has its own folder, so two runs in one checkout do not meet.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = scopeDir('test');
  await sweepDeadRuns(root);
  const dir = join(root, `run-${process.pid}`);
  const stateFile = join(dir, 'state.json');
  const supervisor = new Supervisor(stateFile, join(dir, 'logs'), consoleProgress);
  // Teardown speaks only when something goes wrong, so the run's summary line stays the last one.
  const teardown = async (): Promise<void> => {
    supervisor.progress = { ...silentProgress, warn: consoleProgress.warn };
    await supervisor.stopAll();
    removeRun(dir);
  };
  try {
    const postgres = postgresService({
      dir: join(dir, 'postgres'),
      host: HOST,
      port: await freePort(HOST),
      portEnv: 'none (tests pick a free port)',
      databases: ['slipway_test'],
      disposable: true,
      fresh: true,
    });
    await supervisor.start(postgres);
    const redis = redisService({
      dir: join(dir, 'redis'),
      host: HOST,
      port: await freePort(HOST),
      portEnv: 'none (tests pick a free port)',
      disposable: true,
      fresh: true,
    });
    await supervisor.start(redis);

    const services: TestServices = {
      postgres: {
        host: HOST,
        port: postgres.port,
        user: postgres.user,
        adminUrl: postgres.connectionString('postgres'),
        url: postgres.connectionString('slipway_test'),
        pid: supervisor.services[0]?.pid ?? 0,
      },
      redis: { host: HOST, port: redis.port, url: redis.connectionUrl, pid: supervisor.services[1]?.pid ?? 0 },
      stateFile,
    };
    project.provide('services', services);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
