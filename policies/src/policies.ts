/**
 * The mandatory policies of the Slipway pack. Importing this module has no side effects: the PolicyPack
 * itself is constructed only in policies/index.ts, so tests can run each policy on its own.
 */
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from '@pulumi/policy';

type Props = Record<string, unknown>;

export const REQUIRED_TAGS = ['service', 'env', 'owner', 'cost-center'] as const;
const ENVIRONMENTS = ['dev', 'staging', 'prod'] as const;
type Environment = (typeof ENVIRONMENTS)[number];

/** Instance classes each environment may buy (cost control); anything else needs a change here, reviewed. */
export const APPROVED_INSTANCE_CLASSES: Readonly<
  Record<Environment, Readonly<Record<InstanceKind, readonly string[]>>>
> = {
  dev: {
    database: ['db.t4g.micro', 'db.t4g.small', 'db.t4g.medium'],
    cache: ['cache.t4g.micro', 'cache.t4g.small'],
    node: ['t3.medium', 't3.large', 't3a.large'],
  },
  staging: {
    database: ['db.t4g.medium', 'db.t4g.large', 'db.m7g.large'],
    cache: ['cache.t4g.small', 'cache.t4g.medium'],
    node: ['t3.large', 'm6i.large', 'm7i.large'],
  },
  prod: {
    database: ['db.m7g.large', 'db.m7g.xlarge', 'db.r7g.large', 'db.r7g.xlarge'],
    cache: ['cache.m7g.large', 'cache.r7g.large'],
    node: ['m6i.large', 'm6i.xlarge', 'm7i.xlarge', 'm7i.2xlarge'],
  },
};
type InstanceKind = 'database' | 'cache' | 'node';

/** AWS resource types we create that carry tags; every one of them must carry the required tags. */
export const TAGGABLE_TYPES: readonly string[] = [
  'aws:backup/plan:Plan',
  'aws:backup/vault:Vault',
  'aws:cloudwatch/logGroup:LogGroup',
  'aws:ec2/eip:Eip',
  'aws:ec2/flowLog:FlowLog',
  'aws:ec2/internetGateway:InternetGateway',
  'aws:ec2/launchTemplate:LaunchTemplate',
  'aws:ec2/natGateway:NatGateway',
  'aws:ec2/routeTable:RouteTable',
  'aws:ec2/securityGroup:SecurityGroup',
  'aws:ec2/subnet:Subnet',
  'aws:ec2/volume:Volume',
  'aws:ec2/vpc:Vpc',
  'aws:eks/addon:Addon',
  'aws:eks/cluster:Cluster',
  'aws:eks/nodeGroup:NodeGroup',
  'aws:elasticache/parameterGroup:ParameterGroup',
  'aws:elasticache/replicationGroup:ReplicationGroup',
  'aws:elasticache/subnetGroup:SubnetGroup',
  'aws:iam/openIdConnectProvider:OpenIdConnectProvider',
  'aws:iam/role:Role',
  'aws:kms/key:Key',
  'aws:rds/instance:Instance',
  'aws:rds/parameterGroup:ParameterGroup',
  'aws:rds/subnetGroup:SubnetGroup',
  'aws:s3/bucket:Bucket',
];

const T = {
  rds: 'aws:rds/instance:Instance',
  bucket: 'aws:s3/bucket:Bucket',
  bucketEncryption: 'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
  bucketPublicAccess: 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
  bucketAcl: 'aws:s3/bucketAcl:BucketAcl',
  redis: 'aws:elasticache/replicationGroup:ReplicationGroup',
  volume: 'aws:ec2/volume:Volume',
  launchTemplate: 'aws:ec2/launchTemplate:LaunchTemplate',
  storageClass: 'kubernetes:storage.k8s.io/v1:StorageClass',
  eks: 'aws:eks/cluster:Cluster',
  nodeGroup: 'aws:eks/nodeGroup:NodeGroup',
  backupPlan: 'aws:backup/plan:Plan',
  securityGroup: 'aws:ec2/securityGroup:SecurityGroup',
  vault: 'aws:backup/vault:Vault',
  helmRelease: 'kubernetes:helm.sh/v3:Release',
  helmChartV4: 'kubernetes:helm.sh/v4:Chart',
} as const;

function record(value: unknown): Props {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Props) : {};
}
function list(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}
function who(args: ResourceValidationArgs): string {
  return `${args.type} "${args.name}"`;
}
function environmentOf(props: Props): string | undefined {
  const env = record(props.tags).env;
  return typeof env === 'string' ? env : undefined;
}
function isTrue(value: unknown): boolean {
  return value === true || value === 'true';
}

