import { join } from 'node:path';

import { removeDirectory } from '@slipway/pipelines/platform/accounts';
import { freePort } from '@slipway/pipelines/platform/ports';
import { silentProgress } from '@slipway/pipelines/platform/progress';
import { redisService } from '@slipway/pipelines/platform/services/redis';
import type { RedisService } from '@slipway/pipelines/platform/services/redis';
import { Supervisor } from '@slipway/pipelines/platform/supervisor';
import { claimRunFolder } from './run-folder.js';

const HOST = '127.0.0.1';

/** A Redis server of one test file's own, which the test may stop and start again. */
export interface PrivateRedis {
  /** URL with the password; never print it. */
  readonly url: string;
  readonly port: number;
  /** SIGTERM, then waits until the process has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port and password (empty unless `appendOnly`); resolves once it answers PING. */
  start(): Promise<void>;
  /** Stops it if it runs and removes its data; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts a private redis-server under `dir` on a free loopback port, as auth-outage.test.ts does. Name `dir`
 * `run-<pid>-…` under scopeDir('test'), so the harness's sweep stops it if the worker dies before `close()`.
 */
export async function startPrivateRedis(
  dir: string,
  options: { readonly appendOnly?: boolean } = {},
): Promise<PrivateRedis> {
  const port = await freePort(HOST);
  const stateFile = join(dir, 'state.json');
  const supervisor = new Supervisor(stateFile, join(dir, 'logs'), silentProgress);
  claimRunFolder(stateFile);
  const definition = (fresh = true): RedisService =>
    redisService({
      dir: join(dir, 'redis'),
      host: HOST,
      port,
      portEnv: 'none (this test picks a free port)',
      disposable: true,
      fresh,
      appendOnly: options.appendOnly === true,
    });
  const first = definition();
  const close = async (): Promise<void> => {
    await supervisor.stopAll();
    removeDirectory(join(dir, 'redis', 'data'));
  };
  try {
    await supervisor.start(first);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    url: first.connectionUrl,
    port,
    stop: async () => {
      await supervisor.stopAll();
      claimRunFolder(stateFile);
    },
    start: () => supervisor.start(definition(options.appendOnly !== true)),
    close,
  };
}
