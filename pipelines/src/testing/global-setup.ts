import { join } from 'node:path';

import type { TestProject } from 'vitest/node';

import { scopeDir } from '../platform/paths.js';
import { freePort } from '../platform/ports.js';
import { consoleProgress, silentProgress } from '../platform/progress.js';
import { postgresService } from '../platform/services/postgres.js';
import { redisService } from '../platform/services/redis.js';
import { claimState, Supervisor } from '../platform/supervisor.js';
import type { TestServices } from './services.js';

const HOST = '127.0.0.1';

/**
 * Vitest global setup for every project: one PostgreSQL and one Redis of our own, on free loopback
 * ports, with fresh data under .local/test, shared by all test files of the run and stopped at its end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = scopeDir('test');
  const stateFile = join(dir, 'state.json');
  await claimState(stateFile, consoleProgress);
  const supervisor = new Supervisor(stateFile, join(dir, 'logs'), consoleProgress);
  // Teardown speaks only when something goes wrong, so the run's summary line stays the last one.
  const teardown = (): Promise<void> => {
    supervisor.progress = { ...silentProgress, warn: consoleProgress.warn };
    return supervisor.stopAll();
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
