import { randomBytes } from 'node:crypto';
import { once } from 'node:events';

import type { Express, Router } from 'express';
import { Redis } from 'ioredis';

import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Config } from '../../src/config.js';
import { createDatabase, databaseSettings } from '../../src/db/pool.js';
import type { Database } from '../../src/db/pool.js';
import { Lifecycle } from '../../src/lifecycle.js';
import { createLogger } from '../../src/logger.js';
import type { Logger } from '../../src/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { migrateSharedDatabase } from './database.js';
import { CapturedLogs } from './logs.js';
import { serve } from './net.js';
import { testServices } from './services.js';

/** Fresh per test worker, as the local platform generates its own: no secret is written in the repository. */
export const TEST_SECRETS = Object.freeze({
  JWT_SECRETS: randomBytes(48).toString('base64url'),
  PASSWORD_PEPPER: randomBytes(24).toString('base64url'),
});

/** Environment for the real test services; override any variable per test. */
export function testEnv(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const services = testServices();
  return {
    DATABASE_URL: services.postgres.url,
    REDIS_URL: services.redis.url,
    ...TEST_SECRETS,
    LOG_LEVEL: 'debug',
    // Every test app calls from 127.0.0.1 into one Redis; rate-limit tests set their own limit and client IPs.
    RATE_LIMIT_PER_MINUTE: '1000000',
    ...overrides,
  };
}

/** What a component needs to build its routers on a test app's own clients. */
export interface TestAppDependencies {
  readonly config: Config;
  readonly db: Database;
  readonly redis: Redis;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export interface TestApp {
  readonly app: Express;
  readonly metrics: Metrics;
  readonly url: string;
  readonly config: Config;
  readonly lifecycle: Lifecycle;
  readonly logs: CapturedLogs;
  readonly db: Database;
  readonly redis: Redis;
  close(): Promise<void>;
}

/**
 * createApp on real PostgreSQL and Redis clients, served on a free loopback port. Unless `env` points
 * DATABASE_URL elsewhere, it runs on the shared test database, migrated to the latest schema.
 */
export async function startTestApp(
  options: {
    env?: NodeJS.ProcessEnv;
    /** Routers, or a function that builds them on this app's database, Redis and metrics. */
    routers?: readonly Router[] | ((deps: TestAppDependencies) => readonly Router[]);
    waitForRedis?: boolean;
  } = {},
): Promise<TestApp> {
  if (options.env?.DATABASE_URL === undefined) await migrateSharedDatabase();
  const config = loadConfig(testEnv(options.env));
  const logs = new CapturedLogs();
  const logger = createLogger(config, logs);
  const db = createDatabase(databaseSettings(config), logger);
  const redis = new Redis(config.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 200,
  });
  redis.on('error', () => undefined);
  // Commands fail while the client is still connecting (no offline queue), so start from a ready client.
  if (options.waitForRedis ?? true) await once(redis, 'ready', { signal: AbortSignal.timeout(5_000) });
  const lifecycle = new Lifecycle();
  const metrics = new Metrics();
  const { routers = [] } = options;
  const built = typeof routers === 'function' ? routers({ config, db, redis, metrics, logger }) : routers;
  const app = createApp({ config, logger, db, redis, lifecycle, metrics, routers: built });
  const listening = await serve(app);
  return {
    app,
    metrics,
    url: listening.url,
    config,
    lifecycle,
    logs,
    db,
    redis,
    close: async () => {
      await listening.close();
      await db.end();
      redis.disconnect();
    },
  };
}
