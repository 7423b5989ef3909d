import { parse } from 'yaml';

import { EXIT, ReleaseError } from '../errors.js';

/** One series of a range query: its labels and its points, `[epoch ms, value]`; NaN and ±Inf become null (a gap). */
export interface RangeSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly points: readonly (readonly [number, number | null])[];
}

export interface RangeQuery {
  readonly expr: string;
  /** Epoch milliseconds. */
  readonly start: number;
  readonly end: number;
  readonly stepSeconds: number;
}

interface ApiAnswer {
  readonly status?: string;
  readonly error?: string;
  readonly data?: { readonly resultType?: string; readonly result?: unknown };
}

/** Checks a Prometheus base URL given by a person: http(s), no query string. */
export function prometheusBaseUrl(raw: string, where: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ReleaseError(
      `${where} ${JSON.stringify(raw)} is not a URL`,
      'give the Prometheus base URL, for example http://127.0.0.1:9090',
      EXIT.usage,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ReleaseError(
      `${where} ${JSON.stringify(raw)} uses ${url.protocol}`,
      'give an http(s) Prometheus base URL, for example http://127.0.0.1:9090',
      EXIT.usage,
    );
  return raw.replace(/\/+$/, '');
}

async function get(baseUrl: string, path: string, params: Record<string, string>): Promise<ApiAnswer> {
  const url = `${baseUrl}${path}?${new URLSearchParams(params).toString()}`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    throw new ReleaseError(
      `Prometheus at ${baseUrl} did not answer ${path}: ${(error as Error).message}`,
      'start it (npm start runs one; npm run status shows its URL) or pass the right one with --prometheus',
      EXIT.missing,
      { cause: error },
    );
  }
  const text = await response.text();
  let body: ApiAnswer;
  try {
    body = JSON.parse(text) as ApiAnswer;
  } catch {
    throw new ReleaseError(
      `${baseUrl}${path} answered ${response.status} with something that is not Prometheus's JSON: ${text.slice(0, 120)}`,
      'check that --prometheus names a Prometheus server, not another service',
      EXIT.missing,
    );
  }
  if (body.status !== 'success')
    throw new ReleaseError(
      `Prometheus at ${baseUrl} refused ${params.query ?? path}: ${body.error ?? `status ${response.status}`}`,
      'the query comes from monitoring/ or a generated dashboard: fix it there and regenerate',
      EXIT.failed,
    );
  return body;
}

function pointValue(raw: unknown): number | null {
  const value = Number(raw);
  return Number.isFinite(value) ? value : null;
}

/** `GET /api/v1/query_range`; every series with its points. */
export async function queryRange(baseUrl: string, query: RangeQuery): Promise<RangeSeries[]> {
  const body = await get(baseUrl, '/api/v1/query_range', {
    query: query.expr,
    start: (query.start / 1000).toFixed(3),
    end: (query.end / 1000).toFixed(3),
    step: `${query.stepSeconds}s`,
  });
  const result = (body.data?.result ?? []) as { metric?: Record<string, string>; values?: [number, string][] }[];
  return result.map((series) => ({
    labels: series.metric ?? {},
    points: (series.values ?? []).map(([at, value]) => [Math.round(at * 1000), pointValue(value)] as const),
  }));
}

/** The global scrape interval Prometheus runs with, in seconds (from `/api/v1/status/config`); 60 when unset. */
export async function scrapeIntervalSeconds(baseUrl: string): Promise<number> {
  const body = await get(baseUrl, '/api/v1/status/config', {});
  const config = parse((body.data as { yaml?: string } | undefined)?.yaml ?? '') as {
    global?: { scrape_interval?: string };
  } | null;
  const interval = durationSeconds(config?.global?.scrape_interval ?? '1m');
  return Number.isFinite(interval) && interval > 0 ? interval : 60;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** A Prometheus duration (`90s`, `1m30s`, `2h`) in seconds; NaN when it is not one. */
export function durationSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d|w)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text) return Number.NaN;
  return parts.reduce((sum, [, amount = '0', unit = 's']) => sum + Number(amount) * (UNIT_SECONDS[unit] ?? 0), 0);
}
