/**
 * What each stack must be, as named checks over the resources a mock run recorded. Each check returns one
 * line per problem (empty: all good), so the stack tests assert `[]` and the regression tests assert the
 * exact problem a bad change produces.
 */
import { RELEASE_PLAN, type ReleaseStage } from '../../../pipelines/src/release/plan.js';
import type { Environment } from '../../src/config.js';
import { REQUIRED_TAGS } from '../../src/tags.js';
import { isSecretWrapper, ofType, plaintextSecretPaths, type RecordedResource, type StackRun } from './stack.js';

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
      if (name.endsWith('-gate-k6')) current.gates.push({ kind: 'load', scenario: 'gate' });
      else if (slo === 'availability' || slo === 'latency') current.gates.push({ kind: 'slo', slo });
    }
  }
  return stages;
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
    expectEqual(problems, 'engine', `${String(p.engine)} ${String(p.engineVersion)}`, 'postgres 16');
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
    expectEqual(problems, 'restore drill schedule (weekly)', drill?.schedule, '30 4 * * 0');
    return problems;
  },

  'the cache is Redis 7 with LRU eviction, snapshots, an auth token, and failover where replicas exist': (
    run,
    expected,
  ) => {
    const problems: string[] = [];
    const p = only(run, 'aws:elasticache/replicationGroup:ReplicationGroup', problems);
    if (!String(p.engineVersion).startsWith('7')) problems.push(`Redis engine version is ${show(p.engineVersion)}`);
    expectEqual(problems, 'automaticFailoverEnabled', p.automaticFailoverEnabled, expected.cacheFailover);
    if (!isSecretWrapper(p.authToken)) problems.push('the Redis auth token is not a secret');
    if (typeof p.snapshotRetentionLimit !== 'number' || p.snapshotRetentionLimit < 1)
      problems.push('Redis keeps no snapshots');
    const parameters = arr(only(run, 'aws:elasticache/parameterGroup:ParameterGroup', problems).parameters).map(rec);
    expectEqual(
      problems,
      'maxmemory-policy',
      parameters.find((x) => x.name === 'maxmemory-policy')?.value,
      'allkeys-lru',
    );
    return problems;
  },

  "the app scales within the stack's replica range and keeps a disruption budget": (run, expected) => {
    const problems: string[] = [];
    const hpa = rec(only(run, 'kubernetes:autoscaling/v2:HorizontalPodAutoscaler', problems).spec);
    expectEqual(problems, 'HPA range', [hpa.minReplicas, hpa.maxReplicas], expected.replicas);
    expectEqual(problems, 'HPA target kind', rec(hpa.scaleTargetRef).kind, 'Rollout');
    expectEqual(
      problems,
      'PDB maxUnavailable',
      rec(only(run, 'kubernetes:policy/v1:PodDisruptionBudget', problems).spec).maxUnavailable,
      1,
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
    const k6 = ofType(run, 'kubernetes:argoproj.io/v1alpha1:AnalysisTemplate').find((t) =>
      String(rec(t.inputs.metadata).name).endsWith('-gate-k6'),
    );
    const job = rec(rec(rec(arr(rec(k6?.inputs.spec).metrics)[0]).provider).job);
    const failJob = arr(rec(rec(job.spec).podFailurePolicy).rules)
      .map(rec)
      .find((rule) => rule.action === 'FailJob');
    expectEqual(problems, 'exit codes that fail the k6 gate', rec(failJob?.onExitCodes).values, [99]);
    return problems;
  },

  'every container runs as non-root with limits and a read-only root filesystem': (run) => {
    const problems: string[] = [];
    const all = containersOf(run);
    if (all.length < 5) problems.push(`only ${all.length} containers found; the walk over workloads is broken`);
    for (const { owner, pod, container } of all) {
      const security = rec(container.securityContext);
      const name = `${owner} container ${String(container.name)}`;
      if ((security.runAsNonRoot ?? rec(pod.securityContext).runAsNonRoot) !== true)
        problems.push(`${name} may run as root`);
      if (security.readOnlyRootFilesystem !== true) problems.push(`${name} has a writable root filesystem`);
      const limits = rec(rec(container.resources).limits);
      if (limits.cpu === undefined || limits.memory === undefined) problems.push(`${name} has no CPU or memory limit`);
    }
    return problems;
  },

  'every image is pinned by digest': (run) =>
    containersOf(run)
      .filter(({ container }) => !/@sha256:[0-9a-f]{64}$/.test(String(container.image)))
      .map(({ owner, container }) => `${owner} uses ${String(container.image)}`),

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

  'network policies deny by default and let the app reach only DNS, the database and Redis': (run) => {
    const problems: string[] = [];
    const policies = Object.fromEntries(
      ofType(run, 'kubernetes:networking.k8s.io/v1:NetworkPolicy').map((p) => [
        String(rec(p.inputs.metadata).name),
        rec(p.inputs.spec),
      ]),
    );
    const deny = policies['default-deny'];
    expectEqual(
      problems,
      'default-deny',
      [deny?.podSelector, deny?.policyTypes, deny?.ingress, deny?.egress],
      [{}, ['Ingress', 'Egress'], undefined, undefined],
    );
    const ports = arr(policies['erp-api']?.egress).flatMap((rule) =>
      arr(rec(rule).ports).map((port) => rec(port).port),
    );
    expectEqual(problems, 'app egress ports', [...new Set(ports)].sort(), [53, 5432, 6379].sort());
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

  'every taggable AWS resource carries service, env, owner and cost-center': (run) =>
    run.resources
      .filter((resource) => resource.type.startsWith('aws:') && 'tags' in resource.inputs)
      .flatMap((resource) => {
        const tags = rec(resource.inputs.tags);
        const missing = REQUIRED_TAGS.filter((tag) => typeof tags[tag] !== 'string');
        return missing.length > 0 ? [`${resource.type} ${resource.name} lacks ${missing.join(', ')}`] : [];
      }),

  'every Helm chart is pinned to an exact version': (run) =>
    ofType(run, 'kubernetes:helm.sh/v3:Release')
      .filter((release) => !/^v?\d+\.\d+\.\d+$/.test(String(release.inputs.version)))
      .map((release) => `${String(release.inputs.chart)} at ${show(release.inputs.version)}`),
};
