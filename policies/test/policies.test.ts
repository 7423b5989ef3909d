import { describe, expect, test } from 'vitest';

import {
  approvedInstanceClasses,
  backupRetention,
  containersNonRootWithLimits,
  encryptedStorage,
  helmChartsPinned,
  imagesPinnedByDigest,
  mandatoryPolicies,
  noPublicData,
  prodDataDeletionProtection,
  requiredTags,
} from '../src/policies.js';
import { violations, type Candidate } from './support/validate.js';

const tags = (env: string) => ({ service: 'erp-api', env, owner: 'platform-team', 'cost-center': 'cc-1000' });
const DIGEST = `sha256:${'a'.repeat(64)}`;

const goodDatabase: Candidate = {
  type: 'aws:rds/instance:Instance',
  props: {
    storageEncrypted: true,
    kmsKeyId: 'arn:aws:kms:eu-west-1:1:key/x',
    backupRetentionPeriod: 35,
    publiclyAccessible: false,
    deletionProtection: true,
    skipFinalSnapshot: false,
    finalSnapshotIdentifier: 'final',
    instanceClass: 'db.m7g.large',
    tags: tags('prod'),
  },
  protect: true,
};
const change = (candidate: Candidate, props: Record<string, unknown>, protect = candidate.protect): Candidate => ({
  ...candidate,
  props: { ...candidate.props, ...props },
  protect,
});

const container = {
  name: 'app',
  image: `ghcr.io/slipway/erp-api@${DIGEST}`,
  securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false },
  resources: { limits: { cpu: '1', memory: '1Gi' } },
};
const workload = (containers: Record<string, unknown>[], type = 'kubernetes:apps/v1:Deployment'): Candidate => ({
  type,
  props: { spec: { template: { spec: { containers } } } },
});

