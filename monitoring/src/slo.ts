import { APP_SELECTOR, EDGE_SELECTOR, POD_TARGET_LABELS, SERVICE } from './config.js';
import { sanitizeLabelName } from './service-monitor.js';

/**
 * The service level objectives of erp-api, defined once. From them come the error-ratio recording rules, the
 * multi-window multi-burn-rate alerts (Google SRE workbook, chapter 5), the load thresholds and the canary analysis.
 */

/** What is measured: requests answered without a 5xx, or requests answered fast enough. */
export const SLI_KINDS = ['availability', 'latency'] as const;
export type SliKind = (typeof SLI_KINDS)[number];

/** The whole API, or one group of routes whose users notice on their own (sign-in, ordering). */
export type RouteGroupName = 'api' | 'auth' | 'orders';

export interface RouteGroup {
  readonly name: RouteGroupName;
  readonly description: string;
  /** Extra matcher on `route` (the matched route pattern); empty for the whole API. */
  readonly routeMatcher: string;
}

/** Who counts the requests: the app's own metrics, or ingress-nginx in front of it (which also sees no pod ready). */
export type SliSource = 'app' | 'edge';

export interface ServiceLevelObjective {
  /** `<routeGroup>-<sli>` (`edge-<sli>` at the ingress), the `slo` label of its recorded series and alerts. */
  readonly name: string;
  readonly source: SliSource;
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
      source: 'app',
      sli: 'availability',
      routeGroup: group.name,
      description: `99.9% of requests (${group.description}) answer without a 5xx status, over 30 days`,
      objective: AVAILABILITY_OBJECTIVE,
      windowDays: SLO_WINDOW_DAYS,
    },
    {
      name: `${group.name}-latency`,
      source: 'app',
      sli: 'latency',
      routeGroup: group.name,
      description: `99% of requests (${group.description}) answer in under 500 ms, over 30 days`,
      objective: LATENCY_OBJECTIVE,
      windowDays: SLO_WINDOW_DAYS,
      latencyThresholdSeconds: LATENCY_THRESHOLD_SECONDS,
    },
  ];
}

/**
 * The API's availability as ingress-nginx answers it: when every pod is unready the app counts nothing, while the
 * ingress answers 503 to every user; only this SLI sees that.
 */
export const EDGE_AVAILABILITY: ServiceLevelObjective = {
  name: 'edge-availability',
  source: 'edge',
  sli: 'availability',
  routeGroup: 'api',
  description: '99.9% of requests ingress-nginx forwards to erp-api answer without a 5xx status, over 30 days',
  objective: AVAILABILITY_OBJECTIVE,
  windowDays: SLO_WINDOW_DAYS,
};

/** Every SLO: the API as a whole, then the critical route groups, then the API seen from the ingress. */
export const SLOS: readonly ServiceLevelObjective[] = [
  ...Object.values(ROUTE_GROUPS).flatMap(slosFor),
  EDGE_AVAILABILITY,
];

/** Windows the error ratio is recorded over: the burn-rate alerts' pairs and the whole SLO window. */
export const ERROR_RATIO_WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d'] as const;
export type ErrorRatioWindow = (typeof ERROR_RATIO_WINDOWS)[number];

/**
 * Windows recorded as the mean of the 5m ratio, as Sloth records its period window: a rate over days of raw
 * samples reads millions of points at every evaluation, the 5m record a few thousand.
 */
export const DERIVED_WINDOWS: readonly ErrorRatioWindow[] = ['1d', '3d', '30d'];

/** The window the derived ones average. */
export const BASE_WINDOW: ErrorRatioWindow = '5m';

/** Days Prometheus must keep so the whole SLO window is there: the window and a day of margin. */
export const PROMETHEUS_RETENTION_DAYS = SLO_WINDOW_DAYS + 1;
export const PROMETHEUS_RETENTION = `${PROMETHEUS_RETENTION_DAYS}d`;

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

/**
 * Below this many requests a second a ratio is noise: at 3 a.m. a handful of failures among a few hundred requests
 * burns "14.4 times the budget" without being an incident. Burn-rate alerts and HighErrorRate hold to it.
 */
export const MIN_REQUESTS_PER_SECOND = 1;

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

