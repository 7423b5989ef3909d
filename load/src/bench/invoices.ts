import { readFileSync } from 'node:fs';

import pg from 'pg';

import type { Progress } from '@slipway/pipelines/platform/progress';
import { seconds } from '@slipway/pipelines/platform/progress';
import type { RequestSpec, Scenario } from '../engine/model.js';
import { percentile } from '../engine/results.js';
import { runScenario, type ScenarioSummary } from '../engine/run.js';
import type { Seeded } from '../engine/session.js';
import type { RunMetrics } from './metrics.js';
import { sampleMaxRss } from './rss.js';
import type { SeedAccount } from './seed-account.js';
import type { BenchSettings } from './settings.js';

/** The worker processes of the invoice row: the issue's measurement is for two. */
export const INVOICE_WORKERS = 2;
/** Share of the completions dropped at each end of the throughput window: start-up and the backlog's tail. */
export const STEADY_TRIM = 0.1;
/** Orders created side by side while seeding. */
const SEED_CONCURRENCY = 16;
/** Job records read side by side after the latency measurement. */
const READ_CONCURRENCY = 16;
/** How often the stored invoices are counted while waiting for the workers to finish. */
const POLL_MS = 250;
/** Longest wait for the last accepted job after the enqueues end, at least. */
const MIN_DRAIN_WAIT_MS = 60_000;
/** Jobs per second below which the wait for the backlog gives up (the wait is the backlog at this rate). */
const SLOWEST_DRAIN_PER_SECOND = 10;
/** A throughput this close to the enqueue rate says the bulk never built a backlog. */
const ENQUEUE_BOUND_SHARE = 0.9;
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** The throughput over the steady part of a backlog being drained, from the times the jobs finished. */
export interface SteadyRate {
  /** Jobs finished per second between the first and the last trimmed completion. */
  readonly perSecond: number;
  /** Jobs finished inside the window. */
  readonly jobs: number;
  readonly windowMs: number;
}

/**
 * Jobs per second over the middle of the completions (`STEADY_TRIM` of them dropped at each end): the first ones
 * come while the workers warm up and the enqueues start, the last ones while the backlog runs dry.
 * @param finishedAtMs when each job's result was stored, in ms, any order.
 */
export function steadyRate(finishedAtMs: readonly number[], trim = STEADY_TRIM): SteadyRate {
  const sorted = [...finishedAtMs].sort((a, b) => a - b);
  const first = Math.floor(sorted.length * trim);
  const last = Math.ceil(sorted.length * (1 - trim)) - 1;
  if (last - first < 1) return { perSecond: 0, jobs: 0, windowMs: 0 };
  const windowMs = (sorted[last] ?? 0) - (sorted[first] ?? 0);
  // jobs finished after the window's first completion, so n completions span n - 1 gaps
  const jobs = last - first;
  return { perSecond: windowMs <= 0 ? 0 : (jobs * 1000) / windowMs, jobs: jobs + 1, windowMs };
}

/** The rate of the latency measurement: half the throughput, no more than the seeded orders fill, at least 1/s. */
export function halfRate(throughput: number, orders: number, durationMs: number): number {
  return Math.max(1, Math.min(Math.floor(throughput / 2), Math.floor(orders / (durationMs / 1000))));
}

/** utime + stime of a process in clock ticks, or undefined once it is gone. */
export function processCpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is the state (field 3 of stat); utime and stime are fields 14 and 15
    return Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  } catch {
    return undefined;
  }
}

function cpuMsOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + (processCpuTicks(pid) ?? 0), 0) * (1000 / TICKS_PER_SECOND);
}

const jsonHeaders = { 'Content-Type': 'application/json' };

/**
 * Places `count` orders of one item each through the API, spread over `productIds`: one order per invoice job,
 * since an order's pending job answers a second enqueue of it.
 */
