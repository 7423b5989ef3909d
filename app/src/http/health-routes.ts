import type { Response } from 'express';
import { z } from 'zod';

import type { CheckResult, CheckResults } from '../health.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Metrics } from '../observability/metrics.js';
import { endpointDefiner } from './endpoint.js';
import type { Endpoint } from './endpoint.js';

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

export interface OperationalEndpointsOptions {
  /** One round of every dependency check (see `sharedChecks`). */
  readonly runChecks: () => Promise<CheckResults>;
  /**
   * Checks whose failure leaves the pod ready, reported `degraded`: the app serves without them (Redis: every cache
   * falls back to PostgreSQL), and taking every replica out of the Service would turn a slowdown into an outage.
   */
  readonly degradable: readonly string[];
  readonly lifecycle: Lifecycle;
  /** The registry served at /metrics. */
  readonly metrics: Metrics;
}

const checkResult = z.strictObject({
  status: z.enum(['up', 'down']),
  duration_ms: z.number(),
  error: z.string().optional(),
});

const readiness = z.strictObject({
  status: z.enum(['ready', 'not_ready']),
  shutting_down: z.boolean(),
  checks: z.record(z.string(), checkResult),
});

// Operational endpoints are public and need no permission.
const defineEndpoint = endpointDefiner<never>();
const TAG = 'operations';

// Probes and scrapes must reach the process, never a cache between it and the caller.
function noStore(res: Response): Response {
  return res.setHeader('Cache-Control', 'no-store');
}

/**
 * GET /health/live: the process runs (restart it if not). GET /health/ready: it can serve traffic now (route traffic
 * elsewhere if not). GET /metrics: the Prometheus exposition. Mount them before the rate limiter and the body parser.
 */
export function operationalEndpoints({
  runChecks,
  degradable,
  lifecycle,
  metrics,
}: OperationalEndpointsOptions): readonly Endpoint<never>[] {
  const operational = { tags: [TAG], access: 'public', operational: true } as const;
  return [
    defineEndpoint({
      ...operational,
      method: 'get',
      path: '/health/live',
      summary: 'Liveness: the process runs (restart it if not)',
      responses: { 200: { description: 'Alive.', schema: z.strictObject({ status: z.literal('ok') }) } },
      handle: (_input, _req, res) => {
        noStore(res).json({ status: 'ok' });
      },
    }),
    defineEndpoint({
      ...operational,
      method: 'get',
      path: '/health/ready',
      summary: 'Readiness: PostgreSQL and Redis answer and the process is not shutting down',
      responses: {
        200: { description: 'Ready: status `ready`.', schema: readiness },
        503: { description: 'Not ready: status `not_ready`, with the failing checks.', schema: readiness },
      },
      handle: async (_input, _req, res) => {
        noStore(res);
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
      },
    }),
    defineEndpoint({
      ...operational,
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics in the text exposition format',
      responses: { 200: { description: 'Metrics.', contentType: 'text/plain', schema: z.string() } },
      handle: async (_input, _req, res) => {
        const { contentType, body } = await metrics.exposition();
        noStore(res).setHeader('Content-Type', contentType);
        res.send(body);
      },
    }),
  ];
}
