import { WORKER_SELECTOR } from '../config.js';
import { FIXTURE_NAMESPACE, workerSeries } from '../fixtures.js';
import { GROUPS } from './common.js';
import type { AlertDefinition, TestSeries } from '../rules.js';

/** Alerts of the group: Jobs: the worker's queues (`erp-api worker`), read from the worker's own /metrics. */

const W = WORKER_SELECTOR;

/** Below this many waiting jobs a growing backlog drains within seconds once the workers catch up. */
export const BACKLOG_FLOOR = 50;

/** How long the oldest waiting job may wait before someone looks: the 5 minutes. */
export const OLDEST_WAITING_LIMIT_SECONDS = 300;

const depth = (state: string, values: string, queue = 'invoices', pod = 1): TestSeries => ({
  series: workerSeries('jobs_queue_depth', { queue, state }, pod),
  values,
});

/** Every worker reads the same depth from Redis, so queries take the max across pods rather than the sum. */
const waiting = `max by (namespace, queue) (jobs_queue_depth{${W},state="waiting"})`;

export const jobBacklogGrowing: AlertDefinition = {
  name: 'JobBacklogGrowing',
  group: GROUPS.jobs,
  rules: [
    {
      expr:
        `${waiting} > ${BACKLOG_FLOOR}` +
        ` and max by (namespace, queue) (delta(jobs_queue_depth{${W},state="waiting"}[10m])) > 0`,
      for: '10m',
      severity: 'warning',
      summary: 'A job queue of erp-api grows faster than the workers drain it',
      description: `Queue {{ $labels.queue }} in namespace {{ $labels.namespace }} has {{ $value }} jobs waiting and grew over each of the last 10 minutes (floor ${BACKLOG_FLOOR}): jobs arrive faster than the workers finish them.`,
    },
  ],
  tests: [
    {
      name: 'ten more invoices wait every minute',
      series: [depth('waiting', '0+10x40'), depth('waiting', '0+10x40', 'invoices', 2)],
      checks: [
        { at: '10m', alerts: [] },
        {
          at: '30m',
          alerts: [
            {
              labels: { namespace: FIXTURE_NAMESPACE, queue: 'invoices' },
              description: `Queue invoices in namespace ${FIXTURE_NAMESPACE} has 300 jobs waiting and grew over each of the last 10 minutes (floor ${BACKLOG_FLOOR}): jobs arrive faster than the workers finish them.`,
            },
          ],
        },
      ],
    },
    {
      name: 'a large backlog that holds steady or drains',
      series: [depth('waiting', '400x40'), depth('waiting', '400-10x40', 'email')],
      checks: [{ at: '30m', alerts: [] }],
    },
    {
      name: 'a growing backlog still below the floor',
      series: [depth('waiting', '0+1x40')],
      checks: [{ at: '30m', alerts: [] }],
    },
  ],
};

export const jobOldestWaitingTooOld: AlertDefinition = {
  name: 'JobOldestWaitingTooOld',
  group: GROUPS.jobs,
  rules: [
    {
      expr: `max by (namespace, queue) (jobs_oldest_waiting_age_seconds{${W}}) > ${OLDEST_WAITING_LIMIT_SECONDS}`,
      for: '1m',
      severity: 'warning',
      summary: 'A job of erp-api has waited more than 5 minutes',
      description:
        'The oldest waiting job of queue {{ $labels.queue }} in namespace {{ $labels.namespace }} has waited {{ $value | humanizeDuration }} (threshold 5m).',
    },
  ],
  tests: [
    {
      name: 'the oldest email ages a minute every minute',
      series: [{ series: workerSeries('jobs_oldest_waiting_age_seconds', { queue: 'email' }), values: '0+60x20' }],
      checks: [
        { at: '5m', alerts: [] },
        {
          at: '10m',
          alerts: [
            {
              labels: { namespace: FIXTURE_NAMESPACE, queue: 'email' },
              description: `The oldest waiting job of queue email in namespace ${FIXTURE_NAMESPACE} has waited 10m 0s (threshold 5m).`,
            },
          ],
        },
      ],
    },
    {
      name: 'jobs wait half a minute',
      series: [{ series: workerSeries('jobs_oldest_waiting_age_seconds', { queue: 'email' }), values: '30x20' }],
      checks: [{ at: '10m', alerts: [] }],
    },
  ],
};