/** Runs `check` only for resources of the listed types. */
function forTypes(
  types: readonly string[],
  check: (args: ResourceValidationArgs, report: ReportViolation) => void,
): (args: ResourceValidationArgs, report: ReportViolation) => void {
  return (args, report) => {
    if (types.includes(args.type)) check(args, report);
  };
}

export const encryptedStorage: ResourceValidationPolicy = {
  name: 'encrypted-storage',
  description: 'Data at rest is encrypted: RDS, S3, ElastiCache, EBS volumes and EKS Secrets.',
  enforcementLevel: 'mandatory',
  validateResource: forTypes(
    [T.rds, T.bucketEncryption, T.redis, T.volume, T.launchTemplate, T.storageClass, T.eks],
    (args, report) => {
      const p = args.props;
      switch (args.type) {
        case T.rds:
          if (p.storageEncrypted !== true)
            report(
              `${who(args)} has storageEncrypted=${String(p.storageEncrypted)}: set storageEncrypted: true with a KMS kmsKeyId.`,
            );
          break;
        case T.bucketEncryption: {
          const algorithms = list(p.rules).map(
            (rule) => record(record(rule).applyServerSideEncryptionByDefault).sseAlgorithm,
          );
          if (!algorithms.some((algorithm) => algorithm === 'aws:kms' || algorithm === 'aws:kms:dsse'))
            report(
              `${who(args)} encrypts with ${JSON.stringify(algorithms)}: use sseAlgorithm "aws:kms" with our key.`,
            );
          break;
        }
        case T.redis:
          if (p.atRestEncryptionEnabled !== true || p.transitEncryptionEnabled !== true)
            report(
              `${who(args)} has atRestEncryptionEnabled=${String(p.atRestEncryptionEnabled)}, ` +
                `transitEncryptionEnabled=${String(p.transitEncryptionEnabled)}: set both to true.`,
            );
          break;
        case T.volume:
          if (p.encrypted !== true) report(`${who(args)} is not encrypted: set encrypted: true.`);
          break;
        case T.launchTemplate:
          for (const mapping of list(p.blockDeviceMappings)) {
            const ebs = record(record(mapping).ebs);
            if (!isTrue(ebs.encrypted))
              report(`${who(args)} maps ${String(record(mapping).deviceName)} unencrypted: set ebs.encrypted: "true".`);
          }
          break;
        case T.storageClass:
          if (p.provisioner === 'ebs.csi.aws.com' && record(p.parameters).encrypted !== 'true')
            report(`${who(args)} provisions unencrypted EBS volumes: set parameters.encrypted: "true".`);
          break;
        case T.eks: {
          const resources = list(record(p.encryptionConfig).resources);
          if (!resources.includes('secrets'))
            report(
              `${who(args)} does not envelope-encrypt Secrets: set encryptionConfig { resources: ["secrets"] } with a KMS key.`,
            );
          break;
        }
      }
    },
  ),
};

export const MIN_BACKUP_RETENTION_DAYS = 7;

export const backupRetention: ResourceValidationPolicy = {
  name: 'backup-retention',
  description: `Backups are kept at least ${MIN_BACKUP_RETENTION_DAYS} days (RDS automated backups, AWS Backup plans); Redis keeps snapshots.`,
  enforcementLevel: 'mandatory',
  validateResource: forTypes([T.rds, T.backupPlan, T.redis], (args, report) => {
    const p = args.props;
    if (args.type === T.rds) {
      const days = Number(p.backupRetentionPeriod ?? 0);
      if (days < MIN_BACKUP_RETENTION_DAYS)
        report(
          `${who(args)} keeps automated backups ${days} day(s): set backupRetentionPeriod to ${MIN_BACKUP_RETENTION_DAYS} or more (35 in prod).`,
        );
    } else if (args.type === T.backupPlan) {
      for (const rule of list(p.rules)) {
        const days = Number(record(record(rule).lifecycle).deleteAfter ?? Infinity);
        if (days < MIN_BACKUP_RETENTION_DAYS)
          report(
            `${who(args)} rule ${String(record(rule).ruleName)} deletes recovery points after ${days} day(s): keep them ${MIN_BACKUP_RETENTION_DAYS} or more.`,
          );
      }
    } else if (Number(p.snapshotRetentionLimit ?? 0) < 1) {
      report(`${who(args)} keeps no snapshots: set snapshotRetentionLimit to 1 or more.`);
    }
  }),
};

const DATA_PORTS = [5432, 6379];

