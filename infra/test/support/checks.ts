/**
 * What each stack must be, as named checks over the resources a mock run recorded. Each check returns one
 * line per problem (empty: all good), so the stack tests assert `[]` and the regression tests assert the
 * exact problem a bad change produces.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parse as parseYaml } from 'yaml';

import { DEFAULT_LOKI_OPTIONS, LOKI_RETENTION } from '@slipway/monitoring/loki';
import { APP_INGRESS, APP_JOB, METRICS_SERVICE, WORKER_JOB, WORKER_METRICS_SERVICE } from '@slipway/monitoring/config';
import {
  discoveryLabels,
  operatorRelabelConfigs,
  relabel,
  type ServiceMonitorSpec,
} from '@slipway/monitoring/service-monitor';
import { CANARY_SELECTOR, SLO_ANALYSIS_QUERIES, SLOS } from '@slipway/monitoring/slo';
import { RELEASE_PLAN, type ReleaseStage } from '@slipway/pipelines/release/plan';
import { POSTGRES_MAJOR_VERSION } from '@slipway/app/backup/postgres';
import { MONITORING_NAMESPACE, PROMETHEUS_ADDRESS } from '../../src/components/observability.js';
import type { Environment } from '../../src/config.js';
import { MONITORING_GENERATED_DIR } from '../../src/monitoring-sources.js';
import { APP_NAMESPACE } from '../../src/program.js';
import { CHARTS } from '../../src/charts.js';
import {
  JAEGER_OTLP_ENDPOINT,
  JAEGER_OTLP_HTTP_PORT,
  JAEGER_POD_LABELS,
  TRACING_NAMESPACE,
} from '../../src/components/tracing.js';
import { appWorkloads, rolloutPodLabels, workerOf, workloadEnvironment } from './contracts.js';
import {
  isSecretWrapper,
  ofType,
  plaintextSecretPaths,
  unwrapSecrets,
  type RecordedResource,
  type StackRun,
} from './stack.js';

export interface StackExpectations {
  readonly zones: number;
  readonly natGateways: number;
  readonly multiAz: boolean;
  readonly protectData: boolean;
  readonly dbBackupRetentionDays: number;
  readonly awsBackupRetentionDays: number;
  readonly crossRegionCopy: boolean;
  readonly replicas: readonly [min: number, max: number];
  readonly cacheFailover: boolean;
  readonly traceRetentionHours: number;
  readonly traceStorageGib: number;
}

export const EXPECTED: Readonly<Record<Environment, StackExpectations>> = {
  dev: {
    zones: 2,
    natGateways: 1,
    multiAz: false,
    protectData: false,
    dbBackupRetentionDays: 7,
    awsBackupRetentionDays: 7,
    crossRegionCopy: false,
    replicas: [1, 3],
    cacheFailover: false,
    traceRetentionHours: 24,
    traceStorageGib: 5,
  },
  staging: {
    zones: 3,
    natGateways: 1,
    multiAz: false,
    protectData: false,
    dbBackupRetentionDays: 7,
    awsBackupRetentionDays: 14,
    crossRegionCopy: false,
    replicas: [2, 20],
    cacheFailover: true,
    traceRetentionHours: 72,
    traceStorageGib: 20,
  },
  prod: {
    zones: 3,
    natGateways: 3,
    multiAz: true,
    protectData: true,
    dbBackupRetentionDays: 35,
    awsBackupRetentionDays: 35,
    crossRegionCopy: true,
    replicas: [2, 20],
    cacheFailover: true,
    traceRetentionHours: 168,
    traceStorageGib: 50,
  },
};

type Props = Record<string, unknown>;
const rec = (value: unknown): Props =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Props) : {};
const arr = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);
const show = (value: unknown) => JSON.stringify(value);

function expectEqual(problems: string[], what: string, actual: unknown, expected: unknown): void {
  if (show(actual) !== show(expected)) problems.push(`${what} is ${show(actual)}, expected ${show(expected)}`);
}

/** The value with every object's keys sorted: the engine hands inputs back in its own key order. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, inner]) => [key, canonical(inner)]),
  );
}

/** Like {@link expectEqual}, for parsed documents whose key order means nothing. */
function expectSameDocument(problems: string[], what: string, actual: unknown, expected: unknown): void {
  if (show(canonical(actual)) !== show(canonical(expected)))
    problems.push(`${what} differs from the generated file: regenerate monitoring/ or fix how infra renders it`);
}

function only(run: StackRun, type: string, problems: string[]): Props {
  const found = ofType(run, type);
  if (found.length !== 1) problems.push(`expected one ${type}, found ${found.length}`);
  return found[0]?.inputs ?? {};
}

/** Every pod spec in a workload, wherever its kind keeps it. */
export function podSpecsOf(resource: RecordedResource): Props[] {
  const spec = rec(resource.inputs.spec);
  switch (resource.type) {
    case 'kubernetes:batch/v1:Job':
    case 'kubernetes:argoproj.io/v1alpha1:Rollout':
    case 'kubernetes:apps/v1:Deployment':
      return [rec(rec(spec.template).spec)];
    case 'kubernetes:batch/v1:CronJob':
      return [rec(rec(rec(rec(spec.jobTemplate).spec).template).spec)];
    case 'kubernetes:argoproj.io/v1alpha1:AnalysisTemplate':
      return arr(spec.metrics)
        .map((metric) => rec(rec(rec(metric).provider).job))
        .filter((job) => Object.keys(job).length > 0)
        .map((job) => rec(rec(rec(job.spec).template).spec));
    default:
      return [];
  }
}

function containersOf(run: StackRun): { owner: string; pod: Props; container: Props }[] {
  return run.resources.flatMap((resource) =>
    podSpecsOf(resource).flatMap((pod) =>
      [...arr(pod.initContainers), ...arr(pod.containers)].map((container) => ({
        owner: `${resource.type} ${resource.name}`,
        pod,
        container: rec(container),
      })),
    ),
  );
}

