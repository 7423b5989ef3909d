import { APP_SELECTOR as APP, DB_POOL_MAX_CONNECTIONS, SERVICE, runbookUrl } from './config.js';
import { appSeries, appTarget, edgeSeries, FIXTURE_NAMESPACE } from './fixtures.js';
import {
  BASE_WINDOW,
  BUDGET_REMAINING_RECORD,
  DERIVED_WINDOWS,
  BURN_RATE_WINDOWS,
  ERROR_RATIO_WINDOWS,
  SLOS,
  decimal,
  errorBudget,
  errorRatioQuery,
  errorRatioRecord,
  sloLabels,
  sloSeries,
} from './slo.js';
import type { ServiceLevelObjective } from './slo.js';

/** critical pages someone, warning opens a ticket, info and none reach no person (Alertmanager routes them). */
export type Severity = 'critical' | 'warning' | 'info' | 'none';

/** One series of a promtool test, in promtool's expanding notation (`0+10x30`). */
export interface TestSeries {
  readonly series: string;
  readonly values: string;
}

/** One alert expected at a check; its labels are the rule's (severity, service) plus these. */
export interface ExpectedAlert {
  /** Picks the rule by severity when an alert has several (ErrorBudgetBurn pages and tickets). */
  readonly severity?: Severity;
  readonly labels?: Readonly<Record<string, string>>;
  /** The description as Prometheus renders it from the template. */
  readonly description: string;
}

/** At `at` (time since the series start), exactly `alerts` fire; an empty list means it must not fire. */
export interface AlertCheck {
  readonly at: string;
  readonly alerts: readonly ExpectedAlert[];
}

export interface AlertTestCase {
  readonly name: string;
  /** Step between the values of `series`; 1m unless set. */
  readonly interval?: string;
  readonly series: readonly TestSeries[];
  readonly checks: readonly AlertCheck[];
}

/** One Prometheus alerting rule; several may share an alert name. */
export interface AlertRuleDefinition {
  readonly expr: string;
  readonly for?: string;
  readonly severity: Severity;
  /** Labels beyond `severity` and `service`. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Plain text, no template: what is wrong, for a notification's title. */
  readonly summary: string;
  /** Templated: the numbers and the affected thing. */
  readonly description: string;
}

/** An alert: its rules, its runbook page (runbooks/<name>.md) and the promtool cases that pin it. */
export interface AlertDefinition {
  readonly name: string;
  readonly group: string;
  readonly rules: readonly AlertRuleDefinition[];
  readonly tests: readonly AlertTestCase[];
  /** How often promtool evaluates the rules in its tests; the smallest test interval unless set. */
  readonly testEvaluationInterval?: string;
}

export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Prometheus rule-file shapes, as promtool, the rules YAML and the PrometheusRule CRD hold them. */
export interface PrometheusAlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<'summary' | 'description' | 'runbook_url', string>>;
}
export interface PrometheusRecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly labels: Readonly<Record<string, string>>;
}
export interface PrometheusRuleGroup {
  readonly name: string;
  readonly rules: readonly (PrometheusAlertingRule | PrometheusRecordingRule)[];
}

export const GROUPS = {
  slo: 'erp-api-slo-recording',
  burn: 'erp-api-slo-burn-rate',
  service: 'erp-api-service',
  dependencies: 'erp-api-dependencies',
  security: 'erp-api-security',
  backups: 'erp-api-backups',
  delivery: 'erp-api-delivery',
  meta: 'erp-api-meta',
} as const;

const APP_UP = `up{${APP}}`;
const rate = (selector: string, window: string): string => `rate(${selector}[${window}])`;

// ---------------------------------------------------------------------------------------------------------------
// SLOs: recording rules and burn-rate alerts

/** The mean of the SLO's 5m error ratio over `window`; it follows the 5m record in the same group. */
function derivedErrorRatio(slo: ServiceLevelObjective, window: string): string {
  const base = sloSeries(slo, errorRatioRecord(BASE_WINDOW));
  return `sum_over_time(${base}[${window}]) / count_over_time(${base}[${window}])`;
}

export function sloRecordingRules(slo: ServiceLevelObjective): RecordingRule[] {
  const labels = sloLabels(slo);
  return [
    ...ERROR_RATIO_WINDOWS.map((window) => ({
      record: errorRatioRecord(window),
      expr: DERIVED_WINDOWS.includes(window) ? derivedErrorRatio(slo, window) : errorRatioQuery(slo, window),
      labels,
    })),
    {
      record: BUDGET_REMAINING_RECORD,
      expr: `1 - ${sloSeries(slo, errorRatioRecord('30d'))} / ${errorBudget(slo)}`,
      labels,
    },
  ];
}

export const RECORDING_RULES: readonly RecordingRule[] = SLOS.flatMap(sloRecordingRules);

function burnRateRule(slo: ServiceLevelObjective, severity: 'critical' | 'warning'): AlertRuleDefinition {
  const pairs = BURN_RATE_WINDOWS.filter((window) => window.severity === severity);
  const expr = pairs
    .map((pair) => {
      const threshold = decimal(pair.burnRate * errorBudget(slo));
      return (
        `(${sloSeries(slo, errorRatioRecord(pair.longWindow))} > ${threshold}` +
        ` and ${sloSeries(slo, errorRatioRecord(pair.shortWindow))} > ${threshold})`
      );
    })
    .join(' or ');
  const page = severity === 'critical';
  return {
    expr,
    for: page ? '2m' : '15m',
    severity,
    labels: { slo: slo.name },
    summary: page ? 'An SLO is burning its error budget fast' : 'An SLO is burning its error budget steadily',
    description: page
      ? 'SLO {{ $labels.slo }}: {{ $value | humanizePercentage }} of requests were bad over the last 1 h or 6 h, 6 to 14.4 times the rate its 30-day error budget allows; at this pace the budget is gone within 5 days.'
      : 'SLO {{ $labels.slo }}: {{ $value | humanizePercentage }} of requests were bad over the last 1 d or 3 d, 1 to 3 times the rate its 30-day error budget allows; at this pace the budget is gone within 30 days.',
  };
}