export const noPublicData: ResourceValidationPolicy = {
  name: 'no-public-data',
  description: 'No public S3 bucket, no publicly accessible database, no data port open to the internet.',
  enforcementLevel: 'mandatory',
  validateResource: forTypes([T.bucketPublicAccess, T.bucket, T.bucketAcl, T.rds, T.securityGroup], (args, report) => {
    const p = args.props;
    switch (args.type) {
      case T.bucketPublicAccess: {
        const open = ['blockPublicAcls', 'blockPublicPolicy', 'ignorePublicAcls', 'restrictPublicBuckets'].filter(
          (flag) => p[flag] !== true,
        );
        if (open.length > 0) report(`${who(args)} leaves ${open.join(', ')} off: set all four to true.`);
        break;
      }
      case T.bucket:
      case T.bucketAcl:
        if (typeof p.acl === 'string' && p.acl.startsWith('public'))
          report(`${who(args)} has acl "${p.acl}": remove it; buckets are private.`);
        break;
      case T.rds:
        if (p.publiclyAccessible === true)
          report(`${who(args)} is publicly accessible: set publiclyAccessible: false; clients reach it from the VPC.`);
        break;
      case T.securityGroup:
        for (const rule of list(p.ingress)) {
          const r = record(rule);
          const from = Number(r.fromPort);
          const to = Number(r.toPort);
          const world = list(r.cidrBlocks).includes('0.0.0.0/0') || list(r.ipv6CidrBlocks).includes('::/0');
          const dataPort = DATA_PORTS.find((port) => from <= port && port <= to);
          if (world && dataPort !== undefined)
            report(`${who(args)} opens port ${dataPort} to the internet: allow only the cluster's security group.`);
        }
        break;
    }
  }),
};

export const prodDataDeletionProtection: ResourceValidationPolicy = {
  name: 'prod-data-deletion-protection',
  description: 'In prod, databases, caches, buckets and vaults refuse deletion and keep a final snapshot.',
  enforcementLevel: 'mandatory',
  validateResource: forTypes([T.rds, T.redis, T.bucket, T.vault], (args, report) => {
    const p = args.props;
    if (environmentOf(p) !== 'prod') return;
    if (!args.opts.protect)
      report(`${who(args)} is prod data without Pulumi protect: create it with { protect: true }.`);
    if (args.type === T.rds) {
      if (p.deletionProtection !== true) report(`${who(args)} has deletionProtection off: set it to true in prod.`);
      if (p.skipFinalSnapshot === true || typeof p.finalSnapshotIdentifier !== 'string')
        report(
          `${who(args)} would be deleted without a final snapshot: set skipFinalSnapshot: false and finalSnapshotIdentifier.`,
        );
    }
    if (args.type === T.redis && typeof p.finalSnapshotIdentifier !== 'string')
      report(`${who(args)} would be deleted without a final snapshot: set finalSnapshotIdentifier.`);
    if (args.type === T.bucket && p.forceDestroy === true)
      report(`${who(args)} has forceDestroy: true, which deletes every backup with it: remove it in prod.`);
  }),
};

export const requiredTags: ResourceValidationPolicy = {
  name: 'required-tags',
  description: `Every taggable AWS resource carries ${REQUIRED_TAGS.join(', ')} (env one of ${ENVIRONMENTS.join(', ')}).`,
  enforcementLevel: 'mandatory',
  validateResource: forTypes(TAGGABLE_TYPES, (args, report) => {
    const tags = record(args.props.tags);
    const missing = REQUIRED_TAGS.filter((tag) => typeof tags[tag] !== 'string' || tags[tag] === '');
    if (missing.length > 0)
      report(`${who(args)} lacks the tag(s) ${missing.join(', ')}: add them (see infra/src/tags.ts).`);
    const env = tags.env;
    if (typeof env === 'string' && env !== '' && !(ENVIRONMENTS as readonly string[]).includes(env))
      report(`${who(args)} has env tag "${env}": use one of ${ENVIRONMENTS.join(', ')}.`);
  }),
};

export const approvedInstanceClasses: ResourceValidationPolicy = {
  name: 'approved-instance-classes',
  description: 'Databases, caches and nodes use instance classes approved for their environment (cost control).',
  enforcementLevel: 'mandatory',
  validateResource: forTypes([T.rds, T.redis, T.nodeGroup], (args, report) => {
    const p = args.props;
    const env = environmentOf(p);
    if (env === undefined || !(ENVIRONMENTS as readonly string[]).includes(env)) {
      report(
        `${who(args)} has no valid env tag, so its instance class cannot be checked: tag it env=dev|staging|prod.`,
      );
      return;
    }
    const approved = APPROVED_INSTANCE_CLASSES[env as Environment];
    const [kind, chosen] =
      args.type === T.rds
        ? (['database', [p.instanceClass]] as const)
        : args.type === T.redis
          ? (['cache', [p.nodeType]] as const)
          : (['node', list(p.instanceTypes)] as const);
    for (const value of chosen)
      if (typeof value !== 'string' || !approved[kind].includes(value))
        report(
          `${who(args)} uses ${String(value)}, not approved for ${env}: pick one of ${approved[kind].join(', ')} ` +
            '(or change APPROVED_INSTANCE_CLASSES in policies/src/policies.ts, reviewed).',
        );
  }),
};

