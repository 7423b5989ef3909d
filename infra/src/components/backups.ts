import * as aws from '@pulumi/aws';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

import { rotatingKey } from '../kms.js';
import { named, type Tags } from '../tags.js';
import { MONITORING_NAMESPACE, PUSHGATEWAY_PORT, PUSHGATEWAY_URL } from './observability.js';
import { serviceAccountTrustPolicy } from './cluster.js';
import { CONTAINER_SECURITY, JOB_RESOURCES, POD_SECURITY, TMP_MOUNT, TMP_VOLUME } from '../workload.js';

export interface BackupsArgs {
  readonly name: string;
  readonly region: string;
  readonly provider: k8s.Provider;
  /** The app image, whose `backup` entry point dumps, verifies, uploads and checksums. */
  readonly image: string;
  readonly namespace: string;
  /** The cluster's IRSA provider: only the backup jobs' service account gets an AWS role. */
  readonly oidcProviderArn: pulumi.Input<string>;
  readonly oidcIssuerUrl: pulumi.Input<string>;
  /** Secret with the admin DATABASE_URL. */
  readonly adminSecretName: string;
  /** Secret with the read-only audit role's DATABASE_URL: all `audit verify` needs. */
  readonly auditSecretName: string;
  /** Secret with the app's runtime settings: the restore drill takes REDIS_URL from it for the readiness check. */
  readonly runtimeSecretName: string;
  readonly databaseArn: pulumi.Input<string>;
  readonly dataCidr: string;
  /** Days each AWS Backup recovery point is kept. */
  readonly retentionDays: number;
  /** Region receiving a copy of every recovery point; empty for none. */
  readonly copyRegion: string;
  readonly protectData: boolean;
  readonly tags: Tags;
}

export const BACKUP_ACCOUNT = 'erp-api-backup';
/** Days a compliance-mode vault lock can still be removed after it is set; then it is permanent. */
export const VAULT_LOCK_GRACE_DAYS = 3;
export const AUDIT_ACCOUNT = 'erp-api-audit';
/** The restore drill's own account: it reads backups and writes nothing to the bucket. */
export const RESTORE_DRILL_ACCOUNT = 'erp-api-restore-drill';
/** The scratch database the drill restores into and drops again. */
export const RESTORE_DRILL_DATABASE = 'erp_restore_drill';
/** Where the drill keeps the downloaded dump: a volume of its own, since /tmp is a 256 MiB emptyDir. */
export const RESTORE_SCRATCH_PATH = '/scratch';
/** The scratch volume's size: room for the compressed dump (217 MB for a 1 GB database) with a wide margin. */
export const RESTORE_SCRATCH_SIZE = '20Gi';
/** The drill's entry point: restore the newest backup into the scratch database, check it, measure, push. */
export const RESTORE_DRILL_ARGS = [
  'drill',
  '--into',
  RESTORE_DRILL_DATABASE,
  '--scratch-dir',
  RESTORE_SCRATCH_PATH,
] as const;

/**
 * The drill's scratch space: a generic ephemeral volume (an encrypted gp3 claim made with the pod and deleted with it),
 * so the dump's size is bounded by the claim, not by the node's disk.
 */
const RESTORE_SCRATCH_VOLUME = {
  name: 'scratch',
  ephemeral: {
    volumeClaimTemplate: {
      metadata: { labels: { 'app.kubernetes.io/name': 'erp-api', 'app.kubernetes.io/component': 'backup' } },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: 'gp3-encrypted',
        resources: { requests: { storage: RESTORE_SCRATCH_SIZE } },
      },
    },
  },
};

/** The folder of audit checkpoints under the backup prefix (app/src/components/audit/checkpoint.ts). */
export const AUDIT_CHECKPOINT_FOLDER = 'audit-checkpoints/';

