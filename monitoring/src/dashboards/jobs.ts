import { BACKLOG_FLOOR, OLDEST_WAITING_LIMIT_SECONDS } from '../alerts/jobs.js';
import { WORKER_SELECTOR } from '../config.js';
import { RATE_WINDOW as W } from './common.js';
import type { DashboardSpec } from './common.js';

/**
 * The worker's series carry the namespace but not the API's instances, so only the namespace variable narrows them.
 */
const WORKER = `${WORKER_SELECTOR},namespace=~"$namespace"`;

export const jobs: DashboardSpec = {
  uid: 'erp-api-jobs',
  title: 'erp-api / Jobs',
  description:
    'The queues of erp-api worker (invoice PDFs, outgoing email): depth, waiting age, attempt duration, failures, retries and the dead-letter set.',
  rows: [
    {
      title: 'Queues',
      panels: [
        {
          title: 'Depth by queue and state',
          description: `Jobs waiting, delayed (backoff before a retry), active and dead-lettered, read from Redis by the workers. JobBacklogGrowing reports a waiting count above ${BACKLOG_FLOOR} that keeps growing.`,
          unit: 'short',
          min: 0,
          queries: [{ expr: `max by (queue, state) (jobs_queue_depth{${WORKER}})`, legend: '{{queue}} {{state}}' }],
        },
        {
          title: 'Oldest waiting job',
          description:
            'How long the oldest waiting job of each queue has waited. JobOldestWaitingTooOld reports above 5 minutes.',
          unit: 's',
          min: 0,
          thresholds: [
            { value: null, color: 'green' },
            { value: OLDEST_WAITING_LIMIT_SECONDS, color: 'red' },
          ],
          queries: [{ expr: `max by (queue) (jobs_oldest_waiting_age_seconds{${WORKER}})`, legend: '{{queue}}' }],
        },
        {
          title: 'Workers up',
          description: 'Worker processes Prometheus scrapes successfully. JobQueueNotConsumed pages at 0.',
          unit: 'short',
          kind: 'stat',
          width: 6,
          thresholds: [
            { value: null, color: 'red' },
            { value: 1, color: 'green' },
          ],
          queries: [{ expr: `sum(up{${WORKER}})`, legend: 'workers' }],
        },
      ],
    },
    {
      title: 'Attempts',
      panels: [
        {
          title: 'p99 attempt duration by queue',
          description:
            'Time one attempt ran, 99th percentile, by queue. JOB_TIMEOUT_MS (30 s by default) cuts an attempt.',
          unit: 's',
          queries: [
            {
              expr: `histogram_quantile(0.99, sum by (le, queue) (rate(job_duration_seconds_bucket{${WORKER}}[${W}])))`,
              legend: '{{queue}}',
            },
          ],
        },
        {
          title: 'Attempts by queue and result',
          description: 'Attempts finished per second: completed, or failed (retried or dead-lettered).',
          unit: 'ops',
          queries: [
            {
              expr: `sum by (queue, result) (rate(job_duration_seconds_count{${WORKER}}[${W}]))`,
              legend: '{{queue}} {{result}}',
            },
          ],
        },
        {
          title: 'Failures by queue and reason',
          description:
            'Failed attempts per second: timeout (ran past JOB_TIMEOUT_MS), error (threw), stalled (its worker died and another took it back).',
          unit: 'ops',
          queries: [
            {
              expr: `sum by (queue, reason) (rate(job_failures_total{${WORKER}}[${W}]))`,
              legend: '{{queue}} {{reason}}',
            },
          ],
        },
        {
          title: 'Retries by queue',
          description: 'Failed attempts that left the job another attempt after its exponential backoff, per second.',
          unit: 'ops',
          queries: [{ expr: `sum by (queue) (rate(job_retries_total{${WORKER}}[${W}]))`, legend: '{{queue}}' }],
        },
        {
          title: 'Dead-lettered by queue',
          description:
            'Jobs that used all their attempts, per second, and the dead-letter set they wait in for an admin. JobDeadLetterGrowth reports any.',
          unit: 'short',
          queries: [
            {
              expr: `sum by (queue) (rate(jobs_dead_lettered_total{${WORKER}}[${W}]))`,
              legend: '{{queue}} per second',
            },
            {
              expr: `max by (queue) (jobs_queue_depth{${WORKER},state="dead_lettered"})`,
              legend: '{{queue}} in the set',
            },
          ],
        },
      ],
    },
  ],
};