export const jobDeadLetterGrowth: AlertDefinition = {
  name: 'JobDeadLetterGrowth',
  group: GROUPS.jobs,
  rules: [
    {
      expr: `sum by (namespace, queue) (increase(jobs_dead_lettered_total{${W}}[30m])) >= 1`,
      severity: 'warning',
      summary: 'Jobs of erp-api ran out of attempts and wait in the dead-letter set',
      description:
        'Queue {{ $labels.queue }} in namespace {{ $labels.namespace }} dead-lettered about {{ $value | printf "%.0f" }} jobs in the last 30 minutes: each used all its attempts and waits for an admin to retry or discard it.',
    },
  ],
  tests: [
    {
      name: 'two workers dead-letter invoices',
      series: [
        { series: workerSeries('jobs_dead_lettered_total', { queue: 'invoices' }), values: '0x10 0+1x10 10x20' },
        { series: workerSeries('jobs_dead_lettered_total', { queue: 'invoices' }, 2), values: '0x40' },
      ],
      checks: [
        { at: '5m', alerts: [] },
        {
          at: '40m',
          alerts: [
            {
              labels: { namespace: FIXTURE_NAMESPACE, queue: 'invoices' },
              description: `Queue invoices in namespace ${FIXTURE_NAMESPACE} dead-lettered about 10 jobs in the last 30 minutes: each used all its attempts and waits for an admin to retry or discard it.`,
            },
          ],
        },
      ],
    },
    {
      name: 'no job ran out of attempts',
      series: [{ series: workerSeries('jobs_dead_lettered_total', { queue: 'invoices' }), values: '0x40' }],
      checks: [{ at: '40m', alerts: [] }],
    },
  ],
};

const attempts = (result: string, values: string, queue = 'invoices'): TestSeries => ({
  series: workerSeries('job_duration_seconds_count', { queue, result }),
  values,
});

export const jobQueueNotConsumed: AlertDefinition = {
  name: 'JobQueueNotConsumed',
  group: GROUPS.jobs,
  rules: [
    {
      expr: `(sum(up{${W}}) or vector(0)) == 0`,
      for: '5m',
      severity: 'critical',
      labels: { cause: 'no_worker_up' },
      summary: 'No erp-api worker is up: no job is taken',
      description:
        'Prometheus has scraped no erp-api worker successfully for 5 minutes ({{ $value }} up): invoices and emails are accepted but nothing takes them.',
    },
    {
      expr:
        `${waiting} > 0` +
        ` and on (namespace, queue) sum by (namespace, queue) (increase(job_duration_seconds_count{${W}}[10m])) == 0`,
      for: '5m',
      severity: 'critical',
      labels: { cause: 'no_attempts' },
      summary: 'Jobs wait and no erp-api worker takes them',
      description:
        'Queue {{ $labels.queue }} in namespace {{ $labels.namespace }} has {{ $value }} jobs waiting and no worker ran an attempt of it in 10 minutes.',
    },
  ],
  tests: [
    {
      name: 'no worker target is up',
      series: [{ series: workerSeries('up'), values: '0x15' }],
      checks: [
        { at: '3m', alerts: [] },
        {
          at: '10m',
          alerts: [
            {
              labels: { cause: 'no_worker_up' },
              description:
                'Prometheus has scraped no erp-api worker successfully for 5 minutes (0 up): invoices and emails are accepted but nothing takes them.',
            },
          ],
        },
      ],
    },
    {
      name: 'workers are up, jobs wait, no attempt finishes',
      series: [
        { series: workerSeries('up'), values: '1x30' },
        depth('waiting', '20x30'),
        attempts('completed', '100x30'),
        attempts('failed', '3x30'),
        depth('waiting', '0x30', 'email'),
        attempts('completed', '40x30', 'email'),
      ],
      checks: [
        {
          at: '25m',
          alerts: [
            {
              labels: { cause: 'no_attempts', namespace: FIXTURE_NAMESPACE, queue: 'invoices' },
              description: `Queue invoices in namespace ${FIXTURE_NAMESPACE} has 20 jobs waiting and no worker ran an attempt of it in 10 minutes.`,
            },
          ],
        },
      ],
    },
    {
      name: 'jobs wait and the workers take them',
      series: [
        { series: workerSeries('up'), values: '1x30' },
        depth('waiting', '20x30'),
        attempts('completed', '0+30x30'),
        attempts('failed', '0x30'),
      ],
      checks: [{ at: '25m', alerts: [] }],
    },
  ],
};
