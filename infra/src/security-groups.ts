import * as aws from '@pulumi/aws';
import type * as pulumi from '@pulumi/pulumi';

import { named, type Tags } from './tags.js';

export interface ClusterOnlySecurityGroupArgs {
  readonly vpcId: pulumi.Input<string>;
  /** The cluster nodes' security group, the only one let in. */
  readonly clientSecurityGroupId: pulumi.Input<string>;
  /** The resource's name, for the description and the Name tag. */
  readonly name: string;
  /** The protocol served, in the description: `Redis`, `PostgreSQL`. */
  readonly serves: string;
  readonly port: number;
  readonly tags: Tags;
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
