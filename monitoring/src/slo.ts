import { APP_SELECTOR, SERVICE } from './config.js';

/**
 * The service level objectives of erp-api, defined once. From them come the error-ratio recording rules, the
 * multi-window multi-burn-rate alerts (Google SRE workbook, chapter 5), the load thresholds and the canary analysis.
 */

/** What is measured: requests answered without a 5xx, or requests answered fast enough. */
export type SliKind = 'availability' | 'latency';

/** The whole API, or one group of routes whose users notice on their own (sign-in, ordering). */
export type RouteGroupName = 'api' | 'auth' | 'orders';

export interface RouteGroup {
  readonly name: RouteGroupName;
  readonly description: string;
  /** Extra matcher on `route` (the matched route pattern); empty for the whole API. */
  readonly routeMatcher: string;
}

export interface ServiceLevelObjective {
  /** `<routeGroup>-<sli>`, the `slo` label of its recorded series and alerts. */
  readonly name: string;
  readonly sli: SliKind;
  readonly routeGroup: RouteGroupName;
  readonly description: string;
  /** Fraction of good requests required over the window, e.g. 0.999. */
  readonly objective: number;
  readonly windowDays: number;
  /** The bound of a good request for latency SLOs, in seconds; a bucket edge of the request histogram. */
  readonly latencyThresholdSeconds?: number;
}

export const ROUTE_GROUPS: Readonly<Record<RouteGroupName, RouteGroup>> = {
  api: { name: 'api', description: 'every request to erp-api', routeMatcher: '' },
  auth: {
    name: 'auth',
    description: 'sign-in, token refresh and sign-out',
    routeMatcher: 'route=~"/api/v1/auth(/.*)?"',
  },
  orders: { name: 'orders', description: 'placing and reading orders', routeMatcher: 'route=~"/api/v1/orders(/.*)?"' },
};

export const AVAILABILITY_OBJECTIVE = 0.999;
export const LATENCY_OBJECTIVE = 0.99;
/** A request answered in under this many seconds is good for the latency SLO. */
export const LATENCY_THRESHOLD_SECONDS = 0.5;
export const SLO_WINDOW_DAYS = 30;

function slosFor(group: RouteGroup): ServiceLevelObjective[] {
  return [
    {
      name: `${group.name}-availability`,
      sli: 'availability',
      routeGroup: group.name,
      description: `99.9% of requests (${group.description}) answer without a 5xx status, over 30 days`,
      objective: AVAILABILITY_OBJECTIVE,
      windowDays: SLO_WINDOW_DAYS,
    },
    {
      name: `${group.name}-latency`,
      sli: 'latency',
      routeGroup: group.name,
      description: `99% of requests (${group.description}) answer in under 500 ms, over 30 days`,
      objective: LATENCY_OBJECTIVE,
      windowDays: SLO_WINDOW_DAYS,
      latencyThresholdSeconds: LATENCY_THRESHOLD_SECONDS,
    },
  ];
}

/** Every SLO: the API as a whole, then the critical route groups. */
export const SLOS: readonly ServiceLevelObjective[] = Object.values(ROUTE_GROUPS).flatMap(slosFor);

/** Windows the error ratio is recorded over: the burn-rate alerts' pairs and the whole SLO window. */
export const ERROR_RATIO_WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d'] as const;
export type ErrorRatioWindow = (typeof ERROR_RATIO_WINDOWS)[number];

export interface BurnRateAlertWindow {
  readonly severity: 'critical' | 'warning';
  /** How many times faster than sustainable the budget burns. */
  readonly burnRate: number;
  readonly longWindow: ErrorRatioWindow;
  readonly shortWindow: ErrorRatioWindow;
}

/** Page: 2% of a 30-day budget in 1 h, or 5% in 6 h. Ticket: 10% in 1 d, or 10% in 3 d. */
export const BURN_RATE_WINDOWS: readonly BurnRateAlertWindow[] = [
  { severity: 'critical', burnRate: 14.4, longWindow: '1h', shortWindow: '5m' },
  { severity: 'critical', burnRate: 6, longWindow: '6h', shortWindow: '30m' },
  { severity: 'warning', burnRate: 3, longWindow: '1d', shortWindow: '2h' },
  { severity: 'warning', burnRate: 1, longWindow: '3d', shortWindow: '6h' },
];

/** Rounds away binary noise (1 - 0.999 = 0.0010000000000000009) so rule text stays readable. */
export function decimal(value: number): number {
  return Number(value.toPrecision(12));
}

/** Fraction of requests allowed to be bad: 1 - objective. */
export function errorBudget(slo: ServiceLevelObjective): number {
  return decimal(1 - slo.objective);
}