/** For each policy: a resource it must refuse, with the words its message must contain, and one it must pass. */
const cases: { policy: (typeof mandatoryPolicies)[number]; bad: Candidate; says: string; good: Candidate }[] = [
  {
    policy: encryptedStorage,
    bad: change(goodDatabase, { storageEncrypted: undefined }),
    says: 'storageEncrypted=undefined',
    good: goodDatabase,
  },
  {
    policy: encryptedStorage,
    bad: {
      type: 'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
      props: { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }] },
    },
    says: 'use sseAlgorithm "aws:kms"',
    good: {
      type: 'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
      props: { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms' } }] },
    },
  },
  {
    policy: encryptedStorage,
    bad: {
      type: 'aws:elasticache/replicationGroup:ReplicationGroup',
      props: { atRestEncryptionEnabled: true, transitEncryptionEnabled: false },
    },
    says: 'transitEncryptionEnabled=false',
    good: {
      type: 'aws:elasticache/replicationGroup:ReplicationGroup',
      props: { atRestEncryptionEnabled: true, transitEncryptionEnabled: true },
    },
  },
  {
    policy: encryptedStorage,
    bad: { type: 'aws:ec2/volume:Volume', props: { size: 10 } },
    says: 'is not encrypted',
    good: { type: 'aws:ec2/volume:Volume', props: { size: 10, encrypted: true } },
  },
  {
    policy: encryptedStorage,
    bad: {
      type: 'aws:ec2/launchTemplate:LaunchTemplate',
      props: { blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { volumeSize: 50 } }] },
    },
    says: 'maps /dev/xvda unencrypted',
    good: {
      type: 'aws:ec2/launchTemplate:LaunchTemplate',
      props: { blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { encrypted: 'true' } }] },
    },
  },
  {
    policy: backupRetention,
    bad: change(goodDatabase, { backupRetentionPeriod: 1 }),
    says: 'keeps automated backups 1 day(s)',
    good: goodDatabase,
  },
  {
    policy: backupRetention,
    bad: {
      type: 'aws:backup/plan:Plan',
      props: { rules: [{ ruleName: 'every-6-hours', lifecycle: { deleteAfter: 3 } }] },
    },
    says: 'deletes recovery points after 3 day(s)',
    good: { type: 'aws:backup/plan:Plan', props: { rules: [{ ruleName: 'r', lifecycle: { deleteAfter: 7 } }] } },
  },
  {
    policy: noPublicData,
    bad: {
      type: 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
      props: { blockPublicAcls: true, blockPublicPolicy: false, ignorePublicAcls: true, restrictPublicBuckets: true },
    },
    says: 'leaves blockPublicPolicy off',
    good: {
      type: 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
      props: { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
    },
  },
  {
    policy: noPublicData,
    bad: change(goodDatabase, { publiclyAccessible: true }),
    says: 'is publicly accessible',
    good: goodDatabase,
  },
  {
    policy: noPublicData,
    bad: {
      type: 'aws:ec2/securityGroup:SecurityGroup',
      props: { ingress: [{ fromPort: 5432, toPort: 5432, cidrBlocks: ['0.0.0.0/0'] }] },
    },
    says: 'opens port 5432 to the internet',
    good: {
      type: 'aws:ec2/securityGroup:SecurityGroup',
      props: { ingress: [{ fromPort: 5432, toPort: 5432, securityGroups: ['sg-nodes'] }] },
    },
  },
  {
    policy: prodDataDeletionProtection,
    bad: change(goodDatabase, { deletionProtection: false, skipFinalSnapshot: true }, false),
    says: 'deletionProtection off',
    good: goodDatabase,
  },
  {
    policy: prodDataDeletionProtection,
    bad: { type: 'aws:s3/bucket:Bucket', props: { forceDestroy: true, tags: tags('prod') }, protect: true },
    says: 'forceDestroy: true',
    good: { type: 'aws:s3/bucket:Bucket', props: { forceDestroy: true, tags: tags('dev') } },
  },
  {
    policy: requiredTags,
    bad: { type: 'aws:ec2/vpc:Vpc', props: { tags: { service: 'erp-api', env: 'prod' } } },
    says: 'lacks the tag(s) owner, cost-center',
    good: { type: 'aws:ec2/vpc:Vpc', props: { tags: tags('prod') } },
  },
  {
    policy: approvedInstanceClasses,
    bad: change(goodDatabase, { instanceClass: 'db.r7g.16xlarge' }),
    says: 'uses db.r7g.16xlarge, not approved for prod',
    good: goodDatabase,
  },
  {
    policy: approvedInstanceClasses,
    bad: { type: 'aws:eks/nodeGroup:NodeGroup', props: { instanceTypes: ['m6i.xlarge'], tags: tags('dev') } },
    says: 'uses m6i.xlarge, not approved for dev',
    good: { type: 'aws:eks/nodeGroup:NodeGroup', props: { instanceTypes: ['t3.large'], tags: tags('dev') } },
  },
  {
    policy: containersNonRootWithLimits,
    bad: workload([{ ...container, securityContext: {}, resources: {} }]),
    says: 'may run as root',
    good: workload([container]),
  },
  {
    policy: containersNonRootWithLimits,
    bad: {
      type: 'kubernetes:batch/v1:CronJob',
      props: {
        spec: { jobTemplate: { spec: { template: { spec: { containers: [{ ...container, resources: {} }] } } } } },
      },
    },
    says: 'has no cpu or memory limit',
    good: {
      type: 'kubernetes:batch/v1:CronJob',
      props: { spec: { jobTemplate: { spec: { template: { spec: { containers: [container] } } } } } },
    },
  },
  {
    policy: imagesPinnedByDigest,
    bad: workload(
      [{ ...container, image: 'ghcr.io/slipway/erp-api:latest' }],
      'kubernetes:argoproj.io/v1alpha1:Rollout',
    ),
    says: 'uses image "ghcr.io/slipway/erp-api:latest"',
    good: workload([container], 'kubernetes:argoproj.io/v1alpha1:Rollout'),
  },
  {
    policy: imagesPinnedByDigest,
    bad: {
      type: 'kubernetes:argoproj.io/v1alpha1:AnalysisTemplate',
      props: {
        spec: {
          metrics: [
            {
              provider: {
                job: {
                  spec: { template: { spec: { containers: [{ ...container, image: 'docker.io/library/busybox' }] } } },
                },
              },
            },
          ],
        },
      },
    },
    says: 'spec.metrics[0].provider.job.spec.template container app uses image "docker.io/library/busybox"',
    good: {
      type: 'kubernetes:argoproj.io/v1alpha1:AnalysisTemplate',
      props: { spec: { metrics: [{ provider: { prometheus: { query: 'up' } } }] } },
    },
  },
  {
    policy: helmChartsPinned,
    bad: { type: 'kubernetes:helm.sh/v3:Release', props: { chart: 'kyverno', version: '^3.6.0' } },
    says: 'installs chart kyverno at version "^3.6.0"',
    good: { type: 'kubernetes:helm.sh/v3:Release', props: { chart: 'kyverno', version: '3.6.2' } },
  },
];

describe('each mandatory policy', () => {
  test('is mandatory and covered by a bad and a good case here', () => {
    for (const policy of mandatoryPolicies) expect(policy.enforcementLevel).toBe('mandatory');
    expect(new Set(cases.map((c) => c.policy.name))).toEqual(new Set(mandatoryPolicies.map((p) => p.name)));
  });

  test.each(cases.map((c) => [c.policy.name, c.says, c] as const))('%s refuses: %s', async (_name, says, c) => {
    expect(await violations(c.policy, c.bad)).toContainEqual(expect.stringContaining(says));
  });

  test.each(cases.map((c) => [c.policy.name, c.says, c] as const))(
    '%s passes the fixed resource for: %s',
    async (_name, _says, c) => {
      expect(await violations(c.policy, c.good)).toEqual([]);
    },
  );
});
