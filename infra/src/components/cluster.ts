import * as aws from '@pulumi/aws';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

import { chartResources } from '../capacity.js';
import { pinnedRelease } from '../charts.js';
import { logGroupKey } from '../log-encryption.js';
import { rotatingKey } from '../kms.js';
import { named, type Tags } from '../tags.js';
import { serviceTrustPolicy } from '../trust.js';

export interface ClusterArgs {
  readonly name: string;
  readonly version: string;
  readonly region: string;
  readonly vpcId: pulumi.Input<string>;
  readonly privateSubnetIds: pulumi.Input<string>[];
  readonly publicSubnetIds: pulumi.Input<string>[];
  /** CIDRs allowed on the public API endpoint; empty disables the public endpoint. */
  readonly publicAccessCidrs: readonly string[];
  readonly nodeInstanceType: string;
  readonly nodeMinSize: number;
  readonly nodeDesiredSize: number;
  readonly nodeMaxSize: number;
  readonly nodeDiskSizeGib: number;
  /** IAM roles in this account given cluster admin: the one deploys run as, and the break-glass one. */
  readonly deployRoleName: string;
  readonly breakGlassRoleName: string;
  readonly tags: Tags;
}

const CONTROL_PLANE_LOGS = ['api', 'audit', 'authenticator', 'controllerManager', 'scheduler'];

/** Cluster Autoscaler must match the control plane's minor version. */
const CLUSTER_AUTOSCALER_IMAGE_TAGS: Readonly<Record<string, string>> = { '1.32': 'v1.32.3', '1.33': 'v1.33.1' };
export const CLUSTER_AUTOSCALER_SERVICE_ACCOUNT = 'cluster-autoscaler';

function clusterAutoscalerTag(version: string): string {
  const tag = CLUSTER_AUTOSCALER_IMAGE_TAGS[version];
  if (tag === undefined)
    throw new Error(
      `no Cluster Autoscaler release is listed for Kubernetes ${version}: add one to CLUSTER_AUTOSCALER_IMAGE_TAGS ` +
        `in infra/src/components/cluster.ts (known: ${Object.keys(CLUSTER_AUTOSCALER_IMAGE_TAGS).join(', ')})`,
    );
  return tag;
}

/** Trust for EC2 instances, which cannot carry a source condition (see SERVICES_WITHOUT_SOURCE_CONDITION). */
function assumeRole(service: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  });
}

/** Trust policy that lets exactly one Kubernetes service account assume a role (IRSA). */
export function serviceAccountTrustPolicy(
  oidcProviderArn: pulumi.Input<string>,
  oidcIssuerUrl: pulumi.Input<string>,
  namespace: string,
  serviceAccount: string,
): pulumi.Output<string> {
  return pulumi.all([oidcProviderArn, oidcIssuerUrl]).apply(([arn, url]) => {
    const issuer = url.replace(/^https:\/\//, '');
    return JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Federated: arn },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: {
              [`${issuer}:sub`]: `system:serviceaccount:${namespace}:${serviceAccount}`,
              [`${issuer}:aud`]: 'sts.amazonaws.com',
            },
          },
        },
      ],
    });
  });
}

/**
 * EKS with a CIDR-restricted public endpoint plus the private one, KMS envelope encryption of Secrets,
 * control-plane logs, one managed node group on encrypted volumes, an OIDC provider for IRSA,
 * and a Kubernetes provider built from its kubeconfig (secret).
 */
export class Cluster extends pulumi.ComponentResource {
  public readonly clusterName: pulumi.Output<string>;
  public readonly endpoint: pulumi.Output<string>;
  /** The security group EKS puts on the control plane and every managed node. */
  public readonly nodeSecurityGroupId: pulumi.Output<string>;
  public readonly oidcProviderArn: pulumi.Output<string>;
  public readonly oidcIssuerUrl: pulumi.Output<string>;
  /** Secret: it names the cluster and how to get a token for it. */
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly provider: k8s.Provider;

  constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('slipway:cluster:Cluster', name, {}, opts);
    const parent = { parent: this };

    const secretsKey = rotatingKey(
      `${name}-secrets`,
      {
        description: `${args.name}: envelope encryption of Kubernetes Secrets`,
        tags: args.tags,
        tagName: `${args.name}-secrets`,
      },
      parent,
    );

