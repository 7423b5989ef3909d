import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { removeDirectory } from '@slipway/pipelines/platform/accounts';
import { freePort } from '@slipway/pipelines/platform/ports';
import { silentProgress } from '@slipway/pipelines/platform/progress';
import { postgresService } from '@slipway/pipelines/platform/services/postgres';
import type { PostgresService, WalArchive } from '@slipway/pipelines/platform/services/postgres';
import { Supervisor } from '@slipway/pipelines/platform/supervisor';
import { migrate } from '../../src/db/migrations.js';
import { claimRunFolder } from './run-folder.js';

const HOST = '127.0.0.1';
const DATABASE = 'erp_fault';

/**
 * A PostgreSQL server of one test file's own, which the test may stop and start again: the shared one of the
 * global setup must stay up for every other file.
 */
export interface PrivatePostgres {
  /** Superuser URL of the migrated `erp_fault` database; never print it (it holds the password). */
  readonly url: string;
  readonly port: number;
  /** Fast shutdown (SIGINT): sessions are ended and the port closes; resolves once the process has exited. */
  stop(): Promise<void>;
  /** Starts the server again on the same data directory and port; resolves once it answers queries. */
  start(): Promise<void>;
  /**
   * SIGSTOPs the postmaster, then every backend and helper it forked: connections stay open and nothing answers,
   * as with a hung host or a network partition.
   */
  freeze(): void;
  /** SIGCONTs them all after {@link freeze}; safe to call when it is not frozen. */
  thaw(): void;
  /** Stops the server if it runs and removes its data; safe to call twice and after a failed start. */
  close(): Promise<void>;
}

/**
 * Starts a private PostgreSQL under `dir` on a free loopback port (as the `postgres` account when we are root,
 * as the global setup does) and applies every migration. Name `dir` `run-<pid>-…` under scopeDir('test'): the
 * harness's sweep then stops the server even when the worker dies before `close()`. With `archive`, it archives
 * every WAL file (point-in-time recovery tests).
 */
export async function startPrivatePostgres(
  dir: string,
  options: { readonly archive?: WalArchive } = {},
): Promise<PrivatePostgres> {
  const port = await freePort(HOST);
  const stateFile = join(dir, 'state.json');
  const supervisor = new Supervisor(stateFile, join(dir, 'logs'), silentProgress);
  claimRunFolder(stateFile);
  const definition = (fresh: boolean): PostgresService =>
    postgresService({
      dir: join(dir, 'postgres'),
      host: HOST,
      port,
      portEnv: 'none (this test picks a free port)',
      databases: [DATABASE],
      disposable: true,
      fresh,
      ...(options.archive === undefined ? {} : { archive: options.archive }),
    });
  const first = definition(true);
  const url = first.connectionString(DATABASE);
  // Each backend makes itself a process-group leader (InitPostmasterChild), so signal them one by one.
  const signalServer = (signal: NodeJS.Signals): void => {
    const pid = supervisor.services[0]?.pid;
    if (pid === undefined) throw new Error('the private PostgreSQL is not running; start() it first');
    process.kill(pid, signal);
    const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .stdout.split('\n')
      .map((line) => Number(line.trim()))
      .filter((child) => child > 0);
    for (const child of children) process.kill(child, signal);
  };
  let frozen = false;
  const thaw = (): void => {
    if (!frozen) return;
    signalServer('SIGCONT');
    frozen = false;
  };
  const close = async (): Promise<void> => {
    // A stopped process cannot act on the shutdown signal.
    thaw();
    await supervisor.stopAll();
    removeDirectory(join(dir, 'postgres', 'data'));
  };
  try {
    await supervisor.start(first);
    await migrate(url);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    url,
    port,
    stop: async () => {
      await supervisor.stopAll();
      claimRunFolder(stateFile);
    },
    // Not fresh: the same cluster (data, password, migrations) comes back, as after a database restart.
    start: () => supervisor.start(definition(false)),
    freeze: () => {
      signalServer('SIGSTOP');
      frozen = true;
    },
    thaw,
    close,
  };
}
