import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

import { logGroupKey } from '../log-encryption.js';
import { named, type Tags } from '../tags.js';
import { serviceTrustPolicy } from '../trust.js';

export interface NetworkArgs {
  readonly name: string;
  readonly cidr: string;
  /** Zones to spread subnets over (2 or 3). */
  readonly availabilityZoneCount: number;
  /** One NAT gateway per zone; otherwise one shared NAT gateway. */
  readonly natGatewayPerAz: boolean;
  readonly flowLogRetentionDays: number;
  /** The stack's region: its CloudWatch Logs service encrypts the flow logs. */
  readonly region: string;
  readonly tags: Tags;
}

/** Splits a /16 into the n-th /20 (public) or /19 (private) block. */
function subnetCidr(vpcCidr: string, kind: 'public' | 'private', index: number): string {
  const [a, b] = vpcCidr.split('.');
  // public: 10.x.0.0/20, 10.x.16.0/20, 10.x.32.0/20; private: 10.x.64.0/19, 10.x.96.0/19, 10.x.128.0/19
  const third = kind === 'public' ? index * 16 : 64 + index * 32;
  return `${a ?? '10'}.${b ?? '0'}.${third}.0/${kind === 'public' ? 20 : 19}`;
}

/** A VPC with public and private subnets in each zone, NAT for the private ones, and flow logs. */
export class Network extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  public readonly vpcCidr: string;
  public readonly publicSubnetIds: pulumi.Output<string>[];
  public readonly privateSubnetIds: pulumi.Output<string>[];
  public readonly natGatewayCount: number;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('slipway:network:Network', name, {}, opts);
    const parent = { parent: this };

    const zones = aws.getAvailabilityZonesOutput({ state: 'available' }, parent);
    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      { cidrBlock: args.cidr, enableDnsHostnames: true, enableDnsSupport: true, tags: named(args.tags, args.name) },
      parent,
    );
    const internetGateway = new aws.ec2.InternetGateway(
      `${name}-igw`,
      { vpcId: vpc.id, tags: named(args.tags, args.name) },
      parent,
    );

    const publicRoutes = new aws.ec2.RouteTable(
      `${name}-public`,
      {
        vpcId: vpc.id,
        routes: [{ cidrBlock: '0.0.0.0/0', gatewayId: internetGateway.id }],
        tags: named(args.tags, `${args.name}-public`),
      },
      parent,
    );

    const publicSubnets: aws.ec2.Subnet[] = [];
    const privateSubnets: aws.ec2.Subnet[] = [];
    for (let index = 0; index < args.availabilityZoneCount; index++) {
      const zone = zones.names.apply((names) => {
        const zoneName = names[index];
        if (zoneName === undefined) throw new Error(`the region has ${names.length} zones; ${index + 1} are needed`);
        return zoneName;
      });
      const publicSubnet = new aws.ec2.Subnet(
        `${name}-public-${index}`,
        {
          vpcId: vpc.id,
          availabilityZone: zone,
          cidrBlock: subnetCidr(args.cidr, 'public', index),
          mapPublicIpOnLaunch: false,
          // Lets the AWS load balancer controller place internet-facing load balancers here.
          tags: { ...named(args.tags, `${args.name}-public-${index}`), 'kubernetes.io/role/elb': '1' },
        },
        parent,
      );
      new aws.ec2.RouteTableAssociation(
        `${name}-public-${index}`,
        { subnetId: publicSubnet.id, routeTableId: publicRoutes.id },
        parent,
      );
      publicSubnets.push(publicSubnet);
      privateSubnets.push(
        new aws.ec2.Subnet(
          `${name}-private-${index}`,
          {
            vpcId: vpc.id,
            availabilityZone: zone,
            cidrBlock: subnetCidr(args.cidr, 'private', index),
            tags: { ...named(args.tags, `${args.name}-private-${index}`), 'kubernetes.io/role/internal-elb': '1' },
          },
          parent,
        ),
      );
    }

    // Prod: a NAT gateway per zone, so losing one zone does not cut the others off. Elsewhere one is enough.
    this.natGatewayCount = args.natGatewayPerAz ? args.availabilityZoneCount : 1;
    const natGateways: aws.ec2.NatGateway[] = [];
    for (let index = 0; index < this.natGatewayCount; index++) {
      const address = new aws.ec2.Eip(
        `${name}-nat-${index}`,
        { domain: 'vpc', tags: named(args.tags, `${args.name}-nat-${index}`) },
        parent,
      );
      const subnet = publicSubnets[index];
      if (subnet === undefined) throw new Error(`no public subnet ${index} for NAT gateway ${index}`);
      natGateways.push(
        new aws.ec2.NatGateway(
          `${name}-nat-${index}`,
          { allocationId: address.id, subnetId: subnet.id, tags: named(args.tags, `${args.name}-nat-${index}`) },
          { parent: this, dependsOn: [internetGateway] },
        ),
      );
    }
    privateSubnets.forEach((subnet, index) => {
      const nat = natGateways[args.natGatewayPerAz ? index : 0];
      if (nat === undefined) throw new Error(`no NAT gateway for private subnet ${index}`);
      const routes = new aws.ec2.RouteTable(
        `${name}-private-${index}`,
        {
          vpcId: vpc.id,
          routes: [{ cidrBlock: '0.0.0.0/0', natGatewayId: nat.id }],
          tags: named(args.tags, `${args.name}-private-${index}`),
        },
        parent,
      );
      new aws.ec2.RouteTableAssociation(
        `${name}-private-${index}`,
        { subnetId: subnet.id, routeTableId: routes.id },
        parent,
      );
    });

    // A known name, so the key policy can name the one log group the key is for.
    const flowLogGroupName = `/aws/vpc/${args.name}/flow-logs`;
    const flowLogKey = logGroupKey(
      `${name}-flow-logs-key`,
      {
        region: args.region,
        logGroupName: flowLogGroupName,
        description: `${args.name}: VPC flow logs`,
        tags: args.tags,
      },
      parent,
    );
    const flowLogGroup = new aws.cloudwatch.LogGroup(
      `${name}-flow-logs`,
      {
        name: flowLogGroupName,
        retentionInDays: args.flowLogRetentionDays,
        kmsKeyId: flowLogKey.arn,
        tags: named(args.tags, `${args.name}-flow-logs`),
      },
      parent,
    );
    const flowLogRole = new aws.iam.Role(
      `${name}-flow-logs`,
      {
        assumeRolePolicy: serviceTrustPolicy(
          'vpc-flow-logs.amazonaws.com',
          (accountId) => `arn:aws:ec2:${args.region}:${accountId}:vpc-flow-log/*`,
          parent,
        ),
        tags: named(args.tags, `${args.name}-flow-logs`),
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${name}-flow-logs`,
      {
        role: flowLogRole.id,
        policy: flowLogGroup.arn.apply((arn) =>
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
                Resource: [arn, `${arn}:*`],
              },
            ],
          }),
        ),
      },
      parent,
    );
    new aws.ec2.FlowLog(
      `${name}-flow-logs`,
      {
        vpcId: vpc.id,
        trafficType: 'ALL',
        logDestinationType: 'cloud-watch-logs',
        logDestination: flowLogGroup.arn,
        iamRoleArn: flowLogRole.arn,
        tags: named(args.tags, `${args.name}-flow-logs`),
      },
      parent,
    );

    this.vpcId = vpc.id;
    this.vpcCidr = args.cidr;
    this.publicSubnetIds = publicSubnets.map((subnet) => subnet.id);
    this.privateSubnetIds = privateSubnets.map((subnet) => subnet.id);
    this.registerOutputs({
      vpcId: this.vpcId,
      publicSubnetIds: this.publicSubnetIds,
      privateSubnetIds: this.privateSubnetIds,
    });
  }
}
