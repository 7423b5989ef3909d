import { realpathSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';

import { Redis } from 'ioredis';
import { Pool } from 'pg';

import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import type { Config } from './config.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger } from './logger.js';
import type { Logger } from './logger.js';

/** sysexits.h EX_CONFIG: the orchestrator shows a configuration fault, not a crash. */
export const EXIT_CONFIG_ERROR = 78;

const DB_CONNECT_TIMEOUT_MS = 5_000;
const DB_STATEMENT_TIMEOUT_MS = 10_000;
// A stalled Redis fails commands fast instead of letting requests pile up behind it.
const REDIS_COMMAND_TIMEOUT_MS = 2_000;
const REDIS_MAX_RECONNECT_DELAY_MS = 2_000;
// Each dependency gets this long to close after the HTTP server is down; the process exits regardless.
const DEPENDENCY_CLOSE_TIMEOUT_MS = 5_000;
// Connections that turn idle after server.close() are swept this often, so keep-alive cannot hold shutdown.
const IDLE_SWEEP_INTERVAL_MS = 250;

export function createPool(config: Config, logger: Logger): Pool {
  const pool = new Pool({
    connectionString: config.databaseUrl,
    connectionTimeoutMillis: DB_CONNECT_TIMEOUT_MS,
    statement_timeout: DB_STATEMENT_TIMEOUT_MS,
    application_name: 'erp-api',
  });
  // An idle client losing its connection (e.g. a database failover) must not crash the process.
  pool.on('error', (error) => logger.error({ err: error }, 'idle postgres connection failed; the pool replaces it'));
  return pool;
}

/** Redis client that fails fast while Redis is away and keeps reconnecting, so readiness recovers on its own. */
export function createRedis(config: Config, logger: Logger): Redis {
  const redis = new Redis(config.redisUrl, {
    enableOfflineQueue: false,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    connectionName: 'erp-api',
    retryStrategy: (attempt) => Math.min(attempt * 200, REDIS_MAX_RECONNECT_DELAY_MS),
  });
  let outageLogged = false;
  redis.on('ready', () => {
    outageLogged = false;
    logger.info('redis ready');
  });
  // One line per outage, not one per reconnect attempt.
  redis.on('error', (error) => {
    if (outageLogged) return;
    outageLogged = true;
    logger.warn({ err: error }, 'redis unavailable; reconnecting in the background');
  });
  return redis;
}

/** True if `work` fulfils within ms; false if it rejects or takes longer. Never leaves a timer behind. */
async function fulfilsWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => false,
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function openConnections(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((_error, count) => resolve(count)));
}

function listenUrl(server: Server, host: string): string {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export interface RunningServer {
  readonly server: Server;
  /** Where it listens, e.g. http://0.0.0.0:8080. */
  readonly url: string;
  readonly lifecycle: Lifecycle;
  /** Graceful shutdown (drain, close, wait, close dependencies); a second call while one runs returns false at once. */
  shutdown(reason: string): Promise<boolean>;
}

/** Connects the dependencies, listens on HOST:PORT and returns the handle the signal handlers drive. */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const db = createPool(config, logger);
  const redis = createRedis(config, logger);
  const lifecycle = new Lifecycle();
  const app = createApp({ config, logger, db, redis, lifecycle });

  const server = createServer(app);
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  // Must exceed keepAliveTimeout, or a request arriving just as the keep-alive window ends is cut off.
  server.headersTimeout = config.keepAliveTimeoutMs + 1_000;

  const closeDependencies = async (): Promise<void> => {
    if (await fulfilsWithin(db.end(), DEPENDENCY_CLOSE_TIMEOUT_MS)) {
      logger.info('postgres pool closed');
    } else {
      logger.warn(
        { timeoutMs: DEPENDENCY_CLOSE_TIMEOUT_MS },
        'postgres pool did not close cleanly in time; leaving it',
      );
    }
    // QUIT lets Redis finish replies in flight; a client that is not connected is just told to stop reconnecting.
    if (redis.status !== 'ready' || !(await fulfilsWithin(redis.quit(), DEPENDENCY_CLOSE_TIMEOUT_MS))) {
      redis.disconnect();
    }
    logger.info('redis connection closed');
  };

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await closeDependencies();
    throw error;
  }
  server.on('error', (error) => logger.error({ err: error }, 'http server error'));
  const url = listenUrl(server, config.host);
  logger.info({ url }, 'listening');

  const shutdown = async (reason: string): Promise<boolean> => {
    if (!lifecycle.beginShutdown()) return false;
    const { shutdownDrainMs: drainMs, shutdownTimeoutMs: timeoutMs } = config;
    logger.info({ reason, drainMs }, 'shutdown started; readiness now reports 503 while still serving');
    await delay(drainMs);

    logger.info('drain period over; no longer accepting connections');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_INTERVAL_MS);
    try {
      if (await fulfilsWithin(closed, timeoutMs)) {
        logger.info('in-flight requests finished; http server closed');
      } else {
        const open = await openConnections(server);
        logger.warn(
          { timeoutMs, openConnections: open },
          'in-flight requests still running after the shutdown timeout; forcing their connections closed',
        );
        server.closeAllConnections();
        await closed;
        logger.info('http server closed');
      }
    } finally {
      clearInterval(sweep);
    }

    await closeDependencies();
    logger.info('shutdown complete');
    return true;
  };

  return { server, url, lifecycle, shutdown };
}

function printConfigProblems(error: ConfigError): void {
  for (const problem of error.problems) process.stderr.write(`config error: ${problem}\n`);
}

/** The entry point: validate config, serve, and shut down gracefully on SIGTERM or SIGINT. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    printConfigProblems(error);
    process.exitCode = EXIT_CONFIG_ERROR;
    return;
  }

  const logger = createLogger(config);
  process.on('uncaughtException', (error, origin) => {
    logger.fatal({ err: error, origin }, 'uncaught exception; exiting');
    process.exit(1);
  });

  let running: RunningServer;
  try {
    running = await startServer(config, logger);
  } catch (error) {
    logger.fatal(
      { err: error, host: config.host, port: config.port },
      'could not start; check that HOST is an address of this machine and PORT is free',
    );
    process.exit(1);
  }

  const onSignal = (signal: NodeJS.Signals): void => {
    if (running.lifecycle.shuttingDown) {
      logger.warn({ signal }, 'shutdown already in progress; signal ignored');
      return;
    }
    running.shutdown(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.fatal({ err: error }, 'shutdown failed; exiting');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- argv[1] is the script Node was started with
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `erp-api failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