    const clusterRole = new aws.iam.Role(
      `${name}-control-plane`,
      {
        assumeRolePolicy: serviceTrustPolicy(
          'eks.amazonaws.com',
          (accountId) => `arn:aws:eks:${args.region}:${accountId}:cluster/${args.name}`,
          parent,
        ),
        tags: named(args.tags, `${args.name}-control-plane`),
      },
      parent,
    );
    const clusterPolicy = new aws.iam.RolePolicyAttachment(
      `${name}-control-plane`,
      { role: clusterRole.name, policyArn: 'arn:aws:iam::aws:policy/AmazonEKSClusterPolicy' },
      parent,
    );

    // EKS writes to exactly this name; creating it first lets us set the retention and the key.
    const logGroupName = `/aws/eks/${args.name}/cluster`;
    const logKey = logGroupKey(
      `${name}-control-plane-logs-key`,
      {
        region: args.region,
        logGroupName,
        description: `${args.name}: EKS control-plane logs`,
        tags: args.tags,
      },
      parent,
    );
    const logGroup = new aws.cloudwatch.LogGroup(
      `${name}-control-plane-logs`,
      { name: logGroupName, retentionInDays: 90, kmsKeyId: logKey.arn, tags: named(args.tags, args.name) },
      parent,
    );

    const cluster = new aws.eks.Cluster(
      `${name}-eks`,
      {
        name: args.name,
        version: args.version,
        roleArn: clusterRole.arn,
        vpcConfig: {
          // The control plane's network interfaces go into private subnets only; public ones hold load balancers.
          subnetIds: args.privateSubnetIds,
          endpointPrivateAccess: true,
          endpointPublicAccess: args.publicAccessCidrs.length > 0,
          publicAccessCidrs: args.publicAccessCidrs.length > 0 ? [...args.publicAccessCidrs] : undefined,
        },
        accessConfig: { authenticationMode: 'API', bootstrapClusterCreatorAdminPermissions: true },
        enabledClusterLogTypes: CONTROL_PLANE_LOGS,
        encryptionConfig: { provider: { keyArn: secretsKey.arn }, resources: ['secrets'] },
        tags: named(args.tags, args.name),
      },
      { parent: this, dependsOn: [clusterPolicy, logGroup] },
    );

    // Without these only the identity that created the cluster could ever reach its API.
    const account = aws.getCallerIdentityOutput({}, parent).accountId;
    for (const [purpose, roleName] of [
      ['deploy', args.deployRoleName],
      ['break-glass', args.breakGlassRoleName],
    ] as const) {
      const principalArn = pulumi.interpolate`arn:aws:iam::${account}:role/${roleName}`;
      const entry = new aws.eks.AccessEntry(
        `${name}-access-${purpose}`,
        {
          clusterName: cluster.name,
          principalArn,
          type: 'STANDARD',
          tags: named(args.tags, `${args.name}-${purpose}`),
        },
        parent,
      );
      new aws.eks.AccessPolicyAssociation(
        `${name}-access-${purpose}`,
        {
          clusterName: cluster.name,
          principalArn: entry.principalArn,
          policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy',
          accessScope: { type: 'cluster' },
        },
        parent,
      );
    }

    const issuer = cluster.identities.apply((identities) => {
      const url = identities[0]?.oidcs[0]?.issuer;
      if (url === undefined) throw new Error(`EKS cluster ${args.name} reported no OIDC issuer`);
      return url;
    });
    const oidcProvider = new aws.iam.OpenIdConnectProvider(
      `${name}-oidc`,
      { url: issuer, clientIdLists: ['sts.amazonaws.com'], tags: named(args.tags, `${args.name}-oidc`) },
      parent,
    );

    const nodeRole = new aws.iam.Role(
      `${name}-nodes`,
      { assumeRolePolicy: assumeRole('ec2.amazonaws.com'), tags: named(args.tags, `${args.name}-nodes`) },
      parent,
    );
    const nodePolicies = [
      'AmazonEKSWorkerNodePolicy',
      'AmazonEKS_CNI_Policy',
      'AmazonEC2ContainerRegistryReadOnly',
    ].map(
      (policy) =>
        new aws.iam.RolePolicyAttachment(
          `${name}-nodes-${policy}`,
          { role: nodeRole.name, policyArn: `arn:aws:iam::aws:policy/${policy}` },
          parent,
        ),
    );

