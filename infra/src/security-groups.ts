import * as aws from '@pulumi/aws';
import type * as pulumi from '@pulumi/pulumi';

import { named, type Tags } from './tags.js';

/** Where a data store (PostgreSQL, Redis) sits: private subnets of the VPC, reachable from the cluster nodes only. */
export interface PrivateDataStoreArgs {
  /** The resource's name, for descriptions and the Name tag. */
  readonly name: string;
  readonly vpcId: pulumi.Input<string>;
  readonly subnetIds: pulumi.Input<string>[];
  /** The only security group allowed to connect: the cluster's nodes. */
  readonly clientSecurityGroupId: pulumi.Input<string>;
  /** Refuse deletion of the data: Pulumi protect, and the store's own deletion protection and final snapshot. */
  readonly protectData: boolean;
  readonly tags: Tags;
}

export interface ClusterOnlySecurityGroupArgs extends Pick<
  PrivateDataStoreArgs,
  'name' | 'vpcId' | 'clientSecurityGroupId' | 'tags'
> {
  /** The protocol served, in the description: `Redis`, `PostgreSQL`. */
  readonly serves: string;
  readonly port: number;
}

/** A security group that lets the cluster nodes, and nothing else, reach one TCP port. */
export function clusterOnlySecurityGroup(
  name: string,
  args: ClusterOnlySecurityGroupArgs,
  opts: pulumi.CustomResourceOptions,
): aws.ec2.SecurityGroup {
  return new aws.ec2.SecurityGroup(
    name,
    {
      vpcId: args.vpcId,
      description: `${args.name}: ${args.serves} from the cluster nodes only`,
      ingress: [
        {
          protocol: 'tcp',
          fromPort: args.port,
          toPort: args.port,
          securityGroups: [args.clientSecurityGroupId],
          description: 'cluster nodes',
        },
      ],
      tags: named(args.tags, args.name),
    },
    opts,
  );
}
