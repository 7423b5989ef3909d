import { APP_SELECTOR as APP } from '../config.js';
import { RATE_WINDOW as W } from './common.js';
import type { DashboardSpec } from './common.js';

const lookups = `cache_operations_total{${APP},result=~"hit|miss"}`;

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
              expr: `(sum by (cache) (rate(cache_operations_total{${APP},result="hit"}[${W}])) or 0 * sum by (cache) (rate(${lookups}[${W}]))) / sum by (cache) (rate(${lookups}[${W}]))`,
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
      title: 'Redis (exporter)',
      panels: [
        {
          title: 'Redis memory used',
          description: 'Memory Redis holds, from redis_exporter; empty when no exporter runs.',
          unit: 'bytes',
          queries: [
            { expr: 'max by (instance) (redis_memory_used_bytes)', legend: 'used {{instance}}' },
            { expr: 'max by (instance) (redis_memory_max_bytes)', legend: 'maxmemory {{instance}}' },
          ],
        },
        {
          title: 'Redis up (exporter)',
          description: 'redis_up from redis_exporter: 1 when it can reach Redis.',
          unit: 'short',
          kind: 'stat',
          queries: [{ expr: 'min(redis_up)', legend: 'redis_up' }],
        },
      ],
    },
  ],
};
