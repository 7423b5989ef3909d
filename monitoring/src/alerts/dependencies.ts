import { DB_POOL_MAX_CONNECTIONS } from '../config.js';
import { appSeries, FIXTURE_NAMESPACE } from '../fixtures.js';
import { APP, GROUPS, rate } from './common.js';
import type { AlertDefinition, TestSeries } from '../rules.js';

/** Below this many queries a second of one operation, a slow share is a handful of queries. */
export const MIN_QUERIES_PER_SECOND = 0.1;

/** Alerts of the group: Dependencies: PostgreSQL, Redis, the connection pool, the cache. */

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

export const databaseDown: AlertDefinition = {
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

export const redisDown: AlertDefinition = {
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

export const connectionPoolNearExhaustion: AlertDefinition = {
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

export const lowCacheHitRate: AlertDefinition = {
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

export const slowQueriesRising: AlertDefinition = {
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
