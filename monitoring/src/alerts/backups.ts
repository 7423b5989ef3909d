import { APP_METRICS, PUSHED_METRICS, PUSH_JOBS } from '@slipway/app/observability/metric-catalogue';
import { GROUPS } from './common.js';
import type { AlertDefinition, TestSeries } from '../rules.js';

/** Alerts of the group: Backups and the restore drill (kube-state-metrics on the CronJobs of infra/src/components/backups.ts). */

export const BACKUP_CRONJOB = 'database-backup';
export const RESTORE_DRILL_CRONJOB = 'restore-drill';
export const AUDIT_VERIFY_CRONJOB = 'audit-verify';
/** How often audit-verify runs (infra's AUDIT_VERIFY_SCHEDULE; a test holds the two together). */
export const AUDIT_VERIFY_INTERVAL_HOURS = 1;

/** Seconds since the CronJob last succeeded, or since it was created when it never has. */
function sinceLastSuccess(cronjob: string, seconds: number): string {
  const selector = `{cronjob="${cronjob}"}`;
  return (
    `time() - max by (namespace) (kube_cronjob_status_last_successful_time${selector}) > ${seconds}` +
    ` or (time() - max by (namespace) (kube_cronjob_created${selector}) > ${seconds}` +
    ` unless on (namespace) kube_cronjob_status_last_successful_time${selector})`
  );
}

/**
 * Seconds since the success a job pushed to the Pushgateway (scraped with honor_labels, so the series keep the
 * pushed `job` and `namespace`).
 */
function sincePushedSuccess(metric: string, job: string, seconds: number): string {
  return `time() - max by (namespace) (${metric}{job="${job}"}) > ${seconds}`;
}

const BACKUP_PUSHED = APP_METRICS.backupLastSuccessTimestampSeconds.name;
const DRILL_PUSHED = PUSHED_METRICS.restoreDrillLastSuccessTimestampSeconds.name;

/** A series as the Pushgateway exposes a pushed group: its job and namespace, the gateway's empty instance. */
const pushed = (metric: string, job: string, values: string): TestSeries => ({
  series: `${metric}{job="${job}",namespace="erp",instance=""}`,
  values,
});

const ksm = (metric: string, labels: string, values: string): TestSeries => ({
  series: `${metric}{job="kube-state-metrics",namespace="erp",${labels}}`,
  values,
});

/**
 * A CronJob that must succeed once a period, watched on two signals: kube-state-metrics on the CronJob, and the
 * success its command pushed to the Pushgateway.
 */
interface PeriodicJobAlert {
  readonly name: string;
  readonly cronjob: string;
  readonly pushed: { readonly metric: string; readonly job: string };
  readonly staleSeconds: number;
  readonly for: string;
  readonly summary: string;
  /** The last success as each signal knows it, as the description names it. */
  readonly lastSuccess: { readonly cronjob: string; readonly pushed: string };
  /** The end of the description, after the age: the schedule and what a stale job means. */
  readonly consequence: string;
  readonly testEvaluationInterval?: string;
  readonly tests: {
    readonly interval: string;
    /** Samples of a success that never moves, and of one that moves on once a period, over the whole test. */
    readonly flat: string;
    readonly periodic: string;
    /** Still quiet, then firing with the age promtool renders, then (periodic) quiet. */
    readonly quietAt: string;
    readonly firingAt: string;
    readonly firingAge: string;
    readonly periodicAt: string;
    readonly names: {
      readonly stale: string;
      readonly neverSucceeded?: string;
      readonly pushedStale: string;
      readonly pushesEveryPeriod: string;
      readonly succeedsEveryPeriod: string;
    };
  };
}

function periodicJobAlert(job: PeriodicJobAlert): AlertDefinition {
  const { cronjob, tests } = job;
  const description = (what: string, namespace: string, age: string): string =>
    `The last ${what} in namespace ${namespace} is ${age} old; ${job.consequence}`;
  const firing = (what: string, labels: Readonly<Record<string, string>>) => ({
    at: tests.firingAt,
    alerts: [{ labels: { namespace: 'erp', ...labels }, description: description(what, 'erp', tests.firingAge) }],
  });
  const pushedSignal = { signal: 'pushed' };
  return {
    name: job.name,
    group: GROUPS.backups,
    ...(job.testEvaluationInterval === undefined ? {} : { testEvaluationInterval: job.testEvaluationInterval }),
    rules: [
      {
        expr: sinceLastSuccess(cronjob, job.staleSeconds),
        for: job.for,
        severity: 'warning',
        summary: job.summary,
        description: description(job.lastSuccess.cronjob, '{{ $labels.namespace }}', '{{ $value | humanizeDuration }}'),
      },
      {
        // The command's own word: a Job can succeed without a verified result if the command were ever bypassed.
        expr: sincePushedSuccess(job.pushed.metric, job.pushed.job, job.staleSeconds),
        for: job.for,
        severity: 'warning',
        labels: pushedSignal,
        summary: job.summary,
        description: description(job.lastSuccess.pushed, '{{ $labels.namespace }}', '{{ $value | humanizeDuration }}'),
      },
    ],
    tests: [
      {
        name: tests.names.stale,
        interval: tests.interval,
        series: [
          ksm('kube_cronjob_status_last_successful_time', `cronjob="${cronjob}"`, tests.flat),
          ksm('kube_cronjob_created', `cronjob="${cronjob}"`, tests.flat),
        ],
        checks: [{ at: tests.quietAt, alerts: [] }, firing(job.lastSuccess.cronjob, {})],
      },
      ...(tests.names.neverSucceeded === undefined
        ? []
        : [
            {
              name: tests.names.neverSucceeded,
              interval: tests.interval,
              series: [ksm('kube_cronjob_created', `cronjob="${cronjob}"`, tests.flat)],
              checks: [firing(job.lastSuccess.cronjob, {})],
            },
          ]),
      {
        name: tests.names.pushedStale,
        interval: tests.interval,
        series: [pushed(job.pushed.metric, job.pushed.job, tests.flat)],
        checks: [{ at: tests.quietAt, alerts: [] }, firing(job.lastSuccess.pushed, pushedSignal)],
      },
      {
        name: tests.names.pushesEveryPeriod,
        interval: tests.interval,
        series: [pushed(job.pushed.metric, job.pushed.job, tests.periodic)],
        checks: [{ at: tests.periodicAt, alerts: [] }],
      },
      {
        name: tests.names.succeedsEveryPeriod,
        interval: tests.interval,
        series: [
          ksm('kube_cronjob_status_last_successful_time', `cronjob="${cronjob}"`, tests.periodic),
          ksm('kube_cronjob_created', `cronjob="${cronjob}"`, tests.flat),
        ],
        checks: [{ at: tests.periodicAt, alerts: [] }],
      },
    ],
  };
}