/** Where each workload kind keeps its pod spec(s). */
export function podSpecs(type: string, props: Props): { where: string; spec: Props }[] {
  const spec = record(props.spec);
  const template = (path: string, value: unknown) => ({ where: path, spec: record(record(value).spec) });
  switch (type) {
    case 'kubernetes:core/v1:Pod':
      return [{ where: 'spec', spec }];
    case 'kubernetes:apps/v1:Deployment':
    case 'kubernetes:apps/v1:StatefulSet':
    case 'kubernetes:apps/v1:DaemonSet':
    case 'kubernetes:apps/v1:ReplicaSet':
    case 'kubernetes:batch/v1:Job':
    case 'kubernetes:argoproj.io/v1alpha1:Rollout':
      return [template('spec.template', spec.template)];
    case 'kubernetes:batch/v1:CronJob':
      return [template('spec.jobTemplate.spec.template', record(record(spec.jobTemplate).spec).template)];
    case 'kubernetes:argoproj.io/v1alpha1:AnalysisTemplate':
      return list(spec.metrics)
        .map((metric, index) => ({ metric: record(metric), index }))
        .filter(({ metric }) => record(metric.provider).job !== undefined)
        .map(({ metric, index }) =>
          template(
            `spec.metrics[${index}].provider.job.spec.template`,
            record(record(record(metric.provider).job).spec).template,
          ),
        );
    default:
      return [];
  }
}

function containers(spec: Props): Props[] {
  return [...list(spec.initContainers), ...list(spec.containers)].map(record);
}

function workloadPolicy(
  name: string,
  description: string,
  check: (container: Props, pod: Props, where: string, args: ResourceValidationArgs, report: ReportViolation) => void,
): ResourceValidationPolicy {
  return {
    name,
    description,
    enforcementLevel: 'mandatory',
    validateResource: (args, report) => {
      for (const { where, spec } of podSpecs(args.type, args.props))
        for (const container of containers(spec)) check(container, spec, where, args, report);
    },
  };
}

export const containersNonRootWithLimits = workloadPolicy(
  'containers-non-root-with-limits',
  'Every container runs as non-root, without privilege escalation, with CPU and memory limits.',
  (container, pod, where, args, report) => {
    const name = String(container.name);
    const security = record(container.securityContext);
    const nonRoot = security.runAsNonRoot ?? record(pod.securityContext).runAsNonRoot;
    if (nonRoot !== true)
      report(`${who(args)} ${where} container ${name} may run as root: set securityContext.runAsNonRoot: true.`);
    if (security.allowPrivilegeEscalation !== false)
      report(
        `${who(args)} ${where} container ${name} allows privilege escalation: set allowPrivilegeEscalation: false.`,
      );
    const limits = record(record(container.resources).limits);
    const missing = ['cpu', 'memory'].filter((resource) => limits[resource] === undefined);
    if (missing.length > 0)
      report(`${who(args)} ${where} container ${name} has no ${missing.join(' or ')} limit: set resources.limits.`);
  },
);

export const DIGEST_PINNED = /@sha256:[0-9a-f]{64}$/;

export const imagesPinnedByDigest = workloadPolicy(
  'images-pinned-by-digest',
  'Every container image is pinned by digest (repository@sha256:…), never by a tag such as :latest.',
  (container, _pod, where, args, report) => {
    const image = container.image;
    if (typeof image !== 'string' || !DIGEST_PINNED.test(image))
      report(
        `${who(args)} ${where} container ${String(container.name)} uses image ${JSON.stringify(image)}: ` +
          'pin it as repository@sha256:<64 hex> (the release pipeline writes the digest).',
      );
  },
);

const EXACT_VERSION = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

export const helmChartsPinned: ResourceValidationPolicy = {
  name: 'helm-charts-pinned',
  description: 'Every Helm chart is installed at one exact version, never a range or "latest".',
  enforcementLevel: 'mandatory',
  validateResource: forTypes([T.helmRelease, T.helmChartV4], (args, report) => {
    const version: unknown = args.props.version;
    if (typeof version !== 'string' || !EXACT_VERSION.test(version))
      report(
        `${who(args)} installs chart ${String(args.props.chart)} at version ${JSON.stringify(version ?? null)}: ` +
          'pin an exact version such as 1.2.3.',
      );
  }),
};

/** Every mandatory policy, in the order the pack lists them. */
export const mandatoryPolicies: readonly ResourceValidationPolicy[] = [
  encryptedStorage,
  backupRetention,
  noPublicData,
  prodDataDeletionProtection,
  requiredTags,
  approvedInstanceClasses,
  containersNonRootWithLimits,
  imagesPinnedByDigest,
  helmChartsPinned,
];