const burnLabels = (slo: string, sli: string, group: string): Record<string, string> => ({
  slo,
  sli,
  route_group: group,
});
const requests = (status: string, perMinute: string, route = '/api/v1/products'): TestSeries => ({
  series: appSeries('http_requests_total', { method: 'GET', route, status }),
  values: perMinute,
});

const errorBudgetBurn: AlertDefinition = {
  name: 'ErrorBudgetBurn',
  group: GROUPS.burn,
  rules: SLOS.flatMap((slo) => [burnRateRule(slo, 'critical'), burnRateRule(slo, 'warning')]),
  tests: [
    {
      name: 'a steady 1% error rate against the 99.9% availability SLO pages (and opens a ticket)',
      series: [requests('200', '0+990x120'), requests('500', '0+10x120')],
      checks: [
        {
          at: '1h',
          alerts: [
            {
              severity: 'critical',
              labels: burnLabels('api-availability', 'availability', 'api'),
              description:
                'SLO api-availability: 1% of requests were bad over the last 1 h or 6 h, 6 to 14.4 times the rate its 30-day error budget allows; at this pace the budget is gone within 5 days.',
            },
            {
              severity: 'warning',
              labels: burnLabels('api-availability', 'availability', 'api'),
              description:
                'SLO api-availability: 1% of requests were bad over the last 1 d or 3 d, 1 to 3 times the rate its 30-day error budget allows; at this pace the budget is gone within 30 days.',
            },
          ],
        },
      ],
    },
    {
      name: 'a 5-minute blip of 5% errors after 6 quiet hours neither pages nor opens a ticket',
      // 1000 requests a minute; from minute 360 to 365 50 of them fail, then none again.
      series: [requests('200', '0+1000x360 360000+950x5 364750+1000x60'), requests('500', '0x360 0+50x5 250x60')],
      checks: [
        { at: '363m', alerts: [] },
        { at: '366m', alerts: [] },
        { at: '375m', alerts: [] },
        { at: '400m', alerts: [] },
      ],
    },
    {
      name: 'every pod unready: the ingress answers 503, the app counts nothing, the edge SLO pages',
      series: [{ series: edgeSeries('503'), values: '0+1000x30' }],
      checks: [
        {
          at: '10m',
          alerts: [
            {
              severity: 'critical',
              labels: burnLabels('edge-availability', 'availability', 'api'),
              description:
                'SLO edge-availability: 100% of requests were bad over the last 1 h or 6 h, 6 to 14.4 times the rate its 30-day error budget allows; at this pace the budget is gone within 5 days.',
            },
          ],
        },
      ],
    },
    {
      name: 'slow answers on the orders routes burn the orders latency budget, not availability',
      series: [
        {
          series: appSeries('http_request_duration_seconds_bucket', {
            method: 'GET',
            route: '/api/v1/orders/:id',
            status: '200',
            le: '0.5',
          }),
          values: '0+900x120',
        },
        {
          series: appSeries('http_request_duration_seconds_bucket', {
            method: 'GET',
            route: '/api/v1/orders/:id',
            status: '200',
            le: '+Inf',
          }),
          values: '0+1000x120',
        },
        {
          series: appSeries('http_request_duration_seconds_count', {
            method: 'GET',
            route: '/api/v1/orders/:id',
            status: '200',
          }),
          values: '0+1000x120',
        },
      ],
      checks: [
        {
          at: '1h',
          alerts: ['api', 'orders'].flatMap((group) => [
            {
              severity: 'critical' as const,
              labels: burnLabels(`${group}-latency`, 'latency', group),
              description: `SLO ${group}-latency: 10% of requests were bad over the last 1 h or 6 h, 6 to 14.4 times the rate its 30-day error budget allows; at this pace the budget is gone within 5 days.`,
            },
            {
              severity: 'warning' as const,
              labels: burnLabels(`${group}-latency`, 'latency', group),
              description: `SLO ${group}-latency: 10% of requests were bad over the last 1 d or 3 d, 1 to 3 times the rate its 30-day error budget allows; at this pace the budget is gone within 30 days.`,
            },
          ]),
        },
      ],
    },
  ],
};

// ---------------------------------------------------------------------------------------------------------------
// The service itself

/** Below this many requests a second a ratio is noise: one failed request of three is not an incident. */
export const MIN_REQUESTS_PER_SECOND = 1;
/** Below this many queries a second of one operation, a slow share is a handful of queries. */
export const MIN_QUERIES_PER_SECOND = 0.1;

const errorRatio = (window: string): string =>
  `sum(${rate(`http_requests_total{${APP},status=~"5.."}`, window)}) / sum(${rate(`http_requests_total{${APP}}`, window)})`;

const highErrorRate: AlertDefinition = {
  name: 'HighErrorRate',
  group: GROUPS.service,
  rules: [
    {
      expr:
        `${errorRatio('5m')} > 0.05` +
        ` and sum(${rate(`http_requests_total{${APP}}`, '5m')}) > ${MIN_REQUESTS_PER_SECOND}`,
      for: '2m',
      severity: 'critical',
      summary: 'erp-api answers more than 5% of requests with a server error',
      description:
        '{{ $value | humanizePercentage }} of erp-api requests answered with a 5xx status over the last 5 minutes (threshold 5%).',
    },
  ],
  tests: [
    {
      name: '10% of requests fail',
      series: [requests('200', '0+90x20'), requests('500', '0+10x20')],
      checks: [
        { at: '2m', alerts: [] },
        {
          at: '10m',
          alerts: [
            {
              description: '10% of erp-api requests answered with a 5xx status over the last 5 minutes (threshold 5%).',
            },
          ],
        },
      ],
    },
    {
      name: 'half of 20 requests a minute fail: below the traffic floor',
      series: [requests('200', '0+10x20'), requests('500', '0+10x20')],
      checks: [{ at: '10m', alerts: [] }],
    },
    {
      name: '2% of requests fail',
      series: [requests('200', '0+98x20'), requests('500', '0+2x20')],
      checks: [{ at: '10m', alerts: [] }],
    },
  ],
};

