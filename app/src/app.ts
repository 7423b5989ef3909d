import express from 'express';
import type { Express, Router } from 'express';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';

import type { Config } from './config.js';
import { postgresCheck, redisCheck } from './health.js';
import { errorHandler, notFoundHandler } from './http/errors.js';
import { healthRouter } from './http/health-routes.js';
import { requestContextMiddleware } from './http/request-context.js';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logger.js';

export interface AppDependencies {
  readonly config: Config;
  readonly logger: Logger;
  readonly db: Pool;
  readonly redis: Redis;
  readonly lifecycle: Lifecycle;
  /** Business components' routers, mounted at the root after the health endpoints. */
  readonly routers?: readonly Router[];
}

/** Largest JSON body accepted; bigger ones get 413 before any handler runs. */
export const JSON_BODY_LIMIT = '100kb';

/** Builds the Express app without listening, so tests can serve it on port 0. */
export function createApp({ config, logger, db, redis, lifecycle, routers = [] }: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');

  app.use(requestContextMiddleware(logger));
  app.use((_req, res, next) => {
    // While shutting down, ask each client to reconnect elsewhere instead of keeping this connection.
    if (lifecycle.shuttingDown) res.setHeader('Connection', 'close');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });

  app.use(
    '/health',
    healthRouter({
      checks: { postgres: postgresCheck(db), redis: redisCheck(redis) },
      timeoutMs: config.healthCheckTimeoutMs,
      lifecycle,
    }),
  );

  app.use(express.json({ limit: JSON_BODY_LIMIT }));
  for (const router of routers) app.use(router);

  app.use(notFoundHandler());
  app.use(errorHandler(logger));
  return app;
}