/** Every 6 hours, in cron for Kubernetes and for AWS Backup. */
export const BACKUP_SCHEDULE = '15 */6 * * *';
export const AWS_BACKUP_SCHEDULE = 'cron(0 */6 * * ? *)';
/** Hourly at :45: re-checks the audit log's hash chain; a break logs event="audit.integrity_failed" (Loki alert). */
export const AUDIT_VERIFY_SCHEDULE = '45 * * * *';
/** Sundays at 04:30 UTC, after the night's backups. */
export const RESTORE_DRILL_SCHEDULE = '30 4 * * 0';
/** Object prefixes the backup entry point writes to, and how long each keeps a dump: 7 daily, 4 weekly, 12 monthly. */
export const BACKUP_TIERS = [
  { prefix: 'daily/', days: 7 },
  { prefix: 'weekly/', days: 28 },
  { prefix: 'monthly/', days: 365 },
] as const;
/**
 * Days S3 Object Lock keeps every dump version from deletion or overwrite: the daily tier's, the shortest any dump is
 * kept, so the lock never outlives a tier's lifecycle (a longer default would hold every daily dump as long).
 */
export const DUMP_LOCK_DAYS = BACKUP_TIERS[0].days;
/** Days a dump version stays after its tier expires it (a delete marker), before lifecycle removes it for good. */
export const NONCURRENT_VERSION_DAYS = 7;

/**
 * Backups of the database, twice over: logical dumps in a locked-down S3 bucket (from a CronJob running the
 * app image), snapshots by AWS Backup (copied to a second region in prod), and a weekly restore drill.
 */
export class Backups extends pulumi.ComponentResource {
  public readonly bucketName: pulumi.Output<string>;
  public readonly vaultName: pulumi.Output<string>;