const bucket = (le: string, values: string): TestSeries => ({
  series: appSeries('http_request_duration_seconds_bucket', {
    method: 'GET',
    route: '/api/v1/products',
    status: '200',
    le,
  }),
  values,
});

const highLatencyP99: AlertDefinition = {
  name: 'HighLatencyP99',
  group: GROUPS.service,
  rules: [
    {
      expr: `histogram_quantile(0.99, sum by (le) (${rate(`http_request_duration_seconds_bucket{${APP}}`, '5m')})) > 1`,
      for: '5m',
      severity: 'warning',
      summary: 'erp-api answers slowly: the 99th percentile is above 1 second',
      description:
        'The 99th percentile of erp-api response times is {{ $value | humanizeDuration }} over the last 5 minutes (threshold 1s).',
    },
  ],
  tests: [
    {
      name: '10% of requests take between 1 and 2.5 seconds',
      series: [bucket('0.5', '0+50x20'), bucket('1', '0+90x20'), bucket('2.5', '0+100x20'), bucket('+Inf', '0+100x20')],
      checks: [
        {
          at: '15m',
          alerts: [
            {
              description:
                'The 99th percentile of erp-api response times is 2.35s over the last 5 minutes (threshold 1s).',
            },
          ],
        },
      ],
    },
    {
      name: 'every request is under 500 ms',
      series: [bucket('0.5', '0+100x20'), bucket('1', '0+100x20'), bucket('+Inf', '0+100x20')],
      checks: [{ at: '15m', alerts: [] }],
    },
  ],
};

/** Every label an `up` series of the fixture pod carries: an alert on `up` keeps them all. */
const targetLabels = appTarget(1);

const instanceDown: AlertDefinition = {
  name: 'InstanceDown',
  group: GROUPS.service,
  rules: [
    {
      expr: `${APP_UP} == 0`,
      for: '5m',
      severity: 'warning',
      summary: 'Prometheus cannot scrape an erp-api instance',
      description:
        'Prometheus has failed to scrape erp-api at {{ $labels.instance }} (namespace {{ $labels.namespace }}) for 5 minutes.',
    },
  ],
  tests: [
    {
      name: 'one instance stops answering',
      series: [{ series: appSeries('up'), values: '1 1 0x10' }],
      checks: [
        { at: '4m', alerts: [] },
        {
          at: '10m',
          alerts: [
            {
              labels: targetLabels,
              description: `Prometheus has failed to scrape erp-api at ${targetLabels.instance} (namespace ${targetLabels.namespace}) for 5 minutes.`,
            },
          ],
        },
      ],
    },
    {
      name: 'the instance answers every scrape',
      series: [{ series: appSeries('up'), values: '1x12' }],
      checks: [{ at: '10m', alerts: [] }],
    },
  ],
};

const serviceDown: AlertDefinition = {
  name: 'ServiceDown',
  group: GROUPS.service,
  rules: [
    {
      expr: `(sum(${APP_UP}) or vector(0)) == 0`,
      for: '2m',
      severity: 'critical',
      summary: 'No erp-api instance is up',
      description:
        'Prometheus has scraped no erp-api instance successfully for 2 minutes ({{ $value }} up): the API does not answer.',
    },
  ],
  tests: [
    {
      name: 'the only instance is down',
      series: [{ series: appSeries('up'), values: '0x10' }],
      checks: [
        {
          at: '5m',
          alerts: [
            {
              description:
                'Prometheus has scraped no erp-api instance successfully for 2 minutes (0 up): the API does not answer.',
            },
          ],
        },
      ],
    },
    {
      name: 'no erp-api target is known at all',
      series: [{ series: 'up{job="postgres-exporter",instance="10.0.2.4:9187"}', values: '1x10' }],
      checks: [
        {
          at: '5m',
          alerts: [
            {
              description:
                'Prometheus has scraped no erp-api instance successfully for 2 minutes (0 up): the API does not answer.',
            },
          ],
        },
      ],
    },
    {
      name: 'one of two instances is up',
      series: [
        { series: appSeries('up'), values: '0x10' },
        { series: appSeries('up', {}, 2), values: '1x10' },
      ],
      checks: [{ at: '5m', alerts: [] }],
    },
  ],
};

// ---------------------------------------------------------------------------------------------------------------
// Dependencies: PostgreSQL, Redis, the connection pool, the cache

const healthCheck = (check: string, values: string, pod = 1): TestSeries => ({
  series: appSeries('health_check_up', { check }, pod),
  values,
});

/**
 * A dependency every instance reports unreachable. Readiness takes pods out of the Service before any query fails,
 * so the request counters go quiet; the readiness gauge is scraped from unready pods too and says why.
 */
function dependencyDown(check: 'postgres' | 'redis'): string {
  return `max by (namespace) (health_check_up{${APP},check="${check}"}) == 0`;
}

