import { NOT_A_CACHE } from '../rules.js';
import { DASHBOARD_SELECTOR as APP, RATE_WINDOW as W } from './common.js';
import type { DashboardSpec } from './common.js';

// The revocation list misses on every live token by design: its "hit ratio" says nothing about a cache.
const caches = `cache!~"${NOT_A_CACHE.join('|')}"`;
const lookups = `cache_operations_total{${APP},${caches},result=~"hit|miss"}`;

export const cache: DashboardSpec = {
  uid: 'erp-api-cache',
  title: 'erp-api / Cache',
  description: 'The Redis-backed caches of erp-api: hit ratio, lookups, latency, and Redis memory.',
  rows: [
    {
      title: 'Caches',
      panels: [
        {
          title: 'Hit ratio by cache',
          description: 'Share of lookups answered from the cache, by cache. LowCacheHitRate reports below 70%.',
          unit: 'percentunit',
          max: 1,
          queries: [
            {
              expr: `(sum by (cache) (rate(cache_operations_total{${APP},${caches},result="hit"}[${W}])) or 0 * sum by (cache) (rate(${lookups}[${W}]))) / sum by (cache) (rate(${lookups}[${W}]))`,
              legend: '{{cache}}',
            },
          ],
        },
        {
          title: 'Operations by cache and result',
          description:
            'Cache lookups per second: hit, miss, and error (Redis failed; the app fell back to the database).',
          unit: 'ops',
          queries: [
            {
              expr: `sum by (cache, result) (rate(cache_operations_total{${APP}}[${W}]))`,
              legend: '{{cache}} {{result}}',
            },
          ],
        },
        {
          title: 'p99 lookup latency by cache',
          description: 'Time a cache lookup took, 99th percentile, by cache.',
          unit: 's',
          queries: [
            {
              expr: `histogram_quantile(0.99, sum by (le, cache) (rate(cache_operation_duration_seconds_bucket{${APP}}[${W}])))`,
              legend: '{{cache}}',
            },
          ],
        },
      ],
    },
    {
      title: 'Redis',
      panels: [
        {
          title: 'Redis reachable',
          description:
            "Each instance's readiness check of Redis (health_check_up): 1 when it answered. At 0 readiness reports degraded and the caches fall back to PostgreSQL.",
          unit: 'short',
          kind: 'stat',
          queries: [{ expr: `min by (instance) (health_check_up{${APP},check="redis"})`, legend: '{{instance}}' }],
        },
      ],
    },
  ],
};