  constructor(name: string, args: BackupsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('slipway:backups:Backups', name, {}, opts);
    const parent = { parent: this };
    const stateful = { parent: this, protect: args.protectData };

    const key = rotatingKey(
      `${name}-key`,
      { description: `${args.name}: database dumps and recovery points`, tags: args.tags, tagName: args.name },
      stateful,
    );

    const bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      {
        bucketPrefix: `${args.name}-`,
        // Set at creation, where S3 has always allowed it; it cannot be turned off again.
        objectLockEnabled: true,
        // Outside prod the lock is in governance mode, which forceDestroy bypasses on teardown.
        forceDestroy: !args.protectData,
        tags: named(args.tags, args.name),
      },
      stateful,
    );
    const versioning = new aws.s3.BucketVersioning(
      `${name}-versioning`,
      { bucket: bucket.id, versioningConfiguration: { status: 'Enabled' } },
      parent,
    );
    // Dumps are immutable for DUMP_LOCK_DAYS: in prod not even root can shorten it (compliance mode); elsewhere only
    // a principal with s3:BypassGovernanceRetention can, which no role of this stack has.
    new aws.s3.BucketObjectLockConfiguration(
      `${name}-object-lock`,
      {
        bucket: bucket.id,
        objectLockEnabled: 'Enabled',
        rule: {
          defaultRetention: { mode: args.protectData ? 'COMPLIANCE' : 'GOVERNANCE', days: DUMP_LOCK_DAYS },
        },
      },
      { ...stateful, dependsOn: [versioning] },
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket: bucket.id,
        rules: [
          {
            applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms', kmsMasterKeyId: key.arn },
            bucketKeyEnabled: true,
          },
        ],
      },
      parent,
    );
    new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      parent,
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      {
        bucket: bucket.id,
        rules: [
          ...BACKUP_TIERS.map((tier) => ({
            id: `expire-${tier.prefix.slice(0, -1)}`,
            status: 'Enabled',
            filter: { prefix: tier.prefix },
            expiration: { days: tier.days },
            noncurrentVersionExpiration: { noncurrentDays: NONCURRENT_VERSION_DAYS },
          })),
          {
            id: 'abort-incomplete-uploads',
            status: 'Enabled',
            filter: { prefix: '' },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
          },
        ],
      },
      parent,
    );
    new aws.s3.BucketPolicy(
      `${name}-tls-only`,
      {
        bucket: bucket.id,
        policy: bucket.arn.apply((arn) =>
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'DenyInsecureTransport',
                Effect: 'Deny',
                Principal: '*',
                Action: 's3:*',
                Resource: [arn, `${arn}/*`],
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              },
            ],
          }),
        ),
      },
      parent,
    );
    // The backup and restore-drill jobs' own role: they write dumps and read them back; nothing else does.
    const jobRole = new aws.iam.Role(
      `${name}-irsa`,
      {
        assumeRolePolicy: serviceAccountTrustPolicy(
          args.oidcProviderArn,
          args.oidcIssuerUrl,
          args.namespace,
          BACKUP_ACCOUNT,
        ),
        tags: named(args.tags, `${args.name}-backup-jobs`),
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${name}-app-access`,
      {
        role: jobRole.name,
        policy: pulumi.all([bucket.arn, key.arn]).apply(([bucketArn, keyArn]) =>
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArn },
              { Effect: 'Allow', Action: ['s3:PutObject', 's3:GetObject'], Resource: `${bucketArn}/*` },
              { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: keyArn },
            ],
          }),
        ),
      },
      parent,
    );

    // Least privilege per job: the drill only reads backups; audit verify reads and writes its checkpoints only.
    const readerRole = (
      roleName: string,
      account: string,
      statements: (bucketArn: string, keyArn: string) => object[],
    ) => {
      const role = new aws.iam.Role(
        `${name}-irsa-${roleName}`,
        {
          assumeRolePolicy: serviceAccountTrustPolicy(
            args.oidcProviderArn,
            args.oidcIssuerUrl,
            args.namespace,
            account,
          ),
          tags: named(args.tags, `${args.name}-${roleName}`),
        },
        parent,
      );
      new aws.iam.RolePolicy(
        `${name}-${roleName}-access`,
        {
          role: role.name,
          policy: pulumi
            .all([bucket.arn, key.arn])
            .apply(([bucketArn, keyArn]) =>
              JSON.stringify({ Version: '2012-10-17', Statement: statements(bucketArn, keyArn) }),
            ),
        },
        parent,
      );
      return role;
    };
    const drillRole = readerRole('restore-drill', RESTORE_DRILL_ACCOUNT, (bucketArn, keyArn) => [
      { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArn },
      { Effect: 'Allow', Action: ['s3:GetObject'], Resource: `${bucketArn}/*` },
      { Effect: 'Allow', Action: ['kms:Decrypt'], Resource: keyArn },
    ]);
    const checkpoints = `${BACKUP_TIERS[0].prefix}${AUDIT_CHECKPOINT_FOLDER}`;
    const auditRole = readerRole('audit-verify', AUDIT_ACCOUNT, (bucketArn, keyArn) => [
      {
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: bucketArn,
        Condition: { StringLike: { 's3:prefix': [`${checkpoints}*`] } },
      },
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: `${bucketArn}/${checkpoints}*` },
      { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: keyArn },
    ]);

    const vault = new aws.backup.Vault(
      `${name}-vault`,
      // Outside prod a stack can be torn down with its recovery points.
      { name: args.name, kmsKeyArn: key.arn, forceDestroy: !args.protectData, tags: named(args.tags, args.name) },
      stateful,
    );
    // Recovery points cannot be deleted or shortened before their retention ends; in prod not even by root
    // (compliance mode, fixed three days after the first up), elsewhere by no one without the governance permission.
    new aws.backup.VaultLockConfiguration(
      `${name}-vault-lock`,
      {
        backupVaultName: vault.name,
        minRetentionDays: args.retentionDays,
        changeableForDays: args.protectData ? VAULT_LOCK_GRACE_DAYS : undefined,
      },
      stateful,
    );
    let copyVaultArn: pulumi.Output<string> | undefined;
    if (args.copyRegion !== '') {
      const remote = new aws.Provider(`${name}-${args.copyRegion}`, { region: args.copyRegion }, parent);
      const remoteKey = rotatingKey(
        `${name}-copy-key`,
        {
          description: `${args.name}: copies of recovery points from ${args.region}`,
          tags: args.tags,
          tagName: `${args.name}-copy`,
        },
        { ...stateful, provider: remote },
      );
      copyVaultArn = new aws.backup.Vault(
        `${name}-copy-vault`,
        { name: `${args.name}-copy`, kmsKeyArn: remoteKey.arn, tags: named(args.tags, `${args.name}-copy`) },
        { ...stateful, provider: remote },
      ).arn;
    }
    const plan = new aws.backup.Plan(
      `${name}-plan`,
      {
        name: args.name,
        rules: [
          {
            ruleName: 'every-6-hours',
            targetVaultName: vault.name,
            schedule: AWS_BACKUP_SCHEDULE,
            startWindow: 60,
            completionWindow: 300,
            lifecycle: { deleteAfter: args.retentionDays },
            recoveryPointTags: named(args.tags, args.name),
            copyActions:
              copyVaultArn === undefined
                ? undefined
                : [{ destinationVaultArn: copyVaultArn, lifecycle: { deleteAfter: args.retentionDays } }],
          },
        ],
        tags: named(args.tags, args.name),
      },
      parent,
    );
    const backupRole = new aws.iam.Role(
      `${name}-aws-backup`,
      {
        // No source condition: see SERVICES_WITHOUT_SOURCE_CONDITION in trust.ts.
        assumeRolePolicy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'backup.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        }),
        tags: named(args.tags, `${args.name}-aws-backup`),
      },
      parent,
    );
    new aws.iam.RolePolicyAttachment(
      `${name}-aws-backup`,
      {
        role: backupRole.name,
        policyArn: 'arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup',
      },
      parent,
    );
    new aws.backup.Selection(
      `${name}-database`,
      { name: `${args.name}-database`, planId: plan.id, iamRoleArn: backupRole.arn, resources: [args.databaseArn] },
      parent,
    );

    const labels = { 'app.kubernetes.io/name': 'erp-api', 'app.kubernetes.io/component': 'backup' };
    const k8sOptions = { parent: this, provider: args.provider };
    // app/src/config.ts's BACKUP_* variables: the daily tier's prefix, SSE-KMS with the backup key, and expiry by
    // the bucket lifecycle (retention 0), so the job's role needs no s3:DeleteObject.
    const env = [
      { name: 'BACKUP_BUCKET', value: bucket.bucket },
      { name: 'BACKUP_PREFIX', value: BACKUP_TIERS[0].prefix },
      { name: 'BACKUP_KMS_KEY_ID', value: key.arn },
      { name: 'BACKUP_RETENTION_DAYS', value: '0' },
      { name: 'AWS_REGION', value: args.region },
    ];
    // One service account per job kind, each with its own AWS role and without a Kubernetes API token.
    for (const [accountName, annotations] of [
      [BACKUP_ACCOUNT, { 'eks.amazonaws.com/role-arn': jobRole.arn }],
      [RESTORE_DRILL_ACCOUNT, { 'eks.amazonaws.com/role-arn': drillRole.arn }],
      [AUDIT_ACCOUNT, { 'eks.amazonaws.com/role-arn': auditRole.arn }],
    ] as const)
      new k8s.core.v1.ServiceAccount(
        `${name}-sa-${accountName}`,
        {
          metadata: { name: accountName, namespace: args.namespace, labels, annotations },
          automountServiceAccountToken: false,
        },
        k8sOptions,
      );
    const cronJob = (
      jobName: string,
      schedule: string,
      entryArgs: string[],
      extraEnv: k8s.types.input.core.v1.EnvVar[],
      serviceAccountName: string,
      databaseSecretName: string = args.adminSecretName,
      scratch = false,
    ) =>
      new k8s.batch.v1.CronJob(
        `${name}-${jobName}`,
        {
          metadata: { name: jobName, namespace: args.namespace, labels },
          spec: {
            schedule,
            timeZone: 'Etc/UTC',
            concurrencyPolicy: 'Forbid',
            startingDeadlineSeconds: 600,
            successfulJobsHistoryLimit: 3,
            failedJobsHistoryLimit: 3,
            jobTemplate: {
              spec: {
                // One retry, then the failed Job raises the backup alert.
                backoffLimit: 1,
                activeDeadlineSeconds: 3 * 3600,
                template: {
                  metadata: { labels },
                  spec: {
                    restartPolicy: 'Never',
                    serviceAccountName,
                    automountServiceAccountToken: false,
                    securityContext: POD_SECURITY,
                    volumes: scratch ? [TMP_VOLUME, RESTORE_SCRATCH_VOLUME] : [TMP_VOLUME],
                    containers: [
                      {
                        name: jobName,
                        image: args.image,
                        args: entryArgs,
                        env: [...env, ...extraEnv],
                        envFrom: [{ secretRef: { name: databaseSecretName } }],
                        securityContext: CONTAINER_SECURITY,
                        resources: JOB_RESOURCES,
                        volumeMounts: scratch
                          ? [TMP_MOUNT, { name: RESTORE_SCRATCH_VOLUME.name, mountPath: RESTORE_SCRATCH_PATH }]
                          : [TMP_MOUNT],
                      },
                    ],
                  },
                },
              },
            },
          },
        },
        k8sOptions,
      );
    // `erp-api backup`: one-snapshot pg_dump → pg_restore --list → upload → manifest (written last), into daily/.
    // Both push their last success to the Pushgateway, under this namespace (BackupMissing, RestoreDrillStale).
    const push = [
      { name: 'PUSHGATEWAY_URL', value: PUSHGATEWAY_URL },
      { name: 'PUSH_NAMESPACE', value: args.namespace },
    ];
    cronJob('database-backup', BACKUP_SCHEDULE, ['backup'], push, BACKUP_ACCOUNT);
    // `erp-api drill`: restore the newest backup into a scratch database, verify it and the app's readiness on it,
    // measure RTO and RPO, push them, drop it again. REDIS_URL only for the readiness check's PING.
    cronJob(
      'restore-drill',
      RESTORE_DRILL_SCHEDULE,
      [...RESTORE_DRILL_ARGS],
      [...push, { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: args.runtimeSecretName, key: 'REDIS_URL' } } }],
      RESTORE_DRILL_ACCOUNT,
      args.adminSecretName,
      true,
    );
    // `audit verify` walks the audit log's hash chain as the read-only audit role, against the last checkpoint in the bucket and
    // writes a new one; exit 1 and the log line mean tampering.
    cronJob('audit-verify', AUDIT_VERIFY_SCHEDULE, ['audit', 'verify'], [], AUDIT_ACCOUNT, args.auditSecretName);
    new k8s.networking.v1.NetworkPolicy(
      `${name}-netpol`,
      {
        metadata: { name: 'backup', namespace: args.namespace, labels },
        spec: {
          podSelector: { matchLabels: labels },
          policyTypes: ['Ingress', 'Egress'],
          egress: [
            {
              to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }],
              ports: [
                { protocol: 'UDP', port: 53 },
                { protocol: 'TCP', port: 53 },
              ],
            },
            { to: [{ ipBlock: { cidr: args.dataCidr } }], ports: [{ protocol: 'TCP', port: 5432 }] },
            // Redis for the drill's readiness check.
            { to: [{ ipBlock: { cidr: args.dataCidr } }], ports: [{ protocol: 'TCP', port: 6379 }] },
            // The Pushgateway next to Prometheus.
            {
              to: [
                {
                  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': MONITORING_NAMESPACE } },
                  podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus-pushgateway' } },
                },
              ],
              ports: [{ protocol: 'TCP', port: PUSHGATEWAY_PORT }],
            },
            // S3 and STS (IRSA) over HTTPS.
            { ports: [{ protocol: 'TCP', port: 443 }] },
          ],
        },
      },
      k8sOptions,
    );

    this.bucketName = bucket.bucket;
    this.vaultName = vault.name;
    this.registerOutputs({ bucketName: this.bucketName, vaultName: this.vaultName });
  }
}