const databaseDown: AlertDefinition = {
  name: 'DatabaseDown',
  group: GROUPS.dependencies,
  rules: [
    {
      expr: dependencyDown('postgres'),
      for: '1m',
      severity: 'critical',
      summary: 'erp-api cannot reach PostgreSQL',
      description:
        'Every erp-api instance in namespace {{ $labels.namespace }} failed its PostgreSQL readiness check for 1 minute: the pods are out of rotation and the API does not answer.',
    },
  ],
  tests: [
    {
      name: 'both instances fail the postgres check',
      series: [healthCheck('postgres', '1 1 0x10'), healthCheck('postgres', '1 1 0x10', 2)],
      checks: [
        { at: '2m', alerts: [] },
        {
          at: '6m',
          alerts: [
            {
              labels: { namespace: FIXTURE_NAMESPACE },
              description: `Every erp-api instance in namespace ${FIXTURE_NAMESPACE} failed its PostgreSQL readiness check for 1 minute: the pods are out of rotation and the API does not answer.`,
            },
          ],
        },
      ],
    },
    {
      name: 'one instance of two fails the postgres check (its own network, not the database)',
      series: [healthCheck('postgres', '0x10'), healthCheck('postgres', '1x10', 2)],
      checks: [{ at: '6m', alerts: [] }],
    },
    {
      name: 'Redis is down, PostgreSQL is up',
      series: [healthCheck('postgres', '1x10'), healthCheck('redis', '0x10')],
      checks: [{ at: '6m', alerts: [] }],
    },
  ],
};

const cacheOps = (result: string, values: string, cache = 'permissions'): TestSeries => ({
  series: appSeries('cache_operations_total', { cache, result }),
  values,
});

const redisDown: AlertDefinition = {
  name: 'RedisDown',
  group: GROUPS.dependencies,
  rules: [
    {
      expr: dependencyDown('redis'),
      for: '2m',
      severity: 'critical',
      summary: 'erp-api cannot reach Redis',
      description:
        'Every erp-api instance in namespace {{ $labels.namespace }} failed its Redis readiness check for 2 minutes: the pods stay in rotation (degraded), every cache falls back to PostgreSQL and rate limits are per pod.',
    },
  ],
  tests: [
    {
      name: 'both instances fail the redis check',
      series: [healthCheck('redis', '0x10'), healthCheck('redis', '0x10', 2), healthCheck('postgres', '1x10')],
      checks: [
        {
          at: '6m',
          alerts: [
            {
              labels: { namespace: FIXTURE_NAMESPACE },
              description: `Every erp-api instance in namespace ${FIXTURE_NAMESPACE} failed its Redis readiness check for 2 minutes: the pods stay in rotation (degraded), every cache falls back to PostgreSQL and rate limits are per pod.`,
            },
          ],
        },
      ],
    },
    {
      name: 'Redis answers every instance',
      series: [healthCheck('redis', '1x10'), healthCheck('redis', '1x10', 2)],
      checks: [{ at: '6m', alerts: [] }],
    },
  ],
};

const pool = (state: string, values: string): TestSeries => ({
  series: appSeries('db_pool_connections', { state }),
  values,
});

const connectionPoolNearExhaustion: AlertDefinition = {
  name: 'ConnectionPoolNearExhaustion',
  group: GROUPS.dependencies,
  rules: [
    {
      expr:
        `(sum by (namespace, instance) (db_pool_connections{${APP},state="total"})` +
        ` - sum by (namespace, instance) (db_pool_connections{${APP},state="idle"}))` +
        ` / ${DB_POOL_MAX_CONNECTIONS} > 0.8`,
      for: '5m',
      severity: 'warning',
      summary: 'An erp-api instance has almost no free database connection',
      description: `erp-api at {{ $labels.instance }} uses {{ $value | humanizePercentage }} of its ${DB_POOL_MAX_CONNECTIONS} database connections (threshold 80%).`,
    },
  ],
  tests: [
    {
      name: 'nine of ten connections busy',
      series: [pool('total', '10x12'), pool('idle', '1x12'), pool('waiting', '3x12')],
      checks: [
        {
          at: '10m',
          alerts: [
            {
              labels: { namespace: 'erp', instance: '10.0.1.17:8080' },
              description: `erp-api at 10.0.1.17:8080 uses 90% of its ${DB_POOL_MAX_CONNECTIONS} database connections (threshold 80%).`,
            },
          ],
        },
      ],
    },
    {
      name: 'half the connections busy',
      series: [pool('total', '10x12'), pool('idle', '5x12'), pool('waiting', '0x12')],
      checks: [{ at: '10m', alerts: [] }],
    },
  ],
};

/**
 * Lookups counted in cache_operations_total that are not caches: the access-token revocation list answers "miss" for
 * every token that was not revoked, so its hit rate is near 0 by design and says nothing about cache health.
 */
export const NOT_A_CACHE = ['revoked_access_tokens'] as const;

const cacheSelector = (result: string): string =>
  `cache_operations_total{${APP},cache!~"${NOT_A_CACHE.join('|')}",result=${result}}`;

const lowCacheHitRate: AlertDefinition = {
  name: 'LowCacheHitRate',
  group: GROUPS.dependencies,
  rules: [
    {
      expr:
        `(sum by (cache) (${rate(cacheSelector('"hit"'), '10m')})` +
        ` or 0 * sum by (cache) (${rate(cacheSelector('"miss"'), '10m')}))` +
        ` / sum by (cache) (${rate(cacheSelector('~"hit|miss"'), '10m')}) < 0.7` +
        ` and sum by (cache) (${rate(cacheSelector('~"hit|miss"'), '10m')}) > 0.1`,
      for: '10m',
      severity: 'info',
      summary: 'A cache of erp-api misses more often than it hits',
      description:
        'Cache {{ $labels.cache }} answered {{ $value | humanizePercentage }} of its lookups over the last 10 minutes (threshold 70%).',
    },
  ],
  tests: [
    {
      name: 'half the lookups miss',
      series: [cacheOps('hit', '0+5x40'), cacheOps('miss', '0+5x40')],
      checks: [
        {
          at: '30m',
          alerts: [
            {
              labels: { cache: 'permissions' },
              description: 'Cache permissions answered 50% of its lookups over the last 10 minutes (threshold 70%).',
            },
          ],
        },
      ],
    },
    {
      name: 'the revocation list misses on every live token: not a cache, no alert',
      series: [cacheOps('miss', '0+10x40', 'revoked_access_tokens'), cacheOps('hit', '0+10x40')],
      checks: [{ at: '30m', alerts: [] }],
    },
    {
      name: 'every lookup misses',
      series: [cacheOps('miss', '0+10x40')],
      checks: [
        {
          at: '30m',
          alerts: [
            {
              labels: { cache: 'permissions' },
              description: 'Cache permissions answered 0% of its lookups over the last 10 minutes (threshold 70%).',
            },
          ],
        },
      ],
    },
    {
      name: 'nine in ten lookups hit',
      series: [cacheOps('hit', '0+9x40'), cacheOps('miss', '0+1x40')],
      checks: [{ at: '30m', alerts: [] }],
    },
  ],
};

