import express from 'express';
import type { Express, Router } from 'express';
import type { Redis } from 'ioredis';

import { RuntimeSettings } from './config-reload.js';
import type { Config } from './config.js';
import type { Database } from './db/pool.js';
import { postgresCheck, redisCheck, sharedChecks } from './health.js';
import { errorHandler, notFoundHandler } from './http/errors.js';
import { requireJsonBodies } from './http/content-type.js';
import { mountDocs } from './http/docs-routes.js';
import { endpointsOf, mountEndpoints } from './http/endpoint.js';
import { operationalEndpoints } from './http/health-routes.js';
import { requestContextMiddleware } from './http/request-context.js';
import { methodNotAllowedHandler } from './http/route-table.js';
import { corsPolicy, generalRateLimit, jsonBody, securityHeaders } from './http/security.js';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logger.js';
import { httpMetricsMiddleware } from './observability/http-metrics.js';
import { Metrics } from './observability/metrics.js';

export interface AppDependencies {
  readonly config: Config;
  readonly logger: Logger;
  readonly db: Database;
  readonly redis: Redis;
  readonly lifecycle: Lifecycle;
  /**
   * Business components' routers, mounted at the root after the health endpoints; the API reference at /api/docs
   * documents the endpoints of each one built by `endpointRouter`.
   */
  readonly routers?: readonly Router[];
  /** This app's metrics, served at /metrics; a fresh registry when absent, so each app counts alone. */
  readonly metrics?: Metrics;
  /** Where the rate limiter keeps its counters; `redis` when absent. */
  readonly rateLimitStore?: Redis;
  /** Settings reloaded on SIGHUP (log level, rate limit); fixed at `config`'s values when absent. */
  readonly settings?: RuntimeSettings;
}

/** Builds the Express app without listening, so tests can serve it on port 0. */
export function createApp({
  config,
  logger,
  db,
  redis,
  lifecycle,
  routers = [],
  metrics = new Metrics(),
  rateLimitStore = redis,
  settings = new RuntimeSettings(config),
}: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  // req.ip (the rate-limit key and the logged client) comes from X-Forwarded-For only as far as TRUST_PROXY allows.
  app.set('trust proxy', config.trustProxy);
  metrics.observeDatabase(db);
  settings.onChange((next) => {
    logger.level = next.logLevel;
  });

  app.use(requestContextMiddleware(logger));
  app.use(httpMetricsMiddleware(metrics));
  app.use(securityHeaders());
  app.use((_req, res, next) => {
    // While shutting down, ask each client to reconnect elsewhere instead of keeping this connection.
    if (lifecycle.shuttingDown) res.setHeader('Connection', 'close');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });

  // Probes and scrapes arriving together share one round of checks, so a probe storm cannot exhaust the pool.
  const runHealthChecks = sharedChecks(
    { postgres: postgresCheck(db.pool), redis: redisCheck(redis) },
    config.healthCheckTimeoutMs,
  );
  metrics.observeHealth(runHealthChecks);
  const operational = operationalEndpoints({ runChecks: runHealthChecks, degradable: ['redis'], lifecycle, metrics });
  // On the app itself, not a router: a request elsewhere never passes through (nor is traced through) the probes'.
  mountEndpoints(app, operational);

  const cors = corsPolicy(config.corsOrigins);
  if (cors !== undefined) app.use(cors);
  app.use(generalRateLimit({ store: rateLimitStore, settings, metrics, logger }));
  app.use(jsonBody(config.jsonBodyLimitBytes));
  app.use(requireJsonBodies());
  mountDocs(app, [...operational, ...routers.flatMap(endpointsOf)]);
  for (const router of routers) app.use(router);

  app.use(methodNotAllowedHandler(app));
  app.use(notFoundHandler());
  app.use(errorHandler(logger));
  return app;
}
