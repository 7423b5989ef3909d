import { createServer } from 'node:http';
import type { Server } from 'node:http';

import { Redis } from 'ioredis';

import { createApp } from '../app.js';
import { createComponents } from '../components/index.js';
import { reloadConfiguration, RuntimeSettings } from '../config-reload.js';
import type { Config } from '../config.js';
import { assertMigrationsApplied, PendingMigrationsError } from '../db/migrations.js';
import { createDatabase, databaseSettings } from '../db/pool.js';
import type { Database } from '../db/pool.js';
import { isEntryPoint } from './entry-point.js';
import { exitIfMigrationsPending, Lifecycle, loadEntryPointConfig, shutDownOnSignals } from '../lifecycle.js';
import { createLogger } from '../logger.js';
import type { Logger } from '../logger.js';
import { Metrics } from '../observability/metrics.js';
import { tracing } from '../observability/tracing.js';

export { EXIT_CONFIG_ERROR, EXIT_PENDING_MIGRATIONS } from '../lifecycle.js';

// A stalled Redis fails commands fast instead of letting requests pile up behind it.
const REDIS_COMMAND_TIMEOUT_MS = 2_000;
const REDIS_MAX_RECONNECT_DELAY_MS = 2_000;
// Each dependency gets this long to close after the HTTP server is down; the process exits regardless.
const DEPENDENCY_CLOSE_TIMEOUT_MS = 5_000;
// Connections that turn idle after server.close() are swept this often, so keep-alive cannot hold shutdown.
const IDLE_SWEEP_INTERVAL_MS = 250;

/** The service's database: pool settings and the instrumented query wrapper live in db/pool.ts. */
export function createServiceDatabase(config: Config, logger: Logger): Database {
  return createDatabase(databaseSettings(config), logger);
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

/** The startup schema check could not run (database unreachable, no permission), as opposed to finding it behind. */
export class SchemaCheckError extends Error {
  override readonly name = 'SchemaCheckError';
}

export interface RunningServer {
  readonly server: Server;
  /** Where it listens, e.g. http://0.0.0.0:8080. */
  readonly url: string;
  readonly lifecycle: Lifecycle;
  /** The settings SIGHUP reloads (log level, rate limit). */
  readonly settings: RuntimeSettings;
  /** Graceful shutdown (drain, close, wait, close dependencies); a second call while one runs returns false at once. */
  shutdown(reason: string): Promise<boolean>;
}

/** Connects the dependencies, listens on HOST:PORT and returns the handle the signal handlers drive. */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const db = createServiceDatabase(config, logger);
  try {
    // Code newer than its schema would fail on the first query that touches a new table or column.
    const plan = await assertMigrationsApplied(db.pool);
    logger.info({ schemaVersion: plan.applied.at(-1)?.version ?? 0 }, 'database schema is up to date');
  } catch (error) {
    await db.end().catch(() => undefined);
    if (error instanceof PendingMigrationsError) throw error;
    throw new SchemaCheckError(
      'could not check the database schema; check DATABASE_URL, that PostgreSQL is up and that this user may read schema_migrations',
      { cause: error },
    );
  }
  const redis = createRedis(config, logger);
  const lifecycle = new Lifecycle();
  const settings = new RuntimeSettings(config);
  const metrics = new Metrics();
  const { routers, jobs } = createComponents({ config, db, redis, metrics, logger });
  const app = createApp({ config, logger, db, redis, lifecycle, settings, metrics, routers });

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
    await jobs.close();
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
    // Last, so the spans of the final requests and of closing the dependencies are exported too.
    if (tracing().enabled) {
      if (await fulfilsWithin(tracing().shutdown(), DEPENDENCY_CLOSE_TIMEOUT_MS)) {
        logger.info('traces flushed');
      } else {
        logger.warn({ timeoutMs: DEPENDENCY_CLOSE_TIMEOUT_MS }, 'traces not flushed in time; the last spans are lost');
      }
    }
    logger.info('shutdown complete');
    return true;
  };

  return { server, url, lifecycle, settings, shutdown };
}

/** The entry point: validate config, serve, and shut down gracefully on SIGTERM or SIGINT. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadEntryPointConfig(env);
  if (config === undefined) return;

  const logger = createLogger(config);
  process.on('uncaughtException', (error, origin) => {
    logger.fatal({ err: error, origin }, 'uncaught exception; exiting');
    process.exit(1);
  });

  let running: RunningServer;
  try {
    running = await startServer(config, logger);
  } catch (error) {
    exitIfMigrationsPending(error, logger);
    if (error instanceof SchemaCheckError) {
      logger.fatal({ err: error.cause }, error.message);
      process.exit(1);
    }
    logger.fatal(
      { err: error, host: config.host, port: config.port },
      'could not start; check that HOST is an address of this machine and PORT is free',
    );
    process.exit(1);
  }

  shutDownOnSignals(logger, (signal) => running.shutdown(signal));
  // SIGHUP re-reads the environment and CONFIG_FILE and applies LOG_LEVEL and RATE_LIMIT_PER_MINUTE.
  process.on('SIGHUP', () => {
    try {
      reloadConfiguration({ env, config, settings: running.settings, logger });
    } catch (error) {
      logger.error({ err: error }, 'configuration reload failed; the running settings stay');
    }
  });
}

if (isEntryPoint(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `erp-api failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
