/** What one `npm run bench` measures, read once from the environment. */
export interface BenchSettings {
  /** k6 runs per target; the table shows medians over them. */
  readonly runs: number;
  /** Virtual users of the closed model: each sends its next request when the last one is answered. */
  readonly vus: number;
  /** One run's length in k6's notation, e.g. 20s or 1m30s. */
  readonly duration: string;
  readonly durationMs: number;
}

export const DEFAULT_SETTINGS = { runs: 3, vus: 50, duration: '20s' } as const;

const MAX_RUNS = 100;
const MAX_VUS = 10_000;
const MAX_DURATION_MS = 60 * 60 * 1000;

/** A benchmark variable holds a value it cannot take; the message is the one line a person reads. */
export class BenchInputError extends Error {
  override readonly name = 'BenchInputError';

  constructor(
    readonly variable: string,
    readonly value: string,
    readonly accepted: string,
  ) {
    super(`${variable}=${JSON.stringify(value)} is not valid: use ${accepted}, or unset it`);
  }
}

function wholeNumber(env: NodeJS.ProcessEnv, variable: string, fallback: number, max: number): number {
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d{1,9}$/.test(raw) || value < 1 || value > max) {
    throw new BenchInputError(variable, raw, `a whole number from 1 to ${max} (default ${fallback})`);
  }
  return value;
}

const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1_000 } as const;

/** Milliseconds of a k6 duration made of hours, minutes and seconds (20s, 1m30s, 2h); undefined if it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = /^(?:(\d{1,4})h)?(?:(\d{1,4})m)?(?:(\d{1,6})s)?$/.exec(text);
  if (!match || text === '') return undefined;
  const [, hours = '0', minutes = '0', secs = '0'] = match;
  return Number(hours) * UNIT_MS.h + Number(minutes) * UNIT_MS.m + Number(secs) * UNIT_MS.s;
}

function duration(env: NodeJS.ProcessEnv): { duration: string; durationMs: number } {
  const raw = env.BENCH_DURATION;
  if (raw === undefined || raw === '') {
    return { duration: DEFAULT_SETTINGS.duration, durationMs: parseDuration(DEFAULT_SETTINGS.duration) ?? 0 };
  }
  const ms = parseDuration(raw);
  if (ms === undefined || ms < 1_000 || ms > MAX_DURATION_MS) {
    throw new BenchInputError(
      'BENCH_DURATION',
      raw,
      `a k6 duration from 1s to 1h in hours, minutes and seconds, such as 20s, 90s or 1m30s (default ${DEFAULT_SETTINGS.duration})`,
    );
  }
  return { duration: raw, durationMs: ms };
}

/**
 * Reads BENCH_RUNS, BENCH_VUS and BENCH_DURATION (an empty one counts as unset).
 * @throws {BenchInputError} for the first variable with a value it cannot take.
 */
export function benchSettings(env: NodeJS.ProcessEnv): BenchSettings {
  return {
    runs: wholeNumber(env, 'BENCH_RUNS', DEFAULT_SETTINGS.runs, MAX_RUNS),
    vus: wholeNumber(env, 'BENCH_VUS', DEFAULT_SETTINGS.vus, MAX_VUS),
    ...duration(env),
  };
}