/** Reads Argo canary steps back into release stages, to compare with the plan. */
export function stagesFromSteps(steps: readonly unknown[]): ReleaseStage[] {
  const stages: { weight: number; pauseSeconds: number; gates: ReleaseStage['gates'][number][] }[] = [];
  for (const step of steps.map(rec)) {
    if (typeof step.setWeight === 'number') stages.push({ weight: step.setWeight, pauseSeconds: 0, gates: [] });
    const current = stages.at(-1);
    if (current === undefined) continue;
    const pause = rec(step.pause).duration;
    if (typeof pause === 'string') current.pauseSeconds = Number(pause.replace(/s$/, ''));
    for (const template of arr(rec(step.analysis).templates)) {
      const name = String(rec(template).templateName);
      const slo = /-slo-(availability|latency)$/.exec(name)?.[1];
      if (name.endsWith('-gate-load')) current.gates.push({ kind: 'load', scenario: 'gate' });
      else if (slo === 'availability' || slo === 'latency') current.gates.push({ kind: 'slo', slo });
    }
  }
  return stages;
}

/** One SLO check of the canary analysis, read back from an AnalysisTemplate's Prometheus metric. */
export interface SloCheck {
  readonly slo: string;
  readonly query: string;
  readonly comparison: 'atLeast' | 'atMost' | 'unreadable';
  readonly threshold: number;
}

/** Reads Argo success/failure conditions back into a comparison and a bound; a mismatched pair is unreadable. */
function comparisonOf(success: unknown, failure: unknown): Pick<SloCheck, 'comparison' | 'threshold'> {
  const pattern = /^len\(result\) > 0 && result\[0\] (>=|<=|<|>) (\S+)$/;
  const pass = pattern.exec(String(success));
  const fail = pattern.exec(String(failure));
  const threshold = Number(pass?.[2]);
  // Passing at or above the bound is only sound when failing is strictly below the same bound (and vice versa).
  if (pass?.[1] === '>=' && fail?.[1] === '<' && Number(fail[2]) === threshold)
    return { comparison: 'atLeast', threshold };
  if (pass?.[1] === '<=' && fail?.[1] === '>' && Number(fail[2]) === threshold)
    return { comparison: 'atMost', threshold };
  return { comparison: 'unreadable', threshold: Number.NaN };
}

/** Every Prometheus SLO check the run's AnalysisTemplates hold, by SLO name. */
export function sloChecksOf(run: StackRun): Record<string, SloCheck & { address: unknown; args: unknown }> {
  const checks: Record<string, SloCheck & { address: unknown; args: unknown }> = {};
  for (const template of ofType(run, 'kubernetes:argoproj.io/v1alpha1:AnalysisTemplate')) {
    const spec = rec(template.inputs.spec);
    for (const metric of arr(spec.metrics).map(rec)) {
      const prometheus = rec(rec(metric.provider).prometheus);
      if (Object.keys(prometheus).length === 0) continue;
      const slo = String(metric.name).replace(/^slo-/, '');
      checks[slo] = {
        slo,
        query: String(prometheus.query),
        ...comparisonOf(metric.successCondition, metric.failureCondition),
        address: prometheus.address,
        args: arr(spec.args).map((arg) => rec(arg).name),
      };
    }
  }
  return checks;
}

/** The label matchers that pick the canary's series out of the app's namespace. */
const CANARY_MATCHERS = `namespace="${APP_NAMESPACE}",rollouts_pod_template_hash="{{args.canary-hash}}"`;

/** A file of monitoring/generated/, as text. */
export function generatedFile(path: string): string {
  return readFileSync(join(MONITORING_GENERATED_DIR, path), 'utf8');
}

/** `alert` and `record` names of Prometheus rule groups, in order. */
function ruleNames(groups: unknown): string[] {
  return arr(groups).flatMap((group) =>
    arr(rec(group).rules).map((rule) => String(rec(rule).alert ?? rec(rule).record)),
  );
}

/** The values of a Helm release of the run, by chart name. */
export function helmValues(run: StackRun, chart: string): Props {
  return rec(
    ofType(run, 'kubernetes:helm.sh/v3:Release').find((release) => release.inputs.chart === chart)?.inputs.values,
  );
}

/** Every value of a `*_file` field anywhere in a parsed config: the files Alertmanager reads endpoints from. */
export function filesReferenced(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(filesReferenced);
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key.endsWith('_file') && typeof inner === 'string' ? [inner] : filesReferenced(inner),
  );
}

function monitoringObjects(run: StackRun, type: string): Props[] {
  return ofType(run, type)
    .map((resource) => resource.inputs)
    .filter((inputs) => rec(inputs.metadata).namespace === MONITORING_NAMESPACE);
}

type Check = (run: StackRun, expected: StackExpectations) => string[];