export const backupMissing: AlertDefinition = periodicJobAlert({
  name: 'BackupMissing',
  cronjob: BACKUP_CRONJOB,
  pushed: { metric: BACKUP_PUSHED, job: PUSH_JOBS.backup },
  staleSeconds: 7 * 3600,
  for: '10m',
  summary: 'No successful database backup in the last 7 hours',
  lastSuccess: {
    cronjob: 'successful database backup',
    pushed: 'backup `erp-api backup` reported as complete',
  },
  consequence: 'backups run every 6 hours.',
  tests: {
    interval: '10m',
    flat: '0x60',
    periodic: '0x36 21600x24',
    quietAt: '6h',
    firingAt: '8h',
    firingAge: '8h 0m 0s',
    periodicAt: '9h',
    names: {
      stale: 'the last backup succeeded at the start, 8 hours ago',
      neverSucceeded: 'the CronJob was created 8 hours ago and never succeeded',
      pushedStale: 'the backup command pushed its last success 8 hours ago',
      pushesEveryPeriod: 'the backup command pushes a success every 6 hours',
      succeedsEveryPeriod: 'a backup succeeds every 6 hours',
    },
  },
});

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

const failedJobDescription = (startedAt: string, namespace: string): string =>
  `The database backup job started at ${startedAt} in namespace ${namespace} failed after its retry, and no backup has succeeded since; the next one is at most 6 hours away.`;

/** The alert the tests expect of the backup Job created at 10 minutes that failed. */
const failedJobFiring = {
  at: '8m',
  alerts: [{ labels: { namespace: 'erp' }, description: failedJobDescription('1970-01-01 00:10:00 +0000 UTC', 'erp') }],
};

export const backupFailed: AlertDefinition = {
  name: 'BackupFailed',
  group: GROUPS.backups,
  rules: [
    {
      expr: failedSinceLastSuccess(BACKUP_CRONJOB),
      for: '1m',
      severity: 'warning',
      summary: 'A database backup job failed',
      description: failedJobDescription('{{ $value | humanizeTimestamp }}', '{{ $labels.namespace }}'),
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
      checks: [failedJobFiring],
    },
    {
      name: 'the failed job is still kept, but the next backup succeeded: resolved',
      series: [
        ksm('kube_job_failed', `job_name="${BACKUP_CRONJOB}-29260335",condition="true"`, '1x20'),
        ksm('kube_job_created', `job_name="${BACKUP_CRONJOB}-29260335"`, '600x20'),
        ksm('kube_cronjob_status_last_successful_time', `cronjob="${BACKUP_CRONJOB}"`, '0x10 900x10'),
      ],
      checks: [failedJobFiring, { at: '15m', alerts: [] }],
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

export const restoreDrillStale: AlertDefinition = periodicJobAlert({
  name: 'RestoreDrillStale',
  cronjob: RESTORE_DRILL_CRONJOB,
  pushed: { metric: DRILL_PUSHED, job: PUSH_JOBS.restoreDrill },
  staleSeconds: 8 * 86400,
  for: '1h',
  summary: 'The weekly restore drill has not succeeded for more than 8 days',
  lastSuccess: { cronjob: 'successful restore drill', pushed: 'restore drill that passed every check' },
  consequence: 'it runs every Sunday, so no backup has been proven restorable this week.',
  // Nine days evaluated hourly take promtool 15 s; every 6 hours shows the same and takes 2 s.
  testEvaluationInterval: '6h',
  tests: {
    interval: '1h',
    flat: '0x240',
    periodic: '0x168 604800x72',
    quietAt: '7d',
    firingAt: '9d',
    firingAge: '9d 0h 0m 0s',
    periodicAt: '9d',
    names: {
      stale: 'the last drill succeeded 9 days ago',
      pushedStale: 'the drill pushed its last success 9 days ago',
      pushesEveryPeriod: 'the drill pushes a success every week',
      succeedsEveryPeriod: 'the drill succeeds every week',
    },
  },
});

const AUDIT_VERIFY_STALE_HOURS = 3 * AUDIT_VERIFY_INTERVAL_HOURS;

export const auditVerifyStale: AlertDefinition = {
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