const dbDuration = (le: string, values: string): TestSeries => ({
  series: appSeries('db_query_duration_seconds_bucket', { operation: 'orders.list', le }),
  values,
});

const slowQueriesRising: AlertDefinition = {
  name: 'SlowQueriesRising',
  group: GROUPS.dependencies,
  rules: [
    {
      expr:
        `(sum by (operation) (${rate(`db_query_duration_seconds_count{${APP}}`, '10m')})` +
        ` - sum by (operation) (${rate(`db_query_duration_seconds_bucket{${APP},le="0.25"}`, '10m')}))` +
        ` / sum by (operation) (${rate(`db_query_duration_seconds_count{${APP}}`, '10m')}) > 0.05` +
        ` and sum by (operation) (${rate(`db_query_duration_seconds_count{${APP}}`, '10m')}) > ${MIN_QUERIES_PER_SECOND}`,
      for: '15m',
      severity: 'warning',
      summary: 'Database queries of erp-api are getting slow',
      description:
        '{{ $value | humanizePercentage }} of {{ $labels.operation }} queries took longer than 250 ms over the last 10 minutes (threshold 5%).',
    },
  ],
  tests: [
    {
      name: 'a fifth of the orders.list queries take over 250 ms',
      series: [
        dbDuration('0.25', '0+80x40'),
        dbDuration('+Inf', '0+100x40'),
        {
          series: appSeries('db_query_duration_seconds_count', { operation: 'orders.list' }),
          values: '0+100x40',
        },
      ],
      checks: [
        {
          at: '30m',
          alerts: [
            {
              labels: { operation: 'orders.list' },
              description:
                '20% of orders.list queries took longer than 250 ms over the last 10 minutes (threshold 5%).',
            },
          ],
        },
      ],
    },
    {
      name: 'a fifth of 5 queries a minute are slow: below the traffic floor',
      series: [
        dbDuration('0.25', '0+4x40'),
        dbDuration('+Inf', '0+5x40'),
        { series: appSeries('db_query_duration_seconds_count', { operation: 'orders.list' }), values: '0+5x40' },
      ],
      checks: [{ at: '30m', alerts: [] }],
    },
    {
      name: 'one query in a hundred is slow',
      series: [
        dbDuration('0.25', '0+99x40'),
        dbDuration('+Inf', '0+100x40'),
        {
          series: appSeries('db_query_duration_seconds_count', { operation: 'orders.list' }),
          values: '0+100x40',
        },
      ],
      checks: [{ at: '30m', alerts: [] }],
    },
  ],
};

// ---------------------------------------------------------------------------------------------------------------
// Security: sign-in

const logins = (result: string, values: string): TestSeries => ({
  series: appSeries('auth_login_attempts_total', { result }),
  values,
});

const highAuthFailureRate: AlertDefinition = {
  name: 'HighAuthFailureRate',
  group: GROUPS.security,
  rules: [
    {
      expr:
        `sum(${rate(`auth_login_attempts_total{${APP},result="failure"}`, '5m')})` +
        ` / sum(${rate(`auth_login_attempts_total{${APP}}`, '5m')}) > 0.3` +
        ` and sum(${rate(`auth_login_attempts_total{${APP},result="failure"}`, '5m')}) > 0.2`,
      for: '10m',
      severity: 'warning',
      summary: 'Many sign-in attempts fail',
      description:
        '{{ $value | humanizePercentage }} of sign-in attempts failed over the last 5 minutes (threshold 30%, at least 0.2 failures a second).',
    },
  ],
  tests: [
    {
      name: 'half the sign-ins fail, 30 a minute',
      series: [logins('failure', '0+30x30'), logins('success', '0+30x30'), logins('locked', '0x30')],
      checks: [
        {
          at: '20m',
          alerts: [
            {
              description:
                '50% of sign-in attempts failed over the last 5 minutes (threshold 30%, at least 0.2 failures a second).',
            },
          ],
        },
      ],
    },
    {
      name: 'a few mistyped passwords',
      series: [logins('failure', '0+3x30'), logins('success', '0+97x30')],
      checks: [{ at: '20m', alerts: [] }],
    },
    {
      name: 'half fail but there are only two attempts a minute',
      series: [logins('failure', '0+1x30'), logins('success', '0+1x30')],
      checks: [{ at: '20m', alerts: [] }],
    },
  ],
};

