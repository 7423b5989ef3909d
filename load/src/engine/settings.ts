/** Reading a scenario's settings from its environment: every value checked, every mistake named with its value. */

/** A scenario setting holds a value it cannot take; the message is the one line a person reads. */
export class ScenarioInputError extends Error {
  override readonly name = 'ScenarioInputError';

  constructor(
    readonly variable: string,
    readonly value: string,
    readonly accepted: string,
  ) {
    super(`${variable}=${JSON.stringify(value)} is not valid: use ${accepted}, or unset it`);
  }
}

/** The settings `read` returns, or undefined once a {@link ScenarioInputError} is written to stderr as `error: …`. */
export function settingsOrReport<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ScenarioInputError)) throw error;
    process.stderr.write(`error: ${error.message}\n`);
    return undefined;
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1_000 } as const;

/** Milliseconds of a duration made of hours, minutes and seconds (20s, 1m30s, 2h); undefined if it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = /^(?:(\d{1,4})h)?(?:(\d{1,4})m)?(?:(\d{1,6})s)?$/.exec(text);
  if (!match || text === '') return undefined;
  const [, hours = '0', minutes = '0', secs = '0'] = match;
  return Number(hours) * UNIT_MS.h + Number(minutes) * UNIT_MS.m + Number(secs) * UNIT_MS.s;
}

/** A whole number from 1 to `max` from `env[name]`, or the default when unset or empty. */
export function wholeNumber(env: Env, name: string, fallback: number, max = 10_000_000): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d{1,9}$/.test(raw) || value < 1 || value > max) {
    throw new ScenarioInputError(name, raw, `a whole number from 1 to ${max} (default ${fallback})`);
  }
  return value;
}

/** A duration (30s, 1m30s, 2h) of at least one second from `env[name]`, in milliseconds, or the default's. */
export function durationMs(env: Env, name: string, fallback: string): number {
  const raw = env[name];
  const text = raw === undefined || raw === '' ? fallback : raw;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1_000) {
    throw new ScenarioInputError(
      name,
      text,
      `a duration of at least 1s in hours, minutes and seconds, such as 30s, 90s or 1m30s (default ${fallback})`,
    );
  }
  return ms;
}

/** The base URL of the service under test from TARGET_URL, without a trailing slash. */
export function targetUrl(env: Env): string {
  const raw = env.TARGET_URL;
  if (raw === undefined || raw === '') {
    throw new ScenarioInputError('TARGET_URL', '', 'the base URL of erp-api, e.g. TARGET_URL=http://127.0.0.1:8080');
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ScenarioInputError('TARGET_URL', raw, 'an http:// or https:// URL such as http://127.0.0.1:8080');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ScenarioInputError('TARGET_URL', raw, 'an http:// or https:// URL such as http://127.0.0.1:8080');
  }
  return raw.replace(/\/+$/, '');
}