export const CHECKS: Readonly<Record<string, Check>> = {
  'the network spans its zones, with one NAT gateway per zone only in prod, and logs its flows': (run, expected) => {
    const problems: string[] = [];
    expectEqual(problems, 'subnet count', ofType(run, 'aws:ec2/subnet:Subnet').length, expected.zones * 2);
    expectEqual(
      problems,
      'NAT gateway count',
      ofType(run, 'aws:ec2/natGateway:NatGateway').length,
      expected.natGateways,
    );
    expectEqual(problems, 'elastic IP count', ofType(run, 'aws:ec2/eip:Eip').length, expected.natGateways);
    expectEqual(problems, 'flow log traffic', only(run, 'aws:ec2/flowLog:FlowLog', problems).trafficType, 'ALL');
    return problems;
  },

  'the cluster API is private, public only to listed CIDRs, logged, and its kubeconfig is secret': (run) => {
    const problems: string[] = [];
    const cluster = only(run, 'aws:eks/cluster:Cluster', problems);
    const vpc = rec(cluster.vpcConfig);
    expectEqual(problems, 'private endpoint', vpc.endpointPrivateAccess, true);
    const cidrs = arr(vpc.publicAccessCidrs);
    if (vpc.endpointPublicAccess === true && (cidrs.length === 0 || cidrs.includes('0.0.0.0/0')))
      problems.push(`public endpoint open to ${show(cidrs)}`);
    for (const log of ['api', 'audit', 'authenticator'])
      if (!arr(cluster.enabledClusterLogTypes).includes(log)) problems.push(`control-plane log ${log} is off`);
    expectEqual(
      problems,
      'OIDC audience',
      only(run, 'aws:iam/openIdConnectProvider:OpenIdConnectProvider', problems).clientIdLists,
      ['sts.amazonaws.com'],
    );
    const provider = only(run, 'pulumi:providers:kubernetes', problems);
    if (!isSecretWrapper(provider.kubeconfig)) problems.push('the Kubernetes provider kubeconfig is not secret');
    return problems;
  },

  'storage is encrypted: RDS, S3, ElastiCache, EBS and EKS Secrets': (run) => {
    const problems: string[] = [];
    for (const db of ofType(run, 'aws:rds/instance:Instance')) {
      if (db.inputs.storageEncrypted !== true)
        problems.push(`RDS ${db.name} storageEncrypted is ${show(db.inputs.storageEncrypted)}`);
      if (typeof db.inputs.kmsKeyId !== 'string') problems.push(`RDS ${db.name} has no KMS key`);
    }
    for (const cache of ofType(run, 'aws:elasticache/replicationGroup:ReplicationGroup'))
      if (cache.inputs.atRestEncryptionEnabled !== true || cache.inputs.transitEncryptionEnabled !== true)
        problems.push(`Redis ${cache.name} is not encrypted at rest and in transit`);
    for (const sse of ofType(
      run,
      'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
    ))
      if (rec(rec(arr(sse.inputs.rules)[0]).applyServerSideEncryptionByDefault).sseAlgorithm !== 'aws:kms')
        problems.push(`bucket encryption ${sse.name} is not aws:kms`);
    if (
      ofType(run, 'aws:s3/bucket:Bucket').length !==
      ofType(run, 'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration').length
    )
      problems.push('a bucket has no server-side encryption configuration');
    for (const template of ofType(run, 'aws:ec2/launchTemplate:LaunchTemplate'))
      for (const mapping of arr(template.inputs.blockDeviceMappings))
        if (rec(rec(mapping).ebs).encrypted !== 'true')
          problems.push(`launch template ${template.name} has an unencrypted volume`);
    for (const storageClass of ofType(run, 'kubernetes:storage.k8s.io/v1:StorageClass'))
      if (rec(storageClass.inputs.parameters).encrypted !== 'true')
        problems.push(`StorageClass ${storageClass.name} is unencrypted`);
    const cluster = only(run, 'aws:eks/cluster:Cluster', problems);
    if (!arr(rec(cluster.encryptionConfig).resources).includes('secrets'))
      problems.push('EKS Secrets are not envelope-encrypted');
    return problems;
  },

  'the database is PostgreSQL 16, Multi-AZ and deletion-protected in prod only, reachable from the nodes only': (
    run,
    expected,
  ) => {
    const problems: string[] = [];
    const [db] = ofType(run, 'aws:rds/instance:Instance');
    if (db === undefined) return ['no RDS instance'];
    const p = db.inputs;
    // the app image's pg_dump major version: a newer server would make every backup fail
    expectEqual(
      problems,
      'engine',
      `${String(p.engine)} ${String(p.engineVersion)}`,
      `postgres ${POSTGRES_MAJOR_VERSION}`,
    );
    expectEqual(problems, 'multiAz', p.multiAz, expected.multiAz);
    expectEqual(problems, 'deletionProtection', p.deletionProtection, expected.protectData);
    expectEqual(problems, 'skipFinalSnapshot', p.skipFinalSnapshot, !expected.protectData);
    expectEqual(problems, 'Pulumi protect', db.protect, expected.protectData);
    expectEqual(problems, 'publiclyAccessible', p.publiclyAccessible, false);
    expectEqual(problems, 'performanceInsightsEnabled', p.performanceInsightsEnabled, true);
    if (!isSecretWrapper(p.password)) problems.push('the master password is not a secret');
    const parameters = arr(only(run, 'aws:rds/parameterGroup:ParameterGroup', problems).parameters).map(rec);
    expectEqual(
      problems,
      'log_min_duration_statement',
      parameters.find((parameter) => parameter.name === 'log_min_duration_statement')?.value,
      '100',
    );
    const sg = ofType(run, 'aws:ec2/securityGroup:SecurityGroup').find((group) => group.name === 'database-sg');
    const ingress = arr(sg?.inputs.ingress).map(rec);
    if (ingress.length !== 1 || arr(ingress[0]?.cidrBlocks).length > 0 || arr(ingress[0]?.securityGroups).length !== 1)
      problems.push(`database security group ingress is ${show(ingress)}, expected only the nodes' group`);
    return problems;
  },

  'backups run every 6 h and are kept 7 days (35 in prod), copied to a second region in prod only': (run, expected) => {
    const problems: string[] = [];
    const [db] = ofType(run, 'aws:rds/instance:Instance');
    const retention = db?.inputs.backupRetentionPeriod;
    expectEqual(problems, 'RDS backupRetentionPeriod', retention, expected.dbBackupRetentionDays);
    if (typeof retention !== 'number' || retention < 7)
      problems.push(`RDS keeps backups ${show(retention)} days, fewer than 7`);
    const rule = rec(arr(only(run, 'aws:backup/plan:Plan', problems).rules)[0]);
    expectEqual(problems, 'AWS Backup schedule', rule.schedule, 'cron(0 */6 * * ? *)');
    expectEqual(problems, 'AWS Backup deleteAfter', rec(rule.lifecycle).deleteAfter, expected.awsBackupRetentionDays);
    expectEqual(problems, 'cross-region copy', arr(rule.copyActions).length > 0, expected.crossRegionCopy);
    const lifecycle = arr(only(run, 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration', problems).rules)
      .map(rec)
      .filter((r) => r.expiration !== undefined)
      .map((r) => [rec(r.filter).prefix, rec(r.expiration).days]);
    expectEqual(problems, 'bucket lifecycle', lifecycle, [
      ['daily/', 7],
      ['weekly/', 28],
      ['monthly/', 365],
    ]);
    expectEqual(
      problems,
      'bucket versioning',
      rec(only(run, 'aws:s3/bucketVersioning:BucketVersioning', problems).versioningConfiguration).status,
      'Enabled',
    );
    const cronJobs = Object.fromEntries(
      ofType(run, 'kubernetes:batch/v1:CronJob').map((job) => [
        String(rec(job.inputs.metadata).name),
        rec(job.inputs.spec),
      ]),
    );
    const backup = cronJobs['database-backup'];
    const drill = cronJobs['restore-drill'];
    expectEqual(problems, 'backup CronJob schedule', backup?.schedule, '15 */6 * * *');
    expectEqual(problems, 'backup CronJob retries', rec(rec(backup?.jobTemplate).spec).backoffLimit, 1);
    expectEqual(
      problems,
      'backup entry point',
      rec(arr(rec(rec(rec(rec(backup?.jobTemplate).spec).template).spec).containers)[0]).args,
      ['backup'],
    );
    const backupContainer = rec(arr(rec(rec(rec(rec(backup?.jobTemplate).spec).template).spec).containers)[0]);
    const backupEnv: Record<string, unknown> = Object.fromEntries(
      arr(backupContainer.env).map((entry) => [String(rec(entry).name), rec(entry).value]),
    );
    expectEqual(problems, 'backup environment', Object.keys(backupEnv).sort(), [
      'AWS_REGION',
      'BACKUP_BUCKET',
      'BACKUP_KMS_KEY_ID',
      'BACKUP_PREFIX',
      'BACKUP_RETENTION_DAYS',
      'PUSHGATEWAY_URL',
      'PUSH_NAMESPACE',
    ]);
    expectEqual(problems, 'backup pushes to', backupEnv.PUSHGATEWAY_URL, 'http://pushgateway.monitoring.svc:9091');
    // the daily tier's lifecycle expires what the job writes; the job itself deletes nothing
    expectEqual(problems, 'backup prefix (lifecycle tier)', backupEnv.BACKUP_PREFIX, 'daily/');
    expectEqual(problems, 'backup retention by the command', backupEnv.BACKUP_RETENTION_DAYS, '0');
    expectEqual(
      problems,
      'backup service account',
      rec(rec(rec(rec(backup?.jobTemplate).spec).template).spec).serviceAccountName,
      'erp-api-backup',
    );
    expectEqual(problems, 'restore drill schedule (weekly)', drill?.schedule, '30 4 * * 0');
    const drillPod = rec(rec(rec(rec(drill?.jobTemplate).spec).template).spec);
    const drillContainer = rec(arr(drillPod.containers)[0]);
    expectEqual(problems, 'restore drill entry point', drillContainer.args, [
      'drill',
      '--into',
      'erp_restore_drill',
      '--scratch-dir',
      '/scratch',
    ]);
    // the dump is downloaded to --scratch-dir: a claim sized for it, not the 256 MiB /tmp
    const scratchMount = arr(drillContainer.volumeMounts)
      .map(rec)
      .find((mount) => mount.mountPath === '/scratch');
    const scratchVolume = arr(drillPod.volumes)
      .map(rec)
      .find((volume) => volume.name === scratchMount?.name);
    const scratchClaim = rec(rec(rec(scratchVolume?.ephemeral).volumeClaimTemplate).spec);
    expectEqual(
      problems,
      'restore drill scratch volume',
      [scratchClaim.storageClassName, rec(rec(scratchClaim.resources).requests).storage],
      ['gp3-encrypted', '20Gi'],
    );
    expectEqual(problems, 'restore drill service account', drillPod.serviceAccountName, 'erp-api-restore-drill');
    const drillEnv: Record<string, unknown> = Object.fromEntries(
      arr(drillContainer.env).map((entry) => [String(rec(entry).name), rec(entry).value ?? rec(entry).valueFrom]),
    );
    expectEqual(problems, 'restore drill environment', Object.keys(drillEnv).sort(), [
      'AWS_REGION',
      'BACKUP_BUCKET',
      'BACKUP_KMS_KEY_ID',
      'BACKUP_PREFIX',
      'BACKUP_RETENTION_DAYS',
      'PUSHGATEWAY_URL',
      'PUSH_NAMESPACE',
      'REDIS_URL',
    ]);
    expectEqual(problems, 'restore drill REDIS_URL', drillEnv.REDIS_URL, {
      secretKeyRef: { key: 'REDIS_URL', name: 'erp-api-runtime' },
    });
    // the drill only reads backups: no s3:PutObject, no s3:DeleteObject in its role
    const drillPolicy = ofType(run, 'aws:iam/rolePolicy:RolePolicy').find((policy) =>
      policy.name.endsWith('restore-drill-access'),
    );
    const policyText = drillPolicy?.inputs.policy;
    const drillActions = arr(rec(JSON.parse(typeof policyText === 'string' ? policyText : '{}')).Statement).flatMap(
      (x) => arr(rec(x).Action),
    );
    expectEqual(problems, 'restore drill AWS actions', drillActions, ['s3:ListBucket', 's3:GetObject', 'kms:Decrypt']);
    const audit = cronJobs['audit-verify'];
    expectEqual(problems, 'audit chain check schedule (hourly)', audit?.schedule, '45 * * * *');
    expectEqual(
      problems,
      'audit chain check entry point',
      rec(arr(rec(rec(rec(rec(audit?.jobTemplate).spec).template).spec).containers)[0]).args,
      ['audit', 'verify'],
    );
    expectEqual(
      problems,
      'audit chain check service account',
      rec(rec(rec(rec(audit?.jobTemplate).spec).template).spec).serviceAccountName,
      'erp-api-audit',
    );
    return problems;
  },

  'the cache is Redis 7 that never evicts the job queue, with snapshots, an auth token, and Multi-AZ failover where replicas exist':
    (run, expected) => {
      const problems: string[] = [];
      const p = only(run, 'aws:elasticache/replicationGroup:ReplicationGroup', problems);
      if (!String(p.engineVersion).startsWith('7')) problems.push(`Redis engine version is ${show(p.engineVersion)}`);
      expectEqual(problems, 'automaticFailoverEnabled', p.automaticFailoverEnabled, expected.cacheFailover);
      // a replica in another zone is what keeps accepted jobs through a node failure (ElastiCache has no AOF here)
      expectEqual(problems, 'multiAzEnabled', p.multiAzEnabled, expected.cacheFailover);
      if (!isSecretWrapper(p.authToken)) problems.push('the Redis auth token is not a secret');
      if (typeof p.snapshotRetentionLimit !== 'number' || p.snapshotRetentionLimit < 1)
        problems.push('Redis keeps no snapshots');
      const parameters = arr(only(run, 'aws:elasticache/parameterGroup:ParameterGroup', problems).parameters).map(rec);
      expectEqual(
        problems,
        'maxmemory-policy',
        parameters.find((x) => x.name === 'maxmemory-policy')?.value,
        'noeviction',
      );
      return problems;
    },

  "the app scales within the stack's replica range and keeps a disruption budget": (run, expected) => {
    const problems: string[] = [];
    const hpa = rec(only(run, 'kubernetes:autoscaling/v2:HorizontalPodAutoscaler', problems).spec);
    expectEqual(problems, 'HPA range', [hpa.minReplicas, hpa.maxReplicas], expected.replicas);
    expectEqual(problems, 'HPA target kind', rec(hpa.scaleTargetRef).kind, 'Rollout');
    // One pod at a time, server and worker alike: at 1 worker, minAvailable 1 would block every node drain.
    expectEqual(
      problems,
      'PDB maxUnavailable by name',
      Object.fromEntries(
        ofType(run, 'kubernetes:policy/v1:PodDisruptionBudget').map((pdb) => [
          String(rec(pdb.inputs.metadata).name),
          rec(pdb.inputs.spec).maxUnavailable,
        ]),
      ),
      { 'erp-api': 1, 'erp-api-worker': 1 },
    );
    return problems;
  },

  'the Rollout steps equal the release plan, and pulumi up waits for the canary': (run) => {
    const problems: string[] = [];
    const rollout = only(run, 'kubernetes:argoproj.io/v1alpha1:Rollout', problems);
    const canary = rec(rec(rec(rollout.spec).strategy).canary);
    expectEqual(problems, 'stages rendered in the Rollout', stagesFromSteps(arr(canary.steps)), RELEASE_PLAN.stages);
    const annotations = rec(rec(rollout.metadata).annotations);
    expectEqual(problems, 'pulumi.com/waitFor', annotations['pulumi.com/waitFor'], 'jsonpath={.status.phase}=Healthy');
    expectEqual(problems, 'traffic routing', Object.keys(rec(canary.trafficRouting)), ['nginx']);
    const templates = ofType(run, 'kubernetes:argoproj.io/v1alpha1:AnalysisTemplate').map((t) =>
      String(rec(t.inputs.metadata).name),
    );
    for (const step of arr(canary.steps))
      for (const template of arr(rec(rec(step).analysis).templates)) {
        const name = String(rec(template).templateName);
        if (!templates.includes(name)) problems.push(`step uses AnalysisTemplate ${name}, which is not created`);
      }
    const gate = ofType(run, 'kubernetes:argoproj.io/v1alpha1:AnalysisTemplate').find((t) =>
      String(rec(t.inputs.metadata).name).endsWith('-gate-load'),
    );
    const job = rec(rec(rec(arr(rec(gate?.inputs.spec).metrics)[0]).provider).job);
    const failJob = arr(rec(rec(job.spec).podFailurePolicy).rules)
      .map(rec)
      .find((rule) => rule.action === 'FailJob');
    expectEqual(problems, 'exit codes that fail the load gate', rec(failJob?.onExitCodes).values, [1]);
    const container = rec(arr(rec(rec(rec(job.spec).template).spec).containers)[0]);
    expectEqual(problems, 'the gate container runs the bundled gate', container.command, [
      'node',
      '/gate/gate.mjs',
      'canary-gate',
    ]);
    return problems;
  },

  // Non-root, limits and digest pins are the policy pack's to judge (describe-stack.ts runs it); this it does not check.
  'every container has a read-only root filesystem': (run) => {
    const all = containersOf(run);
    if (all.length < 5) return [`only ${all.length} containers found; the walk over workloads is broken`];
    return all
      .filter(({ container }) => rec(container.securityContext).readOnlyRootFilesystem !== true)
      .map(({ owner, container }) => `${owner} container ${String(container.name)} has a writable root filesystem`);
  },

  'the app probes /health/live and /health/ready, drains before stopping, and is served over TLS only': (run) => {
    const problems: string[] = [];
    const rollout = only(run, 'kubernetes:argoproj.io/v1alpha1:Rollout', problems);
    const container = rec(arr(rec(rec(rec(rollout.spec).template).spec).containers)[0]);
    expectEqual(problems, 'liveness path', rec(rec(container.livenessProbe).httpGet).path, '/health/live');
    expectEqual(problems, 'readiness path', rec(rec(container.readinessProbe).httpGet).path, '/health/ready');
    if (rec(container.lifecycle).preStop === undefined) problems.push('no preStop drain');
    expectEqual(problems, 'resources', container.resources, {
      limits: { cpu: '1', memory: '1Gi' },
      requests: { cpu: '1', memory: '1Gi' },
    });
    const ingress = only(run, 'kubernetes:networking.k8s.io/v1:Ingress', problems);
    const annotations = rec(rec(ingress.metadata).annotations);
    expectEqual(problems, 'ssl-redirect', annotations['nginx.ingress.kubernetes.io/force-ssl-redirect'], 'true');
    if (annotations['cert-manager.io/cluster-issuer'] === undefined)
      problems.push('no cert-manager issuer on the Ingress');
    expectEqual(problems, 'TLS hosts', rec(arr(rec(ingress.spec).tls)[0]).hosts, [run.config.domain]);
    return problems;
  },

  "network policies deny by default and let the app reach only DNS, the database, Redis and Jaeger's OTLP receiver (the worker also its SMTP relay's port)":
    (run) => {
      const problems: string[] = [];
      const policiesIn = (namespace: string) =>
        Object.fromEntries(
          ofType(run, 'kubernetes:networking.k8s.io/v1:NetworkPolicy')
            .filter((p) => rec(p.inputs.metadata).namespace === namespace)
            .map((p) => [String(rec(p.inputs.metadata).name), rec(p.inputs.spec)]),
        );
      const policies = policiesIn(APP_NAMESPACE);
      for (const [namespace, deny] of [
        [APP_NAMESPACE, policies['default-deny']],
        [TRACING_NAMESPACE, policiesIn(TRACING_NAMESPACE)['default-deny']],
      ] as const)
        expectEqual(
          problems,
          `default-deny in ${namespace}`,
          [deny?.podSelector, deny?.policyTypes, deny?.ingress, deny?.egress],
          [{}, ['Ingress', 'Egress'], undefined, undefined],
        );
      const ports = arr(policies['erp-api']?.egress).flatMap((rule) =>
        arr(rec(rule).ports).map((port) => rec(port).port),
      );
      expectEqual(problems, 'app egress ports', [...new Set(ports)].sort(), [53, 5432, 6379, 4318].sort());
      // the OTLP port is open towards Jaeger's pods in the tracing namespace only, not to a range or a namespace
      const toJaeger = arr(policies['erp-api']?.egress)
        .map(rec)
        .filter((rule) => arr(rule.ports).some((port) => rec(port).port === JAEGER_OTLP_HTTP_PORT));
      expectEqual(
        problems,
        'app egress to port 4318',
        canonical(toJaeger.map((rule) => ({ to: rule.to, ports: rule.ports }))),
        canonical([
          {
            to: [
              {
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': TRACING_NAMESPACE } },
                podSelector: { matchLabels: JAEGER_POD_LABELS },
              },
            ],
            ports: [{ protocol: 'TCP', port: JAEGER_OTLP_HTTP_PORT }],
          },
        ]),
      );
      // The worker: scraped by Prometheus only; out to DNS, the data subnets, the SMTP relay's port and Jaeger.
      const worker = policies[WORKER_JOB];
      expectEqual(
        problems,
        'worker ingress',
        canonical(worker?.ingress),
        canonical([
          {
            from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': MONITORING_NAMESPACE } } }],
            ports: [{ protocol: 'TCP', port: 8080 }],
          },
        ]),
      );
      const workerPorts = arr(worker?.egress).flatMap((rule) => arr(rec(rule).ports).map((port) => rec(port).port));
      expectEqual(
        problems,
        'worker egress ports',
        [...new Set(workerPorts)].sort(),
        [53, 5432, 6379, run.config.smtpPort, JAEGER_OTLP_HTTP_PORT].sort(),
      );
      for (const rule of arr(worker?.egress).map(rec))
        if (arr(rule.to).some((peer) => rec(rec(peer).ipBlock).cidr === '0.0.0.0/0'))
          expectEqual(
            problems,
            'worker egress ports to any address',
            canonical(rule.ports),
            canonical([{ protocol: 'TCP', port: run.config.smtpPort }]),
          );
      return problems;
    },

  "every server and worker pod exports spans to the in-cluster Jaeger, sampled at the stack's ratio": (run) => {
    const problems: string[] = [];
    for (const workload of appWorkloads(run)) {
      const environment = workloadEnvironment(run, workload.resource);
      const what = (variable: string) => `${workload.label} ${variable}`;
      expectEqual(
        problems,
        what('OTEL_EXPORTER_OTLP_ENDPOINT'),
        environment.OTEL_EXPORTER_OTLP_ENDPOINT,
        JAEGER_OTLP_ENDPOINT,
      );
      expectEqual(
        problems,
        what('OTEL_TRACES_SAMPLER_ARG'),
        environment.OTEL_TRACES_SAMPLER_ARG,
        run.config.traceSampleRatio,
      );
    }
    return problems;
  },

  "Jaeger comes from its pinned chart, keeps spans on a volume of the stack's size for the stack's retention, and is reachable only in the cluster":
    (run, expected) => {
      const problems: string[] = [];
      const values = helmValues(run, 'jaeger');
      const release = ofType(run, 'kubernetes:helm.sh/v3:Release').find((r) => r.inputs.chart === 'jaeger');
      expectEqual(problems, 'jaeger chart version', release?.inputs.version, CHARTS.jaeger.version);
      expectEqual(problems, 'jaeger namespace', release?.inputs.namespace, TRACING_NAMESPACE);
      const storage = rec(rec(rec(rec(values.userconfig).extensions).jaeger_storage).backends);
      const badger = rec(rec(Object.values(storage)[0]).badger);
      expectEqual(problems, 'span TTL', rec(badger.ttl).spans, `${expected.traceRetentionHours}h`);
      expectEqual(problems, 'badger ephemeral', badger.ephemeral, false);
      const claim = ofType(run, 'kubernetes:core/v1:PersistentVolumeClaim').find(
        (c) => rec(c.inputs.metadata).namespace === TRACING_NAMESPACE,
      );
      expectEqual(
        problems,
        'jaeger volume size',
        rec(rec(rec(claim?.inputs.spec).resources).requests).storage,
        `${expected.traceStorageGib}Gi`,
      );
      const mounted = arr(rec(values.jaeger).extraVolumes).map((v) => rec(rec(v).persistentVolumeClaim).claimName);
      expectEqual(problems, 'volumes Jaeger mounts', mounted, [rec(claim?.inputs.metadata).name]);
      // no Ingress, no LoadBalancer: only a ClusterIP Service inside the cluster
      expectEqual(problems, 'jaeger ingress', rec(rec(values.jaeger).ingress).enabled, undefined);
      expectEqual(problems, 'jaeger service type', rec(rec(values.jaeger).service).type, undefined);
      const ingress = arr(
        rec(
          ofType(run, 'kubernetes:networking.k8s.io/v1:NetworkPolicy').find(
            (p) => rec(p.inputs.metadata).namespace === TRACING_NAMESPACE && rec(p.inputs.metadata).name === 'jaeger',
          )?.inputs.spec,
        ).ingress,
      ).map(rec);
      expectEqual(
        problems,
        'who may reach Jaeger',
        ingress.map((rule) => [
          arr(rule.from).map(
            (from) => rec(rec(rec(from).namespaceSelector).matchLabels)['kubernetes.io/metadata.name'],
          ),
          arr(rule.ports).map((port) => rec(port).port),
        ]),
        [
          [[APP_NAMESPACE], [JAEGER_OTLP_HTTP_PORT]],
          [[MONITORING_NAMESPACE], [16686]],
        ],
      );
      return problems;
    },

  'no secret appears in plain text in any resource input or stack output': (run) => {
    const problems = run.resources.flatMap((resource) =>
      plaintextSecretPaths(resource.inputs, run.secretValues).map(
        (path) => `${resource.type} ${resource.name} input${path}`,
      ),
    );
    for (const [name, output] of Object.entries(run.outputs))
      if (!output.secret && plaintextSecretPaths(output.value, run.secretValues).length > 0)
        problems.push(`stack output ${name}`);
    return problems;
  },

  "the canary's SLO analysis runs exactly monitoring's queries and thresholds on the canary's series": (run) => {
    const problems: string[] = [];
    const checks = sloChecksOf(run);
    expectEqual(problems, 'SLOs analysed', Object.keys(checks).sort(), Object.keys(SLO_ANALYSIS_QUERIES).sort());
    for (const expected of Object.values(SLO_ANALYSIS_QUERIES)) {
      const actual = checks[expected.slo];
      if (actual === undefined) continue;
      expectEqual(
        problems,
        `SLO ${expected.slo} check`,
        { query: actual.query, comparison: actual.comparison, threshold: actual.threshold },
        {
          query: expected.query.replaceAll(CANARY_SELECTOR, CANARY_MATCHERS),
          comparison: expected.comparison,
          threshold: expected.threshold,
        },
      );
      expectEqual(problems, `SLO ${expected.slo} Prometheus`, actual.address, PROMETHEUS_ADDRESS);
      expectEqual(problems, `SLO ${expected.slo} template args`, actual.args, ['canary-hash']);
    }
    return problems;
  },

  "the server's and the worker's series get the job label every monitoring query selects, through each ServiceMonitor's relabelling":
    (run) => {
      const problems: string[] = [];
      const monitors = monitoringObjects(run, 'kubernetes:monitoring.coreos.com/v1:ServiceMonitor');
      const services = ofType(run, 'kubernetes:core/v1:Service').map((service) => rec(service.inputs.metadata));
      const selectedBy = (spec: ServiceMonitorSpec | undefined) =>
        services.filter(
          (metadata) =>
            spec !== undefined &&
            spec.namespaceSelector.matchNames.includes(String(metadata.namespace)) &&
            Object.entries(spec.selector.matchLabels).every(([key, value]) => rec(metadata.labels)[key] === value),
        );
      expectEqual(
        problems,
        'Services each ServiceMonitor selects',
        monitors.map((monitor) => selectedBy(monitor.spec as ServiceMonitorSpec).map((m) => m.name)).sort(),
        [[METRICS_SERVICE], [WORKER_METRICS_SERVICE]],
      );
      // The pods behind each Service, with the labels their workload's template gives them.
      const hash = 'abc';
      const pods = [
        {
          job: APP_JOB,
          service: METRICS_SERVICE,
          labels: { ...rolloutPodLabels(run), 'rollouts-pod-template-hash': hash },
        },
        { job: WORKER_JOB, service: WORKER_METRICS_SERVICE, labels: workerOf(run)?.podLabels ?? {} },
      ];
      for (const pod of pods) {
        const monitor = monitors.find((candidate) =>
          selectedBy(candidate.spec as ServiceMonitorSpec).some((metadata) => metadata.name === pod.service),
        );
        const spec = monitor?.spec as ServiceMonitorSpec | undefined;
        const service = services.find((metadata) => metadata.name === pod.service);
        if (spec === undefined || service === undefined) {
          problems.push(`no ServiceMonitor scrapes ${pod.service}`);
          continue;
        }
        const target = relabel(
          discoveryLabels({
            address: '10.0.1.17:8080',
            namespace: String(service.namespace),
            service: { name: String(service.name), labels: rec(service.labels) as Record<string, string> },
            pod: { name: `${pod.job}-0`, labels: pod.labels as Record<string, string>, container: pod.job },
            portName: spec.endpoints[0]?.port ?? '',
          }),
          operatorRelabelConfigs(spec),
        );
        expectEqual(
          problems,
          `${pod.service} scraped labels job, service, namespace, rollouts_pod_template_hash`,
          [target?.job, target?.service, target?.namespace, target?.rollouts_pod_template_hash],
          [pod.job, pod.service, APP_NAMESPACE, pod.job === APP_JOB ? hash : undefined],
        );
      }
      return problems;
    },

  'Prometheus keeps at least the longest SLO window of monitoring/': (run) => {
    const retention = rec(rec(helmValues(run, 'kube-prometheus-stack').prometheus).prometheusSpec).retention;
    const days = /^(\d+)d$/.exec(String(retention))?.[1];
    const longest = Math.max(...SLOS.map((slo) => slo.windowDays));
    return days !== undefined && Number(days) >= longest
      ? []
      : [`Prometheus retention is ${show(retention)}: keep at least ${longest}d, the longest SLO window`];
  },

  "ingress-nginx exports its request metrics to Prometheus, for the edge SLI of monitoring's SLO model": (run) => {
    const problems: string[] = [];
    const metrics = rec(rec(helmValues(run, 'ingress-nginx').controller).metrics);
    expectEqual(
      problems,
      'ingress-nginx metrics and ServiceMonitor',
      [metrics.enabled, rec(metrics.serviceMonitor).enabled],
      [true, true],
    );
    const ingress = ofType(run, 'kubernetes:networking.k8s.io/v1:Ingress').map(
      (resource) => rec(resource.inputs.metadata).name,
    );
    expectEqual(problems, 'the Ingress the edge SLI selects', ingress, [APP_INGRESS]);
    return problems;
  },

  'the PrometheusRule, dashboards and Alertmanager config are the ones generated in monitoring/generated/': (run) => {
    const problems: string[] = [];
    const generatedRules = JSON.parse(generatedFile('rules.json')) as { groups: unknown };
    const rules = monitoringObjects(run, 'kubernetes:monitoring.coreos.com/v1:PrometheusRule');
    expectEqual(problems, 'PrometheusRule count', rules.length, 1);
    const groups = rec(rules[0]?.spec).groups;
    expectEqual(problems, 'PrometheusRule alerts and records', ruleNames(groups), ruleNames(generatedRules.groups));
    expectSameDocument(problems, 'PrometheusRule groups', groups, generatedRules.groups);

    const sidecarLabel = rec(rec(rec(helmValues(run, 'kube-prometheus-stack').grafana).sidecar).dashboards).label;
    const dashboards = Object.fromEntries(
      monitoringObjects(run, 'kubernetes:core/v1:ConfigMap')
        .filter((configMap) => rec(rec(configMap.metadata).labels)[String(sidecarLabel)] === '1')
        .flatMap((configMap) => Object.entries(rec(configMap.data))),
    );
    const files = readdirSync(join(MONITORING_GENERATED_DIR, 'dashboards')).filter((file) => file.endsWith('.json'));
    expectEqual(problems, `dashboards labelled ${String(sidecarLabel)}`, Object.keys(dashboards).sort(), files.sort());
    for (const file of files) {
      const json = dashboards[file];
      expectSameDocument(
        problems,
        `dashboard ${file}`,
        typeof json === 'string' ? (JSON.parse(json) as unknown) : undefined,
        JSON.parse(generatedFile(`dashboards/${file}`)),
      );
    }

    const configSecret = rec(rec(helmValues(run, 'kube-prometheus-stack').alertmanager).alertmanagerSpec).configSecret;
    const config = monitoringObjects(run, 'kubernetes:core/v1:Secret').find(
      (secret) => rec(secret.metadata).name === configSecret,
    );
    expectSameDocument(
      problems,
      `Alertmanager config in Secret ${String(configSecret)}`,
      parseYaml(String(rec(unwrapSecrets(config?.stringData))['alertmanager.yaml'])),
      parseYaml(generatedFile(`alertmanager/${run.stack}.yaml`)),
    );
    const channels = JSON.stringify(parseYaml(generatedFile(`alertmanager/${run.stack}.yaml`)));
    if (!channels.includes(`"channel":"${run.config.alertSlackChannel}"`))
      problems.push(
        `the ${run.stack} Alertmanager config posts nowhere near ${run.config.alertSlackChannel} (the stack's alertSlackChannel): set ticketChannel in monitoring's ALERTMANAGER_STACKS`,
      );
    const prometheusSpec = rec(rec(helmValues(run, 'kube-prometheus-stack').prometheus).prometheusSpec);
    expectSameDocument(problems, 'Prometheus externalLabels', prometheusSpec.externalLabels, {
      env: run.stack,
      cluster: `slipway-${run.stack}`,
    });
    return problems;
  },

  'Alertmanager mounts a secret Secret key for every endpoint file its config reads': (run) => {
    const problems: string[] = [];
    const alertmanagerSpec = rec(rec(helmValues(run, 'kube-prometheus-stack').alertmanager).alertmanagerSpec);
    const mounted = arr(alertmanagerSpec.secrets).map(String);
    const secrets = monitoringObjects(run, 'kubernetes:core/v1:Secret');
    const files = filesReferenced(parseYaml(generatedFile(`alertmanager/${run.stack}.yaml`)));
    if (files.length === 0) problems.push('the generated Alertmanager config reads no file: the walk is broken');
    for (const file of new Set(files)) {
      // The Prometheus operator mounts each listed Secret at /etc/alertmanager/secrets/<name>/<key>.
      const [name, key] = /^\/etc\/alertmanager\/secrets\/([^/]+)\/([^/]+)$/.exec(file)?.slice(1) ?? [];
      if (name === undefined || key === undefined) {
        problems.push(`${file} is not under /etc/alertmanager/secrets/<secret>/<key>`);
        continue;
      }
      if (!mounted.includes(name)) problems.push(`${file}: Secret ${name} is not in alertmanagerSpec.secrets`);
      const stringData = secrets.find((candidate) => rec(candidate.metadata).name === name)?.stringData;
      const value = rec(isSecretWrapper(stringData) ? stringData.value : stringData)[key];
      if (value === undefined) problems.push(`${file}: Secret ${name} has no key ${key}`);
      else if (!isSecretWrapper(stringData) && !isSecretWrapper(value))
        problems.push(`${file}: Secret ${name} key ${key} is not a Pulumi secret`);
    }
    return problems;
  },

  'Loki keeps logs 720h, deleted by the compactor, and its ruler loads the generated LogQL alerts': (run) => {
    const problems: string[] = [];
    const values = helmValues(run, 'loki');
    const loki = rec(values.loki);
    expectEqual(problems, 'Loki retention_period', rec(loki.limits_config).retention_period, '720h');
    expectEqual(problems, 'Loki retention from monitoring', LOKI_RETENTION, '720h');
    const compactor = rec(loki.compactor);
    expectEqual(
      problems,
      'Loki compactor retention',
      [compactor.retention_enabled, compactor.delete_request_store],
      [true, 'filesystem'],
    );

    const ruler = rec(rec(loki.structuredConfig).ruler);
    expectEqual(problems, 'Loki ruler Alertmanager', ruler.alertmanager_url, DEFAULT_LOKI_OPTIONS.alertmanagerUrl);
    const rulesDir = String(rec(rec(ruler.storage).local).directory);
    const sidecar = rec(rec(values.sidecar).rules);
    expectEqual(problems, 'Loki rules sidecar', [sidecar.enabled, sidecar.folder], [true, `${rulesDir}/fake`]);
    const ruleFiles = monitoringObjects(run, 'kubernetes:core/v1:ConfigMap')
      .filter((configMap) => rec(rec(configMap.metadata).labels)[String(sidecar.label)] !== undefined)
      .flatMap((configMap) => Object.values(rec(configMap.data)).map((text) => parseYaml(String(text)) as unknown));
    expectEqual(problems, 'Loki rule file count', ruleFiles.length, 1);
    expectSameDocument(problems, 'Loki rule file', ruleFiles[0], parseYaml(generatedFile('loki/rules.yaml')));
    return problems;
  },
};