export async function seedInvoiceOrders(
  appUrl: string,
  token: string,
  productIds: readonly string[],
  count: number,
  progress: Progress,
  signal: AbortSignal,
): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  let lastShown = Date.now();
  const place = async (): Promise<void> => {
    while (next < count) {
      signal.throwIfAborted();
      const n = next++;
      const response = await fetch(`${appUrl}/api/v1/orders`, {
        method: 'POST',
        headers: { ...jsonHeaders, Authorization: `Bearer ${token}` },
        body: JSON.stringify({ items: [{ product_id: productIds[n % productIds.length], quantity: 1 }] }),
        signal: AbortSignal.timeout(30_000),
      });
      const body = (await response.json()) as { id?: unknown };
      if (response.status !== 201 || typeof body.id !== 'string') {
        throw new Error(
          `POST ${appUrl}/api/v1/orders answered ${response.status}: ${JSON.stringify(body).slice(0, 300)}`,
        );
      }
      ids.push(body.id);
      if (Date.now() - lastShown > 5_000) {
        lastShown = Date.now();
        progress.step(`seeding invoice orders: ${ids.length} of ${count}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(SEED_CONCURRENCY, count) }, place));
  return ids;
}

/** POST /api/v1/orders/{id}/invoice at `rate` for `durationMs`, the n-th request for the n-th order. */
export function invoiceScenario(rate: number, durationMs: number, orderIds: readonly string[]): Scenario {
  const enqueue: RequestSpec = {
    endpoint: 'enqueue-invoice',
    weight: 1,
    method: 'POST',
    path: ({ n }) => `/api/v1/orders/${orderIds[n % orderIds.length] ?? ''}/invoice`,
    authenticated: true,
    expectStatus: 202,
  };
  return {
    name: 'invoices',
    description: "the benchmark's invoice enqueues",
    products: 0,
    users: 1,
    flows: [{ name: 'invoices', arrival: { model: 'constant', rate, durationMs }, mix: [enqueue] }],
    thresholds: {},
  };
}

/** Says how many enqueues were not accepted, by status, with Vegeta's first error texts. */
function warnRefused(label: string, summary: ScenarioSummary, progress: Progress): void {
  const refused = Object.entries(summary.statuses).filter(([status]) => status !== '202');
  if (refused.length === 0) return;
  progress.warn(
    `${label}: enqueues not accepted: ${refused.map(([status, count]) => `${count} × ${status === '0' ? 'no answer' : status}`).join(', ')}` +
      (summary.errors.length === 0 ? '' : ` (${summary.errors.join('; ')})`),
  );
}

/** An invoice stored since a point in time: its order, the job that rendered it, and when it was stored. */
interface StoredRow {
  readonly orderId: string;
  readonly jobId: string;
  readonly storedAtMs: number;
}

async function databaseNow(client: pg.Client): Promise<Date> {
  const result = await client.query<{ now: Date }>('SELECT now() AS now');
  const now = result.rows[0]?.now;
  if (now === undefined) throw new Error('SELECT now() returned no row');
  return now;
}

async function storedSince(client: pg.Client, since: Date): Promise<StoredRow[]> {
  // updated_at is the store's transaction time: set on insert, and by the trigger when a job stores the row again
  const result = await client.query<{ order_id: string; job_id: string; stored_ms: string }>(
    `SELECT order_id, job_id, (extract(epoch FROM updated_at) * 1000)::text AS stored_ms
     FROM invoices WHERE updated_at >= $1`,
    [since],
  );
  return result.rows.map((row) => ({ orderId: row.order_id, jobId: row.job_id, storedAtMs: Number(row.stored_ms) }));
}

async function countSince(client: pg.Client, since: Date): Promise<number> {
  const result = await client.query<{ count: string }>(
    'SELECT count(*) AS count FROM invoices WHERE updated_at >= $1',
    [since],
  );
  return Number(result.rows[0]?.count ?? 0);
}

/** Waits until `expected` invoices are stored since `since`; returns how many were (fewer when it gave up). */
async function awaitStored(
  client: pg.Client,
  since: Date,
  expected: number,
  label: string,
  progress: Progress,
  signal: AbortSignal,
): Promise<number> {
  const started = Date.now();
  const limitMs = Math.max(MIN_DRAIN_WAIT_MS, (expected / SLOWEST_DRAIN_PER_SECOND) * 1000);
  let lastShown = started;
  for (;;) {
    signal.throwIfAborted();
    const stored = await countSince(client, since);
    if (stored >= expected) return stored;
    if (Date.now() - started > limitMs) {
      progress.warn(`${label}: ${stored} of ${expected} accepted jobs stored after ${seconds(Date.now() - started)}`);
      return stored;
    }
    if (Date.now() - lastShown >= 5_000) {
      lastShown = Date.now();
      progress.step(`${label}: ${stored} of ${expected} invoices stored`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** When each job was enqueued: its created_at, from GET …/invoice/jobs/{id} (BullMQ's own timestamp of the add). */
async function enqueuedAt(
  appUrl: string,
  token: string,
  rows: readonly StoredRow[],
  signal: AbortSignal,
): Promise<Map<string, number>> {
  const created = new Map<string, number>();
  let next = 0;
  const read = async (): Promise<void> => {
    while (next < rows.length) {
      signal.throwIfAborted();
      const row = rows[next++];
      if (row === undefined) return;
      const url = `${appUrl}/api/v1/orders/${row.orderId}/invoice/jobs/${row.jobId}`;
      const response = await fetch(url, {
        headers: { Authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await response.json()) as { created_at?: unknown };
      if (response.status !== 200 || typeof body.created_at !== 'string') {
        throw new Error(`GET ${url} answered ${response.status}: ${JSON.stringify(body).slice(0, 300)}`);
      }
      created.set(row.jobId, Date.parse(body.created_at));
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, rows.length) }, read));
  return created;
}

/** What one run of the invoice row found besides its table numbers; kept in the results file. */
export interface InvoiceRunFindings {
  /** The bulk: jobs asked for, accepted (202), the enqueue rate the API held, and the jobs stored. */
  readonly bulk: {
    readonly asked: number;
    readonly accepted: number;
    readonly enqueueRps: number;
    readonly stored: number;
    readonly steady: SteadyRate;
  };
  /** The latency measurement at half the throughput: enqueue to PDF stored, per job. */
  readonly latency: {
    readonly rate: number;
    readonly accepted: number;
    readonly stored: number;
    readonly p50Ms: number;
    readonly p90Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
  };
  /** CPU per invoice of the bulk, in ms: both workers together, and the API per enqueue. */
  readonly cpuMsPerInvoice: { readonly workers: number; readonly api: number };
}

export interface InvoiceRunInput {
  readonly label: string;
  readonly appUrl: string;
  readonly appPid: number;
  readonly workerPids: readonly number[];
  readonly databaseUrl: string;
  readonly account: SeedAccount;
  readonly token: string;
  readonly orderIds: readonly string[];
  readonly settings: BenchSettings['invoices'];
  readonly vegeta: string;
  readonly progress: Progress;
  readonly signal: AbortSignal;
}

/** The row's numbers of one run: throughput as its rate, the latency percentiles as its p50 and p99. */
export interface InvoiceRun {
  readonly metrics: RunMetrics;
  readonly maxRssMb: number | undefined;
  readonly findings: InvoiceRunFindings;
}

function seededFor(input: InvoiceRunInput): Seeded {
  return {
    seed: {
      baseUrl: input.appUrl,
      email: input.account.email,
      password: input.account.password,
      productIds: [],
      orderId: '',
      addressBase: Math.floor(Math.random() * 2 ** 22),
    },
    token: input.token,
  };
}

/**
 * One run of the invoice row: (1) the bulk, `jobs` enqueues at `enqueueRate`, faster than two workers drain them,
 * and the throughput over the steady middle of their completions; (2) enqueues at half that throughput for
 * `latencyDuration`, each job's latency from its record's created_at to its invoice row's store time.
 */
export async function measureInvoices(input: InvoiceRunInput): Promise<InvoiceRun> {
  const { label, settings, progress, signal } = input;
  const client = new pg.Client({ connectionString: input.databaseUrl });
  await client.connect();
  const samplers = input.workerPids.map((pid) => sampleMaxRss(pid, 200));
  const started = Date.now();
  try {
    const bulkMs = Math.max(1_000, Math.ceil((settings.jobs / settings.enqueueRate) * 1000));
    const bulkRate = Math.ceil(settings.jobs / (bulkMs / 1000));
    progress.step(`${label}: bulk of ${settings.jobs} invoice jobs at ${bulkRate}/s, ${INVOICE_WORKERS} workers`);
    const bulkSince = await databaseNow(client);
    const workerCpuBefore = cpuMsOf(input.workerPids);
    const apiCpuBefore = cpuMsOf([input.appPid]);
    const bulk = await runScenario({
      scenario: invoiceScenario(bulkRate, bulkMs, input.orderIds),
      targetUrl: input.appUrl,
      seeded: seededFor(input),
      vegeta: input.vegeta,
      signal,
    });
    const bulkAccepted = bulk.statuses['202'] ?? 0;
    warnRefused(`${label} bulk`, bulk, progress);
    const bulkStored = await awaitStored(client, bulkSince, bulkAccepted, `${label} bulk`, progress, signal);
    const workerCpuMs = cpuMsOf(input.workerPids) - workerCpuBefore;
    const apiCpuMs = cpuMsOf([input.appPid]) - apiCpuBefore;
    const steady = steadyRate((await storedSince(client, bulkSince)).map((row) => row.storedAtMs));
    progress.ok(
      `${label}: ${steady.perSecond.toFixed(1)} invoices/s over ${seconds(steady.windowMs)} (${bulkStored} of ${bulkAccepted} accepted stored, enqueued at ${bulk.achievedRate.toFixed(0)}/s)`,
    );

    if (steady.perSecond >= ENQUEUE_BOUND_SHARE * bulk.achievedRate) {
      progress.warn(
        `${label}: the workers kept up with the enqueues (${bulk.achievedRate.toFixed(0)}/s): the throughput is the enqueue rate's, raise BENCH_INVOICE_ENQUEUE_RATE`,
      );
    }
    const rate = halfRate(steady.perSecond, input.orderIds.length, settings.latencyDuration.ms);
    progress.step(`${label}: enqueues at ${rate}/s (half the throughput) for ${settings.latencyDuration.text}`);
    const latencySince = await databaseNow(client);
    const paced = await runScenario({
      scenario: invoiceScenario(rate, settings.latencyDuration.ms, input.orderIds),
      targetUrl: input.appUrl,
      seeded: seededFor(input),
      vegeta: input.vegeta,
      signal,
    });
    const pacedAccepted = paced.statuses['202'] ?? 0;
    warnRefused(`${label} latency`, paced, progress);
    const pacedStored = await awaitStored(client, latencySince, pacedAccepted, `${label} latency`, progress, signal);
    const rows = await storedSince(client, latencySince);
    const created = await enqueuedAt(input.appUrl, input.token, rows, signal);
    const latencies = rows
      .flatMap((row) => {
        const at = created.get(row.jobId);
        return at === undefined ? [] : [row.storedAtMs - at];
      })
      .sort((a, b) => a - b);
    const latency = {
      rate,
      accepted: pacedAccepted,
      stored: pacedStored,
      p50Ms: percentile(latencies, 50),
      p90Ms: percentile(latencies, 90),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.at(-1) ?? 0,
    };
    const completed = bulkStored + pacedStored;
    const asked = bulk.requestedRequests + paced.requestedRequests;
    const sent = bulk.requests + paced.requests;
    // a refused enqueue and an accepted job never stored both count as lost
    const failed = sent - bulkAccepted - pacedAccepted + (bulkAccepted - bulkStored) + (pacedAccepted - pacedStored);
    const findings: InvoiceRunFindings = {
      bulk: {
        asked: settings.jobs,
        accepted: bulkAccepted,
        enqueueRps: bulk.achievedRate,
        stored: bulkStored,
        steady,
      },
      latency,
      cpuMsPerInvoice: {
        workers: bulkStored === 0 ? 0 : workerCpuMs / bulkStored,
        api: bulkAccepted === 0 ? 0 : apiCpuMs / bulkAccepted,
      },
    };
    progress.ok(
      `${label}: at ${rate}/s enqueue → PDF stored p50 ${latency.p50Ms.toFixed(0)} ms, p99 ${latency.p99Ms.toFixed(0)} ms ` +
        `(${pacedStored} of ${pacedAccepted} stored); CPU per invoice: workers ${findings.cpuMsPerInvoice.workers.toFixed(1)} ms, ` +
        `API ${findings.cpuMsPerInvoice.api.toFixed(1)} ms`,
    );
    const rss = samplers.flatMap((sampler) => {
      const max = sampler.stop();
      return max === undefined ? [] : [max];
    });
    return {
      metrics: {
        requests: completed,
        rps: steady.perSecond,
        p50Ms: latency.p50Ms,
        p99Ms: latency.p99Ms,
        maxMs: latency.maxMs,
        checked: sent,
        failed,
        errorRate: sent === 0 ? 0 : failed / sent,
        testRunDurationMs: Date.now() - started,
        unsent: Math.max(0, Math.round(asked) - sent),
        generatorCpuPercent: paced.generatorCpuPercent,
        statuses: Object.fromEntries(
          [...new Set([...Object.keys(bulk.statuses), ...Object.keys(paced.statuses)])].map((status) => [
            status,
            (bulk.statuses[status] ?? 0) + (paced.statuses[status] ?? 0),
          ]),
        ),
      },
      maxRssMb: rss.length === 0 ? undefined : Math.max(...rss),
      findings,
    };
  } finally {
    for (const sampler of samplers) sampler.stop();
    await client.end();
  }
}