    const launchTemplate = new aws.ec2.LaunchTemplate(
      `${name}-nodes`,
      {
        description: `${args.name}: encrypted root volumes, IMDSv2 only`,
        blockDeviceMappings: [
          {
            deviceName: '/dev/xvda',
            ebs: {
              encrypted: 'true',
              volumeSize: args.nodeDiskSizeGib,
              volumeType: 'gp3',
              deleteOnTermination: 'true',
            },
          },
        ],
        // Pods must not borrow the node's role through the metadata service: hop limit 1, tokens required.
        metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled' },
        tagSpecifications: [{ resourceType: 'volume', tags: named(args.tags, `${args.name}-node`) }],
        tags: named(args.tags, `${args.name}-nodes`),
      },
      parent,
    );

    // The bootstrap addons, managed so they upgrade with the control plane; the VPC CNI enforces NetworkPolicies.
    const addon = (
      addonName: string,
      configuration: Record<string, unknown> | undefined,
      dependsOn: pulumi.Resource[],
    ) =>
      new aws.eks.Addon(
        `${name}-${addonName}`,
        {
          clusterName: cluster.name,
          addonName,
          configurationValues: configuration === undefined ? undefined : JSON.stringify(configuration),
          // EKS installed these itself at creation; the managed addon takes them over.
          resolveConflictsOnCreate: 'OVERWRITE',
          resolveConflictsOnUpdate: 'OVERWRITE',
          tags: named(args.tags, `${args.name}-${addonName}`),
        },
        { parent: this, dependsOn },
      );
    const vpcCni = addon('vpc-cni', { enableNetworkPolicy: 'true' }, []);
    const kubeProxy = addon('kube-proxy', undefined, []);

    const nodeGroup = new aws.eks.NodeGroup(
      `${name}-nodes`,
      {
        clusterName: cluster.name,
        nodeRoleArn: nodeRole.arn,
        subnetIds: args.privateSubnetIds,
        instanceTypes: [args.nodeInstanceType],
        capacityType: 'ON_DEMAND',
        scalingConfig: { minSize: args.nodeMinSize, desiredSize: args.nodeDesiredSize, maxSize: args.nodeMaxSize },
        updateConfig: { maxUnavailable: 1 },
        launchTemplate: { id: launchTemplate.id, version: pulumi.interpolate`${launchTemplate.latestVersion}` },
        tags: named(args.tags, `${args.name}-nodes`),
      },
      // The autoscaler owns the desired size after creation.
      { parent: this, dependsOn: [...nodePolicies, vpcCni, kubeProxy], ignoreChanges: ['scalingConfig.desiredSize'] },
    );
    // CoreDNS runs on the nodes: it can only turn active once they exist.
    addon('coredns', undefined, [nodeGroup]);

    // Persistent volumes go through the EBS CSI driver, which needs its own IRSA role.
    const ebsCsiRole = new aws.iam.Role(
      `${name}-ebs-csi`,
      {
        assumeRolePolicy: serviceAccountTrustPolicy(oidcProvider.arn, issuer, 'kube-system', 'ebs-csi-controller-sa'),
        tags: named(args.tags, `${args.name}-ebs-csi`),
      },
      parent,
    );
    new aws.iam.RolePolicyAttachment(
      `${name}-ebs-csi`,
      { role: ebsCsiRole.name, policyArn: 'arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy' },
      parent,
    );
    const ebsCsi = new aws.eks.Addon(
      `${name}-ebs-csi`,
      {
        clusterName: cluster.name,
        addonName: 'aws-ebs-csi-driver',
        serviceAccountRoleArn: ebsCsiRole.arn,
        tags: named(args.tags, `${args.name}-ebs-csi`),
      },
      parent,
    );

