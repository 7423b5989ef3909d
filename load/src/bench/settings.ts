import { parseDuration, ScenarioInputError, wholeNumber } from '../engine/settings.js';

/** The measurements `npm run bench` can take, in the order it takes them. */
export const BENCH_SCENARIOS = ['cached-read', 'orders', 'logins', 'bare', 'invoices', 'soak'] as const;
export type BenchScenario = (typeof BENCH_SCENARIOS)[number];

/** A duration and its length. */
export interface Duration {
  readonly text: string;
  readonly ms: number;
}

/** What one `npm run bench` measures, read once from the environment. */
export interface BenchSettings {
  /** Runs of each scenario but soak; the table shows medians over them. */
  readonly runs: number;
  readonly scenarios: readonly BenchScenario[];
  /** Length of each open-model run (cached-read, orders, logins). */
  readonly duration: Duration;
  /** Arrivals per second of the open-model runs. */
  readonly rates: {
    readonly cachedRead: number;
    readonly orders: number;
    readonly logins: number;
    readonly soak: number;
  };
  /** Virtual users of the closed model (bare): each sends its next request when the last one is answered. */
  readonly vus: number;
  /** Length of each closed-model run, against the app and against the bare server. */
  readonly closedDuration: Duration;
  /** Length of the one soak run. */
  readonly soakDuration: Duration;
  /** The invoice row: 2 worker processes render invoice PDFs enqueued through the API. */
  readonly invoices: {
    /** Jobs enqueued in bulk for the throughput measurement, and orders seeded for them. */
    readonly jobs: number;
    /** Enqueues per second of the bulk, above what the workers drain. */
    readonly enqueueRate: number;
    /** Length of the latency measurement at half the measured throughput. */
    readonly latencyDuration: Duration;
    /** JOB_CONCURRENCY of each worker process; undefined leaves the app's default. */
    readonly concurrency: number | undefined;
  };
}

export const DEFAULT_SETTINGS = {
  runs: 3,
  scenarios: BENCH_SCENARIOS,
  duration: '60s',
  rates: { cachedRead: 1500, orders: 200, logins: 50, soak: 100 },
  vus: 50,
  closedDuration: '20s',
  soakDuration: '10m',
  invoices: { jobs: 2000, enqueueRate: 200, latencyDuration: '20s' },
} as const;

const MAX_RUNS = 100;
const MAX_VUS = 10_000;
const MAX_RATE = 100_000;
// each job needs an order of its own, seeded before the runs
const MAX_INVOICE_JOBS = 100_000;
// the app's own bound on JOB_CONCURRENCY
const MAX_CONCURRENCY = 100;
const HOUR_MS = 60 * 60 * 1000;

function durationOf(env: NodeJS.ProcessEnv, variable: string, fallback: string, maxHours: number): Duration {
  const raw = env[variable];
  if (raw === undefined || raw === '') return { text: fallback, ms: parseDuration(fallback) ?? 0 };
  const ms = parseDuration(raw);
  if (ms === undefined || ms < 1_000 || ms > maxHours * HOUR_MS) {
    throw new ScenarioInputError(
      variable,
      raw,
      `a duration from 1s to ${maxHours}h in hours, minutes and seconds, such as 20s, 90s or 1m30s (default ${fallback})`,
    );
  }
  return { text: raw, ms };
}

function scenarios(env: NodeJS.ProcessEnv): BenchScenario[] {
  const raw = env.BENCH_SCENARIOS;
  if (raw === undefined || raw.trim() === '') return [...BENCH_SCENARIOS];
  const names = raw.split(',').map((name) => name.trim());
  const accepted = `a comma-separated subset of ${BENCH_SCENARIOS.join(',')} (default all)`;
  if (names.some((name) => !(BENCH_SCENARIOS as readonly string[]).includes(name))) {
    throw new ScenarioInputError('BENCH_SCENARIOS', raw, accepted);
  }
  // the order of the table, whatever the order given
  return BENCH_SCENARIOS.filter((name) => names.includes(name));
}

/**
 * Reads BENCH_RUNS, BENCH_SCENARIOS, BENCH_DURATION, BENCH_READ_RATE, BENCH_ORDER_RATE, BENCH_LOGIN_RATE, BENCH_VUS,
 * BENCH_CLOSED_DURATION, BENCH_SOAK_RATE, BENCH_SOAK_DURATION, BENCH_INVOICE_JOBS, BENCH_INVOICE_ENQUEUE_RATE,
 * BENCH_INVOICE_DURATION and BENCH_INVOICE_CONCURRENCY (an empty one counts as unset).
 * @throws {ScenarioInputError} for the first variable with a value it cannot take.
 */
export function benchSettings(env: NodeJS.ProcessEnv): BenchSettings {
  const rates = DEFAULT_SETTINGS.rates;
  return {
    runs: wholeNumber(env, 'BENCH_RUNS', DEFAULT_SETTINGS.runs, MAX_RUNS),
    scenarios: scenarios(env),
    duration: durationOf(env, 'BENCH_DURATION', DEFAULT_SETTINGS.duration, 1),
    rates: {
      cachedRead: wholeNumber(env, 'BENCH_READ_RATE', rates.cachedRead, MAX_RATE),
      orders: wholeNumber(env, 'BENCH_ORDER_RATE', rates.orders, MAX_RATE),
      logins: wholeNumber(env, 'BENCH_LOGIN_RATE', rates.logins, MAX_RATE),
      soak: wholeNumber(env, 'BENCH_SOAK_RATE', rates.soak, MAX_RATE),
    },
    vus: wholeNumber(env, 'BENCH_VUS', DEFAULT_SETTINGS.vus, MAX_VUS),
    closedDuration: durationOf(env, 'BENCH_CLOSED_DURATION', DEFAULT_SETTINGS.closedDuration, 1),
    // the long soak is 2h; allow a day
    soakDuration: durationOf(env, 'BENCH_SOAK_DURATION', DEFAULT_SETTINGS.soakDuration, 24),
    invoices: {
      jobs: wholeNumber(env, 'BENCH_INVOICE_JOBS', DEFAULT_SETTINGS.invoices.jobs, MAX_INVOICE_JOBS),
      enqueueRate: wholeNumber(env, 'BENCH_INVOICE_ENQUEUE_RATE', DEFAULT_SETTINGS.invoices.enqueueRate, MAX_RATE),
      latencyDuration: durationOf(env, 'BENCH_INVOICE_DURATION', DEFAULT_SETTINGS.invoices.latencyDuration, 1),
      concurrency:
        env.BENCH_INVOICE_CONCURRENCY === undefined || env.BENCH_INVOICE_CONCURRENCY === ''
          ? undefined
          : wholeNumber(env, 'BENCH_INVOICE_CONCURRENCY', 1, MAX_CONCURRENCY),
    },
  };
}