const accountLockoutSpike: AlertDefinition = {
  name: 'AccountLockoutSpike',
  group: GROUPS.security,
  rules: [
    {
      expr: `sum(increase(auth_lockouts_total{${APP}}[15m])) > 10`,
      for: '5m',
      severity: 'warning',
      summary: 'Many accounts are being locked',
      description:
        '{{ $value | humanize }} accounts were locked after failed sign-ins in the last 15 minutes (threshold 10).',
    },
  ],
  tests: [
    {
      name: 'one lockout a minute',
      series: [{ series: appSeries('auth_lockouts_total'), values: '0+1x30' }],
      checks: [
        {
          at: '25m',
          alerts: [
            { description: '15 accounts were locked after failed sign-ins in the last 15 minutes (threshold 10).' },
          ],
        },
      ],
    },
    {
      name: 'one lockout in half an hour',
      series: [{ series: appSeries('auth_lockouts_total'), values: '0x10 1x20' }],
      checks: [{ at: '25m', alerts: [] }],
    },
  ],
};

// ---------------------------------------------------------------------------------------------------------------
// Backups and the restore drill (kube-state-metrics on the CronJobs of infra/src/components/backups.ts)

export const BACKUP_CRONJOB = 'database-backup';
export const RESTORE_DRILL_CRONJOB = 'restore-drill';
export const AUDIT_VERIFY_CRONJOB = 'audit-verify';
/** How often audit-verify runs (infra's AUDIT_VERIFY_SCHEDULE; a test holds the two together). */
export const AUDIT_VERIFY_INTERVAL_HOURS = 1;
/** How long after a canary analysis failed its alert stays firing. */
const CANARY_FAILURE_NEWS = '15m';

/** Seconds since the CronJob last succeeded, or since it was created when it never has. */
function sinceLastSuccess(cronjob: string, seconds: number): string {
  const selector = `{cronjob="${cronjob}"}`;
  return (
    `time() - max by (namespace) (kube_cronjob_status_last_successful_time${selector}) > ${seconds}` +
    ` or (time() - max by (namespace) (kube_cronjob_created${selector}) > ${seconds}` +
    ` unless on (namespace) kube_cronjob_status_last_successful_time${selector})`
  );
}

const ksm = (metric: string, labels: string, values: string): TestSeries => ({
  series: `${metric}{job="kube-state-metrics",namespace="erp",${labels}}`,
  values,
});

const backupMissing: AlertDefinition = {
  name: 'BackupMissing',
  group: GROUPS.backups,
  rules: [
    {
      expr: sinceLastSuccess(BACKUP_CRONJOB, 7 * 3600),
      for: '10m',
      severity: 'warning',
      summary: 'No successful database backup in the last 7 hours',
      description:
        'The last successful database backup in namespace {{ $labels.namespace }} is {{ $value | humanizeDuration }} old; backups run every 6 hours.',
    },
  ],
  tests: [
    {
      name: 'the last backup succeeded at the start, 8 hours ago',
      interval: '10m',
      series: [
        ksm('kube_cronjob_status_last_successful_time', `cronjob="${BACKUP_CRONJOB}"`, '0x60'),
        ksm('kube_cronjob_created', `cronjob="${BACKUP_CRONJOB}"`, '0x60'),
      ],
      checks: [
        { at: '6h', alerts: [] },
        {
          at: '8h',
          alerts: [
            {
              labels: { namespace: 'erp' },
              description:
                'The last successful database backup in namespace erp is 8h 0m 0s old; backups run every 6 hours.',
            },
          ],
        },
      ],
    },
    {
      name: 'the CronJob was created 8 hours ago and never succeeded',
      interval: '10m',
      series: [ksm('kube_cronjob_created', `cronjob="${BACKUP_CRONJOB}"`, '0x60')],
      checks: [
        {
          at: '8h',
          alerts: [
            {
              labels: { namespace: 'erp' },
              description:
                'The last successful database backup in namespace erp is 8h 0m 0s old; backups run every 6 hours.',
            },
          ],
        },
      ],
    },
    {
      name: 'a backup succeeds every 6 hours',
      interval: '10m',
      series: [
        ksm('kube_cronjob_status_last_successful_time', `cronjob="${BACKUP_CRONJOB}"`, '0x36 21600x24'),
        ksm('kube_cronjob_created', `cronjob="${BACKUP_CRONJOB}"`, '0x60'),
      ],
      checks: [{ at: '9h', alerts: [] }],
    },
  ],
};

/**
 * The newest failed Job of a CronJob started after its last success. kube_job_failed stays 1 for as long as the
 * failed Job object is kept (the CronJob's history limit), so it alone would keep firing after a later success.
 */
function failedSinceLastSuccess(cronjob: string): string {
  const jobs = `job_name=~"${cronjob}-.*"`;
  return (
    `max by (namespace) (kube_job_created{${jobs}} * on (namespace, job_name) group_left () (kube_job_failed{${jobs},condition="true"} == 1))` +
    ` > on (namespace) max by (namespace) (kube_cronjob_status_last_successful_time{cronjob="${cronjob}"})`
  );
}

