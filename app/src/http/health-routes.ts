import { Router } from 'express';

import type { CheckResult, CheckResults } from '../health.js';
import type { Lifecycle } from '../lifecycle.js';

/** One check as the wire shows it (snake_case, as every JSON body of the API). */
export interface ReadinessCheck {
  readonly status: CheckResult['status'];
  readonly duration_ms: number;
  readonly error?: string;
}

export interface ReadinessBody {
  /** `degraded`: a dependency the app can serve without is down; the pod stays in rotation (200). */
  readonly status: 'ready' | 'degraded' | 'not_ready';
  readonly shutting_down: boolean;
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
}

function checkJson({ status, durationMs, error }: CheckResult): ReadinessCheck {
  return error === undefined ? { status, duration_ms: durationMs } : { status, duration_ms: durationMs, error };
}

export interface HealthRoutesOptions {
  /** One round of every dependency check (see `sharedChecks`). */
  readonly runChecks: () => Promise<CheckResults>;
  /**
   * Checks whose failure leaves the pod ready, reported `degraded`: the app serves without them (Redis: every cache
   * falls back to PostgreSQL), and taking every replica out of the Service would turn a slowdown into an outage.
   */
  readonly degradable: readonly string[];
  readonly lifecycle: Lifecycle;
}

/**
 * GET /live: the process runs (restart it if not). GET /ready: it can serve traffic now
 * (route traffic elsewhere if not).
 */
export function healthRouter({ runChecks, degradable, lifecycle }: HealthRoutesOptions): Router {
  const router = Router();

  router.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  router.get('/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/ready', async (_req, res) => {
    const results = await runChecks();
    const shuttingDown = lifecycle.shuttingDown;
    const down = Object.entries(results)
      .filter(([, result]) => result.status === 'down')
      .map(([name]) => name);
    const ready = !shuttingDown && down.every((name) => degradable.includes(name));
    const body: ReadinessBody = {
      status: !ready ? 'not_ready' : down.length > 0 ? 'degraded' : 'ready',
      shutting_down: shuttingDown,
      checks: Object.fromEntries(Object.entries(results).map(([name, result]) => [name, checkJson(result)])),
    };
    res.status(ready ? 200 : 503).json(body);
  });

  return router;
}