/** Requests a second an SLO counts over `window`: the denominator of its error ratio. */
export function requestRateQuery(slo: ServiceLevelObjective, window: string): string {
  if (slo.source === 'edge') return `sum(rate(nginx_ingress_controller_requests{${EDGE_SELECTOR}}[${window}]))`;
  const selector = requestSelector(slo);
  return slo.sli === 'availability'
    ? `sum(rate(http_requests_total{${selector}}[${window}]))`
    : `sum(rate(http_request_duration_seconds_count{${selector}}[${window}]))`;
}

/**
 * The fraction of bad requests of an SLO over `window`: 5xx answers for availability, answers slower than the
 * threshold for latency. `or vector(0)` keeps the ratio at 0 (not empty) while nothing fails.
 */
export function errorRatioQuery(slo: ServiceLevelObjective, window: string): string {
  if (slo.source === 'edge') {
    if (slo.sli !== 'availability') throw new Error(`SLO ${slo.name}: the edge measures availability only`);
    return (
      `(sum(rate(nginx_ingress_controller_requests{${EDGE_SELECTOR},status=~"5.."}[${window}])) or vector(0))` +
      ` / ${requestRateQuery(slo, window)}`
    );
  }
  const selector = requestSelector(slo);
  if (slo.sli === 'availability')
    return (
      `(sum(rate(http_requests_total{${selector},status=~"5.."}[${window}])) or vector(0))` +
      ` / ${requestRateQuery(slo, window)}`
    );
  const threshold = le(slo.latencyThresholdSeconds ?? LATENCY_THRESHOLD_SECONDS);
  return (
    `(sum(rate(http_request_duration_seconds_count{${selector}}[${window}]))` +
    ` - sum(rate(http_request_duration_seconds_bucket{${selector},le="${threshold}"}[${window}])))` +
    ` / ${requestRateQuery(slo, window)}`
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

/** Stands for the canary's label matchers inside a canary query; {@link canaryMatchers} fills it. */
export const CANARY_SELECTOR = '__CANARY_SELECTOR__';

/** The label the ServiceMonitor copies from the pod's `rollouts-pod-template-hash`, as Prometheus names it. */
export const POD_TEMPLATE_HASH_LABEL = sanitizeLabelName(POD_TARGET_LABELS[0]);

/** The matchers of one canary's series: its namespace and its pod template hash (an Argo argument in the cluster). */
export function canaryMatchers(namespace: string, podTemplateHash: string): string {
  return `namespace="${namespace}",${POD_TEMPLATE_HASH_LABEL}="${podTemplateHash}"`;
}

/** A canary query with the canary's matchers in place of {@link CANARY_SELECTOR}. */
export function forCanary(query: SloAnalysisQuery, namespace: string, podTemplateHash: string): string {
  return query.query.replaceAll(CANARY_SELECTOR, canaryMatchers(namespace, podTemplateHash));
}

/** How much canary traffic each analysis measurement looks at. */
export const CANARY_ANALYSIS_WINDOW = '2m';

/**
 * A PromQL query that measures one SLI on the canary alone, and the bound its result must respect; `query` holds
 * {@link CANARY_SELECTOR} where the canary's matchers go. Argo Rollouts (infra) and the local canary run it.
 */
export interface SloAnalysisQuery {
  readonly slo: SliKind;
  readonly query: string;
  /** `atLeast`: result ≥ threshold passes (ratios); `atMost`: result ≤ threshold passes (latencies). */
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
  const slo = SLOS.find(
    (candidate) => candidate.source === 'app' && candidate.routeGroup === 'api' && candidate.sli === sli,
  );
  if (slo === undefined) throw new Error(`no api-${sli} SLO is defined: add it to SLOS in monitoring/src/slo.ts`);
  return slo;
}

/** What infra renders into AnalysisTemplates, one per SLI. */
export const SLO_ANALYSIS_QUERIES: Readonly<Record<SliKind, SloAnalysisQuery>> = {
  availability: canaryAnalysisQuery(apiSlo('availability')),
  latency: canaryAnalysisQuery(apiSlo('latency')),
};

/**
 * The `quantile` (0.99 for p99) of the response time of one version's requests over `window`; `matchers` select the
 * version, as {@link canaryMatchers} writes them. The release report charts it for the canary and the stable version.
 */
export function versionLatencyQuantileQuery(
  quantile: number,
  matchers: string,
  window: string = CANARY_ANALYSIS_WINDOW,
): string {
  const selector = requestSelector(apiSlo('latency'), [matchers]);
  return `histogram_quantile(${quantile}, sum by (le) (rate(http_request_duration_seconds_bucket{${selector}}[${window}])))`;
}