const backupFailed: AlertDefinition = {
  name: 'BackupFailed',
  group: GROUPS.backups,
  rules: [
    {
      expr: failedSinceLastSuccess(BACKUP_CRONJOB),
      for: '1m',
      severity: 'warning',
      summary: 'A database backup job failed',
      description:
        'The database backup job started at {{ $value | humanizeTimestamp }} in namespace {{ $labels.namespace }} failed after its retry, and no backup has succeeded since; the next one is at most 6 hours away.',
    },
  ],
  tests: [
    {
      name: 'a backup job fails after the last success',
      series: [
        ksm('kube_job_failed', `job_name="${BACKUP_CRONJOB}-29260335",condition="true"`, '0 0 1x10'),
        ksm('kube_job_created', `job_name="${BACKUP_CRONJOB}-29260335"`, '600x12'),
        ksm('kube_cronjob_status_last_successful_time', `cronjob="${BACKUP_CRONJOB}"`, '0x12'),
      ],
      checks: [
        {
          at: '8m',
          alerts: [
            {
              labels: { namespace: 'erp' },
              description:
                'The database backup job started at 1970-01-01 00:10:00 +0000 UTC in namespace erp failed after its retry, and no backup has succeeded since; the next one is at most 6 hours away.',
            },
          ],
        },
      ],
    },
    {
      name: 'the failed job is still kept, but the next backup succeeded: resolved',
      series: [
        ksm('kube_job_failed', `job_name="${BACKUP_CRONJOB}-29260335",condition="true"`, '1x20'),
        ksm('kube_job_created', `job_name="${BACKUP_CRONJOB}-29260335"`, '600x20'),
        ksm('kube_cronjob_status_last_successful_time', `cronjob="${BACKUP_CRONJOB}"`, '0x10 900x10'),
      ],
      checks: [
        {
          at: '8m',
          alerts: [
            {
              labels: { namespace: 'erp' },
              description:
                'The database backup job started at 1970-01-01 00:10:00 +0000 UTC in namespace erp failed after its retry, and no backup has succeeded since; the next one is at most 6 hours away.',
            },
          ],
        },
        { at: '15m', alerts: [] },
      ],
    },
    {
      name: 'a backup job succeeds, and another job fails',
      series: [
        ksm('kube_job_failed', `job_name="${BACKUP_CRONJOB}-29260335",condition="true"`, '0x10'),
        ksm('kube_job_created', `job_name="${BACKUP_CRONJOB}-29260335"`, '600x10'),
        ksm('kube_job_failed', 'job_name="orders-export-29260335",condition="true"', '1x10'),
        ksm('kube_job_created', 'job_name="orders-export-29260335"', '600x10'),
        ksm('kube_cronjob_status_last_successful_time', `cronjob="${BACKUP_CRONJOB}"`, '0x10'),
      ],
      checks: [{ at: '8m', alerts: [] }],
    },
  ],
};

const restoreDrillStale: AlertDefinition = {
  name: 'RestoreDrillStale',
  group: GROUPS.backups,
  // Nine days evaluated hourly take promtool 15 s; every 6 hours shows the same and takes 2 s.
  testEvaluationInterval: '6h',
  rules: [
    {
      expr: sinceLastSuccess(RESTORE_DRILL_CRONJOB, 8 * 86400),
      for: '1h',
      severity: 'warning',
      summary: 'The weekly restore drill has not succeeded for more than 8 days',
      description:
        'The last successful restore drill in namespace {{ $labels.namespace }} is {{ $value | humanizeDuration }} old; it runs every Sunday, so no backup has been proven restorable this week.',
    },
  ],
  tests: [
    {
      name: 'the last drill succeeded 9 days ago',
      interval: '1h',
      series: [
        ksm('kube_cronjob_status_last_successful_time', `cronjob="${RESTORE_DRILL_CRONJOB}"`, '0x240'),
        ksm('kube_cronjob_created', `cronjob="${RESTORE_DRILL_CRONJOB}"`, '0x240'),
      ],
      checks: [
        { at: '7d', alerts: [] },
        {
          at: '9d',
          alerts: [
            {
              labels: { namespace: 'erp' },
              description:
                'The last successful restore drill in namespace erp is 9d 0h 0m 0s old; it runs every Sunday, so no backup has been proven restorable this week.',
            },
          ],
        },
      ],
    },
    {
      name: 'the drill succeeds every week',
      interval: '1h',
      series: [
        ksm('kube_cronjob_status_last_successful_time', `cronjob="${RESTORE_DRILL_CRONJOB}"`, '0x168 604800x72'),
        ksm('kube_cronjob_created', `cronjob="${RESTORE_DRILL_CRONJOB}"`, '0x240'),
      ],
      checks: [{ at: '9d', alerts: [] }],
    },
  ],
};

const AUDIT_VERIFY_STALE_HOURS = 3 * AUDIT_VERIFY_INTERVAL_HOURS;

const auditVerifyStale: AlertDefinition = {
  name: 'AuditVerifyStale',
  group: GROUPS.backups,
  rules: [
    {
      expr: sinceLastSuccess(AUDIT_VERIFY_CRONJOB, AUDIT_VERIFY_STALE_HOURS * 3600),
      for: '10m',
      severity: 'warning',
      summary: `The audit log hash chain has not been verified for more than ${AUDIT_VERIFY_STALE_HOURS} hours`,
      description: `The last successful audit-verify run in namespace {{ $labels.namespace }} is {{ $value | humanizeDuration }} old; it runs every ${AUDIT_VERIFY_INTERVAL_HOURS} hour, so tampering would go unnoticed (AuditIntegrityFailure only fires when a run completes).`,
    },
  ],
  tests: [
    {
      name: 'the last verification succeeded 4 hours ago',
      interval: '10m',
      series: [
        ksm('kube_cronjob_status_last_successful_time', `cronjob="${AUDIT_VERIFY_CRONJOB}"`, '0x30'),
        ksm('kube_cronjob_created', `cronjob="${AUDIT_VERIFY_CRONJOB}"`, '0x30'),
      ],
      checks: [
        { at: '2h', alerts: [] },
        {
          at: '4h',
          alerts: [
            {
              labels: { namespace: 'erp' },
              description: `The last successful audit-verify run in namespace erp is 4h 0m 0s old; it runs every ${AUDIT_VERIFY_INTERVAL_HOURS} hour, so tampering would go unnoticed (AuditIntegrityFailure only fires when a run completes).`,
            },
          ],
        },
      ],
    },
    {
      name: 'it verifies every hour',
      interval: '10m',
      series: [
        ksm('kube_cronjob_status_last_successful_time', `cronjob="${AUDIT_VERIFY_CRONJOB}"`, '0+600x30'),
        ksm('kube_cronjob_created', `cronjob="${AUDIT_VERIFY_CRONJOB}"`, '0x30'),
      ],
      checks: [{ at: '4h', alerts: [] }],
    },
  ],
};