/** Label matchers of the requests an SLO counts, the job first; `extra` is appended (e.g. the canary's). */
export function requestSelector(slo: ServiceLevelObjective, extra: readonly string[] = []): string {
  const route = ROUTE_GROUPS[slo.routeGroup].routeMatcher;
  return [...extra, APP_SELECTOR, ...(route === '' ? [] : [route])].join(',');
}

/** How prom-client writes the bucket bound into `le`. */
function le(seconds: number): string {
  return String(seconds);
}

/**
 * The fraction of bad requests of an SLO over `window`: 5xx answers for availability, answers slower than the
 * threshold for latency. `or vector(0)` keeps the ratio at 0 (not empty) while nothing fails.
 */
export function errorRatioQuery(slo: ServiceLevelObjective, window: string): string {
  const selector = requestSelector(slo);
  if (slo.sli === 'availability')
    return (
      `(sum(rate(http_requests_total{${selector},status=~"5.."}[${window}])) or vector(0))` +
      ` / sum(rate(http_requests_total{${selector}}[${window}]))`
    );
  const threshold = le(slo.latencyThresholdSeconds ?? LATENCY_THRESHOLD_SECONDS);
  return (
    `(sum(rate(http_request_duration_seconds_count{${selector}}[${window}]))` +
    ` - sum(rate(http_request_duration_seconds_bucket{${selector},le="${threshold}"}[${window}])))` +
    ` / sum(rate(http_request_duration_seconds_count{${selector}}[${window}]))`
  );
}

/** Name of the recorded error ratio over one window, sloth/pyrra style. */
export function errorRatioRecord(window: ErrorRatioWindow): string {
  return `slo:sli_error:ratio_rate${window}`;
}

export const BUDGET_REMAINING_RECORD = 'slo:error_budget_remaining:ratio';

/** The labels every recorded series and burn-rate alert of an SLO carries. */
export function sloLabels(slo: ServiceLevelObjective): Readonly<Record<string, string>> {
  return { service: SERVICE, slo: slo.name, sli: slo.sli, route_group: slo.routeGroup };
}

/** The selector of one SLO's recorded series. */
export function sloSeries(slo: ServiceLevelObjective, record: string): string {
  return `${record}{slo="${slo.name}"}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Consumers outside Prometheus: the canary analysis (pipelines/infra) and the load thresholds (load reads SLOS).

/**
 * Stands for the canary's label matchers inside a canary query; the same literal as `CANARY_SELECTOR` in
 * pipelines/src/release/plan.ts (monitoring may not import pipelines; a test pins the two together).
 */
export const CANARY_SELECTOR = '__CANARY_SELECTOR__';

/** How much canary traffic each analysis measurement looks at. */
export const CANARY_ANALYSIS_WINDOW = '2m';

/** The fields of pipelines' `SloAnalysisQuery`, so infra can use these in place of `PENDING_SLO_QUERIES`. */
export interface SloAnalysisQuery {
  readonly slo: SliKind;
  readonly query: string;
  readonly comparison: 'atLeast' | 'atMost';
  readonly threshold: number;
  readonly source: 'monitoring';
}

/**
 * The canary's good-request ratio for one SLI of the whole API; it passes at or above the objective. No canary
 * traffic gives no result (Argo counts that inconclusive); only bad traffic gives 0, which fails.
 */
export function canaryAnalysisQuery(slo: ServiceLevelObjective): SloAnalysisQuery {
  const selector = requestSelector(slo, [CANARY_SELECTOR]);
  const window = CANARY_ANALYSIS_WINDOW;
  const good =
    slo.sli === 'availability'
      ? `http_requests_total{${selector},status!~"5.."}[${window}]`
      : `http_request_duration_seconds_bucket{${selector},le="${le(slo.latencyThresholdSeconds ?? LATENCY_THRESHOLD_SECONDS)}"}[${window}]`;
  const all =
    slo.sli === 'availability'
      ? `http_requests_total{${selector}}[${window}]`
      : `http_request_duration_seconds_count{${selector}}[${window}]`;
  return {
    slo: slo.sli,
    query: `(sum(rate(${good})) or vector(0)) / sum(rate(${all}))`,
    comparison: 'atLeast',
    threshold: slo.objective,
    source: 'monitoring',
  };
}

function apiSlo(sli: SliKind): ServiceLevelObjective {
  const slo = SLOS.find((candidate) => candidate.routeGroup === 'api' && candidate.sli === sli);
  if (slo === undefined) throw new Error(`no api-${sli} SLO is defined: add it to SLOS in monitoring/src/slo.ts`);
  return slo;
}

/** What infra renders into AnalysisTemplates, one per SLI; replaces pipelines' `PENDING_SLO_QUERIES`. */
export const SLO_ANALYSIS_QUERIES: Readonly<Record<SliKind, SloAnalysisQuery>> = {
  availability: canaryAnalysisQuery(apiSlo('availability')),
  latency: canaryAnalysisQuery(apiSlo('latency')),
};
