import { DB_POOL_MAX_CONNECTIONS } from '../config.js';
import { DASHBOARD_SELECTOR as APP, RATE_WINDOW as W } from './common.js';
import type { DashboardSpec } from './common.js';

export const database: DashboardSpec = {
  uid: 'erp-api-database',
  title: 'erp-api / Database',
  description:
    'PostgreSQL as erp-api sees it: query latency and errors by operation, the pool, slow queries, transactions.',
  rows: [
    {
      title: 'Queries',
      panels: [
        {
          title: 'p99 query latency by operation',
          description:
            'Time a query held its connection, 99th percentile, by operation label (such as users.findByEmail).',
          unit: 's',
          queries: [
            {
              expr: `histogram_quantile(0.99, sum by (le, operation) (rate(db_query_duration_seconds_bucket{${APP}}[${W}])))`,
              legend: '{{operation}}',
            },
          ],
        },
        {
          title: 'Queries per second by operation and result',
          description: 'Queries run per second, by operation and result (success or error).',
          unit: 'ops',
          queries: [
            {
              expr: `sum by (operation, result) (rate(db_queries_total{${APP}}[${W}]))`,
              legend: '{{operation}} {{result}}',
            },
          ],
        },
        {
          title: 'Slow queries (over 250 ms) by operation',
          description: 'Share of queries that took longer than 250 ms, by operation. SlowQueriesRising warns above 5%.',
          unit: 'percentunit',
          min: 0,
          queries: [
            {
              expr: `(sum by (operation) (rate(db_query_duration_seconds_count{${APP}}[${W}])) - sum by (operation) (rate(db_query_duration_seconds_bucket{${APP},le="0.25"}[${W}]))) / sum by (operation) (rate(db_query_duration_seconds_count{${APP}}[${W}]))`,
              legend: '{{operation}}',
            },
          ],
        },
        {
          title: 'PostgreSQL reachable',
          description:
            "Each instance's readiness check of PostgreSQL (health_check_up): 1 when it answered. DatabaseDown pages when every instance reads 0.",
          unit: 'short',
          kind: 'stat',
          queries: [{ expr: `min by (instance) (health_check_up{${APP},check="postgres"})`, legend: '{{instance}}' }],
        },
      ],
    },
    {
      title: 'Connection pool',
      panels: [
        {
          title: 'Pool connections by state',
          description: 'Open connections (total), the idle ones, and callers waiting for one, per instance.',
          unit: 'short',
          queries: [
            { expr: `sum by (instance, state) (db_pool_connections{${APP}})`, legend: '{{instance}} {{state}}' },
          ],
        },
        {
          title: 'Pool use',
          description: `Busy connections as a share of the pool's maximum of ${DB_POOL_MAX_CONNECTIONS}, per instance. ConnectionPoolNearExhaustion warns above 80%.`,
          unit: 'percentunit',
          max: 1,
          queries: [
            {
              expr: `(sum by (instance) (db_pool_connections{${APP},state="total"}) - sum by (instance) (db_pool_connections{${APP},state="idle"})) / ${DB_POOL_MAX_CONNECTIONS}`,
              legend: '{{instance}}',
            },
          ],
        },
      ],
    },
    {
      title: 'Transactions',
      panels: [
        {
          title: 'Transaction retries per second',
          description: 'Transactions run again after a deadlock or serialization failure; a rise means contention.',
          unit: 'ops',
          queries: [{ expr: `sum(rate(db_transaction_retries_total{${APP}}[${W}]))`, legend: 'retries' }],
        },
        {
          title: 'Transaction rollbacks per second',
          description: 'Transactions rolled back, for any reason (errors, retries, validation).',
          unit: 'ops',
          queries: [{ expr: `sum(rate(db_transaction_rollbacks_total{${APP}}[${W}]))`, legend: 'rollbacks' }],
        },
      ],
    },
  ],
};
