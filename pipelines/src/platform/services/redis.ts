import { execFileSync } from 'node:child_process';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Redis } from 'ioredis';

import { ownedDirectory, serviceAccount } from '../accounts.js';
import { PlatformError } from '../errors.js';
import type { Progress } from '../progress.js';
import { localSecret } from '../secrets.js';
import type { ServiceDefinition } from '../supervisor.js';

export const MIN_REDIS_MAJOR = 7;

function redisServerBinary(): string {
  let version: string;
  try {
    version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
  } catch {
    throw new PlatformError('redis-server is not on PATH', 'run scripts/bootstrap (installs the redis-server package)');
  }
  const major = Number(/v=(\d+)/.exec(version)?.[1]);
  if (!(major >= MIN_REDIS_MAJOR)) {
    throw new PlatformError(
      `redis-server is ${version.trim()}; Slipway needs Redis ${MIN_REDIS_MAJOR}+`,
      'install redis-server 7 or newer (scripts/bootstrap)',
    );
  }
  return 'redis-server';
}

export interface RedisOptions {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
  /** No snapshots (tests); otherwise an RDB snapshot every minute with changes. */
  readonly disposable?: boolean;
  /** Start from an empty data directory (tests). */
  readonly fresh?: boolean;
  /**
   * Log every write to an append-only file (fsync each second), so a restart keeps the job queues; the local
   * platform turns it on, tests that restart Redis on purpose do too.
   */
  readonly appendOnly?: boolean;
}

export interface RedisService extends ServiceDefinition {
  /** URL with the password, for the app and tests; never print it. */
  readonly connectionUrl: string;
}

export function redisService(options: RedisOptions): RedisService {
  const command = redisServerBinary();
  const runAs = serviceAccount('redis', 'redis-server');
  const dataDir = join(options.dir, 'data');
  const password = localSecret(join(options.dir, 'password'));
  const { host, port } = options;
  let dataPath = dataDir;
  const configFile = (): string => join(dataPath, 'redis.conf');
  const connectionUrl = `redis://:${encodeURIComponent(password)}@${host}:${port}`;

  return {
    name: 'redis',
    host,
    port,
    portEnv: options.portEnv,
    url: `redis://${host}:${port}`,
    connectionUrl,
    command,
    // the password sits in a 0600 config file, not in argv where `ps` would show it
    // the real data folder is known only after prepare() (it may live outside a private checkout)
    get args() {
      return [
        configFile(),
        '--bind',
        host,
        '--port',
        String(port),
        '--dir',
        dataPath,
        '--protected-mode',
        'yes',
        '--daemonize',
        'no',
        '--save',
        options.disposable ? '' : '60 1',
        '--appendonly',
        options.appendOnly ? 'yes' : 'no',
        '--appendfsync',
        'everysec',
      ];
    },
    // the account may not be able to enter the checkout
    cwd: '/',
    ...(runAs ? { runAs } : {}),
    stopSignal: 'SIGTERM',

    prepare(progress: Progress): Promise<void> {
      dataPath = ownedDirectory(dataDir, runAs, progress, options.fresh);
      writeFileSync(configFile(), `requirepass ${password}\n`, { mode: 0o600 });
      if (runAs) chownSync(configFile(), runAs.uid, runAs.gid);
      return Promise.resolve();
    },

    async probe(): Promise<void> {
      const client = new Redis({
        host,
        port,
        password,
        lazyConnect: true,
        connectTimeout: 1_000,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => null,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.ping();
      } finally {
        client.disconnect();
      }
    },
  };
}
