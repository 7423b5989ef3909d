import type { Redis } from 'ioredis';
import type { Pool } from 'pg';

/** Resolves when the dependency answers; rejects with why it did not. */
export type HealthCheck = () => Promise<unknown>;

export interface CheckResult {
  readonly status: 'up' | 'down';
  readonly durationMs: number;
  readonly error?: string;
}

export type CheckResults<Name extends string = string> = Readonly<Record<Name, CheckResult>>;

/** A round trip through the pool: proves a connection can be had and the server answers. */
export function postgresCheck(pool: Pool): HealthCheck {
  return () => pool.query('SELECT 1');
}

/** PING on the shared client; while it is reconnecting, says so instead of the driver's offline-queue message. */
export function redisCheck(redis: Redis): HealthCheck {
  return async () => {
    if (redis.status !== 'ready') throw new Error(`not connected (client is ${redis.status})`);
    await redis.ping();
  };
}

const MAX_ERROR_LENGTH = 200;

function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message || error.name : String(error);
  return message.length > MAX_ERROR_LENGTH ? `${message.slice(0, MAX_ERROR_LENGTH)}…` : message;
}

class CheckTimeout extends Error {
  override readonly name = 'CheckTimeout';
}

/** Runs one check, bounded by timeoutMs: a hung dependency counts as down instead of hanging the probe. */
export async function runCheck(check: HealthCheck, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    // Promise.race keeps a handler on the losing check, so its late rejection is not unhandled.
    await Promise.race([Promise.resolve().then(check), deadline]);
    return { status: 'up', durationMs: elapsed() };
  } catch (error) {
    return { status: 'down', durationMs: elapsed(), error: describeFailure(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every check in parallel, each with its own timeout. */
export async function runChecks<Name extends string>(
  checks: Readonly<Record<Name, HealthCheck>>,
  timeoutMs: number,
): Promise<CheckResults<Name>> {
  const names = Object.keys(checks) as Name[];
  const results = await Promise.all(names.map((name) => runCheck(checks[name], timeoutMs)));
  return Object.fromEntries(names.map((name, index) => [name, results[index]])) as Record<Name, CheckResult>;
}

/** Runs the checks, one round shared by every caller that arrives while it runs (probes, scrapes). */
export function sharedChecks<Name extends string>(
  checks: Readonly<Record<Name, HealthCheck>>,
  timeoutMs: number,
): () => Promise<CheckResults<Name>> {
  let inFlight: Promise<CheckResults<Name>> | undefined;
  return () =>
    (inFlight ??= runChecks(checks, timeoutMs).finally(() => {
      inFlight = undefined;
    }));
}

export function allUp(results: CheckResults): boolean {
  return Object.values(results).every((result) => result.status === 'up');
}