// ---------------------------------------------------------------------------------------------------------------
// Delivery: the canary analysis of Argo Rollouts

const analysisRun = (phase: string, values: string): TestSeries => ({
  series: `analysis_run_info{job="argo-rollouts-metrics",namespace="erp",name="erp-api-7f9c6d5b8-3",phase="${phase}"}`,
  values,
});

const canaryAnalysisFailed: AlertDefinition = {
  name: 'CanaryAnalysisFailed',
  group: GROUPS.delivery,
  rules: [
    {
      // The AnalysisRun object and its series outlive the failure; only the first 15 minutes are news.
      expr:
        `max by (namespace, name, phase) (analysis_run_info{name=~"${SERVICE}-.*",phase=~"Failed|Error"}) > 0` +
        ` unless max by (namespace, name, phase) (analysis_run_info{name=~"${SERVICE}-.*",phase=~"Failed|Error"} offset ${CANARY_FAILURE_NEWS}) > 0`,
      severity: 'warning',
      summary: 'A canary analysis failed and the release was rolled back',
      description:
        'AnalysisRun {{ $labels.name }} in namespace {{ $labels.namespace }} ended {{ $labels.phase }}: Argo Rollouts aborted the canary and sent all traffic back to the stable version.',
    },
  ],
  tests: [
    {
      name: 'an analysis run fails',
      series: [analysisRun('Running', '1 1 0x5'), analysisRun('Failed', '0 0 1x5')],
      checks: [
        {
          at: '3m',
          alerts: [
            {
              labels: { namespace: 'erp', name: 'erp-api-7f9c6d5b8-3', phase: 'Failed' },
              description:
                'AnalysisRun erp-api-7f9c6d5b8-3 in namespace erp ended Failed: Argo Rollouts aborted the canary and sent all traffic back to the stable version.',
            },
          ],
        },
      ],
    },
    {
      name: 'the failed run is kept for history: the alert resolves after 15 minutes',
      series: [analysisRun('Running', '1 1 0x40'), analysisRun('Failed', '0 0 1x40')],
      checks: [
        {
          at: '10m',
          alerts: [
            {
              labels: { namespace: 'erp', name: 'erp-api-7f9c6d5b8-3', phase: 'Failed' },
              description:
                'AnalysisRun erp-api-7f9c6d5b8-3 in namespace erp ended Failed: Argo Rollouts aborted the canary and sent all traffic back to the stable version.',
            },
          ],
        },
        { at: '20m', alerts: [] },
        { at: '40m', alerts: [] },
      ],
    },
    {
      name: 'an analysis run succeeds',
      series: [analysisRun('Running', '1 1 0x5'), analysisRun('Successful', '0 0 1x5')],
      checks: [{ at: '3m', alerts: [] }],
    },
  ],
};

// ---------------------------------------------------------------------------------------------------------------
// Meta

const watchdog: AlertDefinition = {
  name: 'Watchdog',
  group: GROUPS.meta,
  rules: [
    {
      expr: 'vector(1)',
      severity: 'none',
      summary: 'Always firing: proves the alerting pipeline works',
      description:
        'This alert always fires (value {{ $value }}). If the receiver stops getting it, Prometheus, Alertmanager or the path between them is broken.',
    },
  ],
  tests: [
    {
      name: 'fires with no input at all',
      series: [],
      checks: [
        {
          at: '1m',
          alerts: [
            {
              description:
                'This alert always fires (value 1). If the receiver stops getting it, Prometheus, Alertmanager or the path between them is broken.',
            },
          ],
        },
      ],
    },
  ],
};

/** Every Prometheus alert, in the order of the rules file. */
export const ALERTS: readonly AlertDefinition[] = [
  errorBudgetBurn,
  highErrorRate,
  highLatencyP99,
  instanceDown,
  serviceDown,
  databaseDown,
  redisDown,
  connectionPoolNearExhaustion,
  lowCacheHitRate,
  slowQueriesRising,
  highAuthFailureRate,
  accountLockoutSpike,
  backupMissing,
  backupFailed,
  restoreDrillStale,
  auditVerifyStale,
  canaryAnalysisFailed,
  watchdog,
];

// ---------------------------------------------------------------------------------------------------------------
// Rendering

/** The labels Prometheus puts on an alert of `rule` besides its expression's own. */
export function staticLabels(rule: AlertRuleDefinition): Record<string, string> {
  return { severity: rule.severity, service: SERVICE, ...rule.labels };
}

export function renderAlertingRule(
  alert: AlertDefinition,
  rule: AlertRuleDefinition,
  runbookBaseUrl: string,
): PrometheusAlertingRule {
  return {
    alert: alert.name,
    expr: rule.expr,
    ...(rule.for === undefined ? {} : { for: rule.for }),
    labels: staticLabels(rule),
    annotations: {
      summary: rule.summary,
      description: rule.description,
      runbook_url: runbookUrl(alert.name, runbookBaseUrl),
    },
  };
}

/** The rule groups of the rules file and the PrometheusRule: SLO recordings first, then alerts by area. */
export function ruleGroups(runbookBaseUrl: string): PrometheusRuleGroup[] {
  // One group per SLO, as Sloth does: its records evaluate in order (5m before the windows derived from it).
  const groups: PrometheusRuleGroup[] = SLOS.map((slo) => ({
    name: `${GROUPS.slo}-${slo.name}`,
    rules: sloRecordingRules(slo),
  }));
  for (const name of Object.values(GROUPS)) {
    if (name === GROUPS.slo) continue;
    const rules = ALERTS.filter((alert) => alert.group === name).flatMap((alert) =>
      alert.rules.map((rule) => renderAlertingRule(alert, rule, runbookBaseUrl)),
    );
    if (rules.length > 0) groups.push({ name, rules });
  }
  return groups;
}
