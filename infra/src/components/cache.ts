import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';

import { rotatingKey } from '../kms.js';
import { clusterOnlySecurityGroup, type PrivateDataStoreArgs } from '../security-groups.js';
import { named } from '../tags.js';

export interface CacheArgs extends PrivateDataStoreArgs {
  readonly nodeType: string;
  /** Replicas besides the primary; 1 or more turns on automatic failover across zones. */
  readonly replicaCount: number;
  readonly snapshotRetentionDays: number;
}

/**
 * ElastiCache Redis 7 with TLS, an auth token, encryption at rest and daily snapshots. It holds the worker's BullMQ
 * queue as well as the cache, so nothing is evicted (noeviction: cache keys expire by their TTL) and, with replicas,
 * Multi-AZ failover keeps accepted jobs when a node dies. ElastiCache offers no AOF on Redis 7 replication groups, and
 * its durability log needs Valkey 9 with cluster mode on; replicas plus snapshots are its answer for this group.
 */
export class Cache extends pulumi.ComponentResource {
  public readonly primaryEndpoint: pulumi.Output<string>;
  /** Secret: rediss:// URL with the auth token. */
  public readonly url: pulumi.Output<string>;

  constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super('slipway:cache:Cache', name, {}, opts);
    const parent = { parent: this };

    const key = rotatingKey(
      `${name}-key`,
      { description: `${args.name}: Redis data and snapshots`, tags: args.tags, tagName: args.name },
      parent,
    );
    const subnets = new aws.elasticache.SubnetGroup(
      `${name}-subnets`,
      { subnetIds: args.subnetIds, description: `${args.name}: private subnets`, tags: named(args.tags, args.name) },
      parent,
    );
    const securityGroup = clusterOnlySecurityGroup(`${name}-sg`, { ...args, serves: 'Redis', port: 6379 }, parent);
    const parameters = new aws.elasticache.ParameterGroup(
      `${name}-params`,
      {
        family: 'redis7',
        description: `${args.name}: never evict (the job queue lives here; cache keys expire by TTL)`,
        // BullMQ requires noeviction: an evicted job or lock key loses or repeats a job without a trace.
        parameters: [{ name: 'maxmemory-policy', value: 'noeviction' }],
        tags: named(args.tags, args.name),
      },
      parent,
    );
    const authToken = new random.RandomPassword(`${name}-auth-token`, { length: 64, special: false }, parent);
    const failover = args.replicaCount > 0;
    const group = new aws.elasticache.ReplicationGroup(
      `${name}-redis`,
      {
        replicationGroupId: args.name,
        description: `${args.name}: erp-api cache, sessions and job queue`,
        engine: 'redis',
        engineVersion: '7.1',
        nodeType: args.nodeType,
        numCacheClusters: 1 + args.replicaCount,
        automaticFailoverEnabled: failover,
        multiAzEnabled: failover,
        port: 6379,
        parameterGroupName: parameters.name,
        subnetGroupName: subnets.name,
        securityGroupIds: [securityGroup.id],
        atRestEncryptionEnabled: true,
        kmsKeyId: key.arn,
        transitEncryptionEnabled: true,
        authToken: pulumi.secret(authToken.result),
        snapshotRetentionLimit: args.snapshotRetentionDays,
        snapshotWindow: '01:00-02:00',
        maintenanceWindow: 'sun:04:30-sun:05:30',
        finalSnapshotIdentifier: args.protectData ? `${args.name}-final` : undefined,
        tags: named(args.tags, args.name),
      },
      { parent: this, protect: args.protectData },
    );

    this.primaryEndpoint = group.primaryEndpointAddress;
    this.url = pulumi.secret(pulumi.interpolate`rediss://:${authToken.result}@${group.primaryEndpointAddress}:6379/0`);
    this.registerOutputs({ primaryEndpoint: this.primaryEndpoint });
  }
}
