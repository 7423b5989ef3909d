import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';

import { POSTGRES_MAJOR_VERSION } from '@slipway/app/backup/postgres';
import { rotatingKey } from '../kms.js';
import { clusterOnlySecurityGroup, type PrivateDataStoreArgs } from '../security-groups.js';
import { named } from '../tags.js';

export interface DatabaseArgs extends PrivateDataStoreArgs {
  readonly instanceClass: string;
  readonly allocatedStorageGib: number;
  readonly maxAllocatedStorageGib: number;
  readonly multiAz: boolean;
  readonly backupRetentionDays: number;
}

export const DATABASE_NAME = 'erp';
export const ADMIN_USER = 'erp_admin';
/** The role the app connects as; the migration job creates it with least privilege. */
export const APP_ROLE = 'erp_app';
/** The read-only role `audit verify` connects as (app/migrations/0008): SELECT on audit_logs and nothing else. */
export const AUDIT_ROLE = 'erp_audit_reader';

/**
 * RDS PostgreSQL at the app image's client major version (POSTGRES_MAJOR_VERSION: pg_dump refuses a newer server):
 * KMS-encrypted, backed up with point-in-time recovery, reachable only from the nodes. */
export class Database extends pulumi.ComponentResource {
  public readonly instanceArn: pulumi.Output<string>;
  public readonly address: pulumi.Output<string>;
  public readonly port: pulumi.Output<number>;
  /** Secret: the master user's URL, for the migration and backup jobs only. */
  public readonly adminUrl: pulumi.Output<string>;
  /** Secret: the app role's URL. */
  public readonly appUrl: pulumi.Output<string>;
  /** Secret: the app role's password, handed to the migration job that creates the role. */
  public readonly appPassword: pulumi.Output<string>;
  /** Secret: the audit reader's URL and password (the migration job gives the role its login). */
  public readonly auditUrl: pulumi.Output<string>;
  public readonly auditPassword: pulumi.Output<string>;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super('slipway:database:Database', name, {}, opts);
    const parent = { parent: this };

    const key = rotatingKey(
      `${name}-key`,
      { description: `${args.name}: storage, snapshots and Performance Insights`, tags: args.tags, tagName: args.name },
      { parent: this, protect: args.protectData },
    );
    const subnets = new aws.rds.SubnetGroup(
      `${name}-subnets`,
      { subnetIds: args.subnetIds, tags: named(args.tags, args.name) },
      parent,
    );
    const securityGroup = clusterOnlySecurityGroup(`${name}-sg`, { ...args, serves: 'PostgreSQL', port: 5432 }, parent);
    const parameters = new aws.rds.ParameterGroup(
      `${name}-params`,
      {
        family: `postgres${POSTGRES_MAJOR_VERSION}`,
        description: `${args.name}: slow query log, TLS only`,
        parameters: [
          { name: 'log_min_duration_statement', value: '100' },
          { name: 'rds.force_ssl', value: '1' },
        ],
        tags: named(args.tags, args.name),
      },
      parent,
    );

    const masterPassword = new random.RandomPassword(`${name}-master-password`, { length: 40, special: false }, parent);
    const appPassword = new random.RandomPassword(`${name}-app-password`, { length: 40, special: false }, parent);
    const auditPassword = new random.RandomPassword(`${name}-audit-password`, { length: 40, special: false }, parent);

    const instance = new aws.rds.Instance(
      `${name}-postgres`,
      {
        identifier: args.name,
        engine: 'postgres',
        engineVersion: String(POSTGRES_MAJOR_VERSION),
        instanceClass: args.instanceClass,
        allocatedStorage: args.allocatedStorageGib,
        maxAllocatedStorage: args.maxAllocatedStorageGib,
        storageType: 'gp3',
        storageEncrypted: true,
        kmsKeyId: key.arn,
        dbName: DATABASE_NAME,
        username: ADMIN_USER,
        password: pulumi.secret(masterPassword.result),
        dbSubnetGroupName: subnets.name,
        vpcSecurityGroupIds: [securityGroup.id],
        parameterGroupName: parameters.name,
        publiclyAccessible: false,
        multiAz: args.multiAz,
        // Automated backups with this retention are what point-in-time recovery restores from.
        backupRetentionPeriod: args.backupRetentionDays,
        backupWindow: '02:00-03:00',
        maintenanceWindow: 'sun:03:30-sun:04:30',
        copyTagsToSnapshot: true,
        deletionProtection: args.protectData,
        skipFinalSnapshot: !args.protectData,
        finalSnapshotIdentifier: args.protectData ? `${args.name}-final` : undefined,
        performanceInsightsEnabled: true,
        performanceInsightsKmsKeyId: key.arn,
        performanceInsightsRetentionPeriod: 7,
        enabledCloudwatchLogsExports: ['postgresql', 'upgrade'],
        autoMinorVersionUpgrade: true,
        applyImmediately: false,
        tags: named(args.tags, args.name),
      },
      { parent: this, protect: args.protectData },
    );

    const url = (user: string, password: pulumi.Input<string>) =>
      pulumi.secret(
        pulumi.interpolate`postgres://${user}:${password}@${instance.address}:${instance.port}/${DATABASE_NAME}?sslmode=require`,
      );
    this.instanceArn = instance.arn;
    this.address = instance.address;
    this.port = instance.port;
    this.adminUrl = url(ADMIN_USER, masterPassword.result);
    this.appUrl = url(APP_ROLE, appPassword.result);
    this.appPassword = pulumi.secret(appPassword.result);
    this.auditUrl = url(AUDIT_ROLE, auditPassword.result);
    this.auditPassword = pulumi.secret(auditPassword.result);
    this.registerOutputs({ instanceArn: this.instanceArn, address: this.address, port: this.port });
  }
}
