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

export const backupMissing: AlertDefinition = {
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
    {
      // The command's own word: a Job can succeed without a verified backup if the command were ever bypassed.
      expr: sincePushedSuccess(BACKUP_PUSHED, PUSH_JOBS.backup, 7 * 3600),
      for: '10m',
      severity: 'warning',
      labels: { signal: 'pushed' },
      summary: 'No successful database backup in the last 7 hours',
      description:
        'The last backup `erp-api backup` reported as complete in namespace {{ $labels.namespace }} is {{ $value | humanizeDuration }} old; backups run every 6 hours.',
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
      name: 'the backup command pushed its last success 8 hours ago',
      interval: '10m',
      series: [pushed(BACKUP_PUSHED, PUSH_JOBS.backup, '0x60')],
      checks: [
        { at: '6h', alerts: [] },
        {
          at: '8h',
          alerts: [
            {
              labels: { namespace: 'erp', signal: 'pushed' },
              description:
                'The last backup `erp-api backup` reported as complete in namespace erp is 8h 0m 0s old; backups run every 6 hours.',
            },
          ],
        },
      ],
    },
    {
      name: 'the backup command pushes a success every 6 hours',
      interval: '10m',
      series: [pushed(BACKUP_PUSHED, PUSH_JOBS.backup, '0x36 21600x24')],
      checks: [{ at: '9h', alerts: [] }],
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

export const backupFailed: AlertDefinition = {
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

export const restoreDrillStale: AlertDefinition = {
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
    {
      expr: sincePushedSuccess(DRILL_PUSHED, PUSH_JOBS.restoreDrill, 8 * 86400),
      for: '1h',
      severity: 'warning',
      labels: { signal: 'pushed' },
      summary: 'The weekly restore drill has not succeeded for more than 8 days',
      description:
        'The last restore drill that passed every check in namespace {{ $labels.namespace }} is {{ $value | humanizeDuration }} old; it runs every Sunday, so no backup has been proven restorable this week.',
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
      name: 'the drill pushed its last success 9 days ago',
      interval: '1h',
      series: [pushed(DRILL_PUSHED, PUSH_JOBS.restoreDrill, '0x240')],
      checks: [
        { at: '7d', alerts: [] },
        {
          at: '9d',
          alerts: [
            {
              labels: { namespace: 'erp', signal: 'pushed' },
              description:
                'The last restore drill that passed every check in namespace erp is 9d 0h 0m 0s old; it runs every Sunday, so no backup has been proven restorable this week.',
            },
          ],
        },
      ],
    },
    {
      name: 'the drill pushes a success every week',
      interval: '1h',
      series: [pushed(DRILL_PUSHED, PUSH_JOBS.restoreDrill, '0x168 604800x72')],
      checks: [{ at: '9d', alerts: [] }],
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
