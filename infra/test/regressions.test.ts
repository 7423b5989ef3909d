/**
 * The two changes the infrastructure issue names as must-fail, made in memory against prod:
 * backup retention cut to 1 day, and storageEncrypted removed from the database. Both must fail a stack check
 * here, and a policy in policies/test/regressions.test.ts. Then two monitoring drifts, which must fail too.
 */
import { beforeAll, describe, expect, test } from 'vitest';

import { CHECKS, EXPECTED } from './support/checks.js';
import { runStack, type StackRun } from './support/stack.js';

const BACKUPS = 'backups run every 6 h and are kept 7 days (35 in prod), copied to a second region in prod only';
const ENCRYPTION = 'storage is encrypted: RDS, S3, ElastiCache, EBS and EKS Secrets';
const SLO_ANALYSIS =
  "the canary's SLO analysis runs exactly monitoring's queries and thresholds on the canary's series";
const ALERTMANAGER_FILES = 'Alertmanager mounts a secret Secret key for every endpoint file its config reads';

function check(name: string) {
  const found = CHECKS[name];
  if (found === undefined) throw new Error(`no check named ${name}`);
  return found;
}

describe('must-fail changes to prod', () => {
  let shortRetention: StackRun;
  beforeAll(async () => {
    shortRetention = await runStack('prod', { 'slipway:dbBackupRetentionDays': '1' });
  });

  test('prod with dbBackupRetentionDays=1 fails the backup retention check', () => {
    expect(check(BACKUPS)(shortRetention, EXPECTED.prod)).toEqual([
      'RDS backupRetentionPeriod is 1, expected 35',
      'RDS keeps backups 1 days, fewer than 7',
    ]);
  });

  test('prod without storageEncrypted on the database fails the encryption check', () => {
    const resources = shortRetention.resources.map((resource) => {
      if (resource.type !== 'aws:rds/instance:Instance') return resource;
      const inputs = Object.fromEntries(Object.entries(resource.inputs).filter(([key]) => key !== 'storageEncrypted'));
      return { ...resource, inputs };
    });
    expect(check(ENCRYPTION)({ ...shortRetention, resources }, EXPECTED.prod)).toEqual([
      'RDS database-postgres storageEncrypted is undefined',
    ]);
    // The unchanged run passes, so the failure above comes from the removal alone.
    expect(check(ENCRYPTION)(shortRetention, EXPECTED.prod)).toEqual([]);
  });

  // Not named by the infrastructure issue: proof that the monitoring checks can fail at all.
  test('an SLO AnalysisTemplate whose bound drifts from monitoring fails the SLO analysis check', () => {
    const resources = shortRetention.resources.map((resource) => {
      const spec = resource.inputs.spec as { metrics?: { name?: string; successCondition?: string }[] } | undefined;
      if (
        resource.type !== 'kubernetes:argoproj.io/v1alpha1:AnalysisTemplate' ||
        spec?.metrics?.[0]?.name !== 'slo-latency'
      )
        return resource;
      const metrics = spec.metrics.map((metric) => ({
        ...metric,
        successCondition: 'len(result) > 0 && result[0] >= 0.95',
        failureCondition: 'len(result) > 0 && result[0] < 0.95',
      }));
      return { ...resource, inputs: { ...resource.inputs, spec: { ...spec, metrics } } };
    });
    const problems = check(SLO_ANALYSIS)({ ...shortRetention, resources }, EXPECTED.prod);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^SLO latency check is .*"threshold":0\.95.*expected .*"threshold":0\.99/);
    expect(check(SLO_ANALYSIS)(shortRetention, EXPECTED.prod)).toEqual([]);
  });

  test('Alertmanager without the PagerDuty and heartbeat Secrets mounted fails the endpoint file check', () => {
    const resources = shortRetention.resources.map((resource) => {
      if (resource.type !== 'kubernetes:helm.sh/v3:Release' || resource.inputs.chart !== 'kube-prometheus-stack')
        return resource;
      const values = resource.inputs.values as { alertmanager: { alertmanagerSpec: Record<string, unknown> } };
      const alertmanagerSpec = { ...values.alertmanager.alertmanagerSpec, secrets: ['alertmanager-slack'] };
      return {
        ...resource,
        inputs: {
          ...resource.inputs,
          values: { ...values, alertmanager: { ...values.alertmanager, alertmanagerSpec } },
        },
      };
    });
    expect(check(ALERTMANAGER_FILES)({ ...shortRetention, resources }, EXPECTED.prod)).toEqual([
      '/etc/alertmanager/secrets/alertmanager-pagerduty/routing-key: Secret alertmanager-pagerduty is not in alertmanagerSpec.secrets',
      '/etc/alertmanager/secrets/alertmanager-heartbeat/url: Secret alertmanager-heartbeat is not in alertmanagerSpec.secrets',
    ]);
    expect(check(ALERTMANAGER_FILES)(shortRetention, EXPECTED.prod)).toEqual([]);
  });

  test('without the worker ServiceMonitor, or with the worker open to any address on 5432, the checks fail', () => {
    const monitors =
      "the server's and the worker's series get the job label every monitoring query selects, through each ServiceMonitor's relabelling";
    const network =
      "network policies deny by default and let the app reach only DNS, the database, Redis and Jaeger's OTLP receiver (the worker also its SMTP relay's port)";
    const named = (resource: StackRun['resources'][number], type: string, name: string) =>
      resource.type === type && (resource.inputs.metadata as { name?: string } | undefined)?.name === name;
    const withoutMonitor = shortRetention.resources.filter(
      (resource) => !named(resource, 'kubernetes:monitoring.coreos.com/v1:ServiceMonitor', 'erp-api-worker'),
    );
    expect(check(monitors)({ ...shortRetention, resources: withoutMonitor }, EXPECTED.prod)).toEqual([
      'Services each ServiceMonitor selects is [["erp-api-metrics"]], expected [["erp-api-metrics"],["erp-api-worker-metrics"]]',
      'no ServiceMonitor scrapes erp-api-worker-metrics',
    ]);
    const openDatabase = shortRetention.resources.map((resource) => {
      if (!named(resource, 'kubernetes:networking.k8s.io/v1:NetworkPolicy', 'erp-api-worker')) return resource;
      const spec = resource.inputs.spec as { egress: { to: unknown[]; ports: { port: number }[] }[] };
      const egress = spec.egress.map((rule) =>
        rule.ports.some((port) => port.port === 587)
          ? { ...rule, ports: [...rule.ports, { protocol: 'TCP', port: 5432 }] }
          : rule,
      );
      return { ...resource, inputs: { ...resource.inputs, spec: { ...spec, egress } } };
    });
    expect(check(network)({ ...shortRetention, resources: openDatabase }, EXPECTED.prod)).toEqual([
      'worker egress ports to any address is [{"port":587,"protocol":"TCP"},{"port":5432,"protocol":"TCP"}], expected [{"port":587,"protocol":"TCP"}]',
    ]);
    expect(check(monitors)(shortRetention, EXPECTED.prod)).toEqual([]);
    expect(check(network)(shortRetention, EXPECTED.prod)).toEqual([]);
  });
});