    this.clusterName = cluster.name;
    this.endpoint = cluster.endpoint;
    this.nodeSecurityGroupId = cluster.vpcConfig.apply((vpc) => {
      const id: string | undefined = vpc.clusterSecurityGroupId;
      if (!id) throw new Error(`EKS cluster ${args.name} reported no cluster security group`);
      return id;
    });
    this.oidcProviderArn = oidcProvider.arn;
    this.oidcIssuerUrl = issuer;
    this.kubeconfig = pulumi.secret(
      pulumi
        .all([cluster.name, cluster.endpoint, cluster.certificateAuthority])
        .apply(([clusterName, endpoint, authority]) =>
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Config',
            clusters: [
              { name: clusterName, cluster: { server: endpoint, 'certificate-authority-data': authority.data } },
            ],
            contexts: [{ name: clusterName, context: { cluster: clusterName, user: clusterName } }],
            'current-context': clusterName,
            users: [
              {
                name: clusterName,
                user: {
                  exec: {
                    apiVersion: 'client.authentication.k8s.io/v1beta1',
                    command: 'aws',
                    args: ['eks', 'get-token', '--cluster-name', clusterName, '--region', args.region],
                  },
                },
              },
            ],
          }),
        ),
    );
    this.provider = new k8s.Provider(
      `${name}-k8s`,
      { kubeconfig: this.kubeconfig, enableServerSideApply: true },
      parent,
    );

    // Default storage class: gp3 volumes, encrypted (the CSI driver uses the account's EBS key).
    new k8s.storage.v1.StorageClass(
      `${name}-gp3-encrypted`,
      {
        metadata: {
          name: 'gp3-encrypted',
          annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
        },
        provisioner: 'ebs.csi.aws.com',
        parameters: { type: 'gp3', encrypted: 'true' },
        volumeBindingMode: 'WaitForFirstConsumer',
        reclaimPolicy: 'Delete',
        allowVolumeExpansion: true,
      },
      { parent: this, provider: this.provider, dependsOn: [ebsCsi] },
    );

    // HorizontalPodAutoscalers read CPU from metrics-server; Cluster Autoscaler grows the node group for pending pods.
    new k8s.helm.v3.Release(
      `${name}-metrics-server`,
      pinnedRelease('metricsServer', {
        namespace: 'kube-system',
        timeoutSeconds: 600,
        values: { replicas: 2, resources: chartResources('50m', '96Mi') },
      }),
      { parent: this, provider: this.provider, dependsOn: [nodeGroup] },
    );
    const autoscalerRole = new aws.iam.Role(
      `${name}-cluster-autoscaler`,
      {
        assumeRolePolicy: serviceAccountTrustPolicy(
          oidcProvider.arn,
          issuer,
          'kube-system',
          CLUSTER_AUTOSCALER_SERVICE_ACCOUNT,
        ),
        tags: named(args.tags, `${args.name}-cluster-autoscaler`),
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${name}-cluster-autoscaler`,
      {
        role: autoscalerRole.name,
        policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: [
                'autoscaling:DescribeAutoScalingGroups',
                'autoscaling:DescribeAutoScalingInstances',
                'autoscaling:DescribeLaunchConfigurations',
                'autoscaling:DescribeScalingActivities',
                'autoscaling:DescribeTags',
                'ec2:DescribeImages',
                'ec2:DescribeInstanceTypes',
                'ec2:DescribeLaunchTemplateVersions',
                'ec2:GetInstanceTypesFromInstanceRequirements',
                'eks:DescribeNodegroup',
              ],
              Resource: '*',
            },
            {
              // Only the groups EKS tagged as this cluster's.
              Effect: 'Allow',
              Action: ['autoscaling:SetDesiredCapacity', 'autoscaling:TerminateInstanceInAutoScalingGroup'],
              Resource: '*',
              Condition: { StringEquals: { [`aws:ResourceTag/k8s.io/cluster-autoscaler/${args.name}`]: 'owned' } },
            },
          ],
        }),
      },
      parent,
    );
    new k8s.helm.v3.Release(
      `${name}-cluster-autoscaler`,
      pinnedRelease('clusterAutoscaler', {
        namespace: 'kube-system',
        timeoutSeconds: 600,
        values: {
          cloudProvider: 'aws',
          awsRegion: args.region,
          autoDiscovery: { clusterName: args.name },
          image: { tag: clusterAutoscalerTag(args.version) },
          replicaCount: 1,
          resources: chartResources('100m', '300Mi'),
          rbac: {
            serviceAccount: {
              name: CLUSTER_AUTOSCALER_SERVICE_ACCOUNT,
              annotations: { 'eks.amazonaws.com/role-arn': autoscalerRole.arn },
            },
          },
          extraArgs: { 'balance-similar-node-groups': true, expander: 'least-waste' },
        },
      }),
      { parent: this, provider: this.provider, dependsOn: [nodeGroup] },
    );

    this.registerOutputs({
      clusterName: this.clusterName,
      endpoint: this.endpoint,
      oidcProviderArn: this.oidcProviderArn,
      kubeconfig: this.kubeconfig,
    });
  }
}
