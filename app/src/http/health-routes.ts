import { Router } from 'express';

import { allUp, runChecks } from '../health.js';
import type { CheckResult, CheckResults, HealthCheck } from '../health.js';
import type { Lifecycle } from '../lifecycle.js';

/** One check as the wire shows it (snake_case, as every JSON body of the API). */
export interface ReadinessCheck {
  readonly status: CheckResult['status'];
  readonly duration_ms: number;
  readonly error?: string;
}

export interface ReadinessBody {
  readonly status: 'ready' | 'not_ready';
  readonly shutting_down: boolean;
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
}

function checkJson({ status, durationMs, error }: CheckResult): ReadinessCheck {
  return error === undefined ? { status, duration_ms: durationMs } : { status, duration_ms: durationMs, error };
}

export interface HealthRoutesOptions {
  readonly checks: Readonly<Record<string, HealthCheck>>;
  readonly timeoutMs: number;
  readonly lifecycle: Lifecycle;
}

/**
 * GET /live: the process runs (restart it if not). GET /ready: it can serve traffic now
 * (route traffic elsewhere if not).
 */
export function healthRouter({ checks, timeoutMs, lifecycle }: HealthRoutesOptions): Router {
  const router = Router();
  // Probes arriving together share one round of checks, so a probe storm cannot exhaust the pool.
  let checksInFlight: Promise<CheckResults> | undefined;

  router.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  router.get('/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/ready', async (_req, res) => {
    checksInFlight ??= runChecks(checks, timeoutMs).finally(() => {
      checksInFlight = undefined;
    });
    const results = await checksInFlight;
    const shuttingDown = lifecycle.shuttingDown;
    const ready = !shuttingDown && allUp(results);
    const body: ReadinessBody = {
      status: ready ? 'ready' : 'not_ready',
      shutting_down: shuttingDown,
      checks: Object.fromEntries(Object.entries(results).map(([name, result]) => [name, checkJson(result)])),
    };
    res.status(ready ? 200 : 503).json(body);
  });

  return router;
}
