import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

import { named, type Tags } from './tags.js';

export interface LogKeyArgs {
  readonly region: string;
  /** The log group's full name: the key may encrypt for this log group only. */
  readonly logGroupName: string;
  readonly description: string;
  readonly tags: Tags;
}

/**
 * A customer-managed, rotating KMS key for one CloudWatch log group. The key policy keeps the account in
 * control of the key and lets the region's CloudWatch Logs service use it only for that log group.
 */
export function logGroupKey(name: string, args: LogKeyArgs, opts: pulumi.CustomResourceOptions): aws.kms.Key {
  const account = aws.getCallerIdentityOutput({}, opts).accountId;
  return new aws.kms.Key(
    name,
    {
      description: args.description,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      policy: account.apply((accountId) =>
        JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'AccountAdministersTheKey',
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${accountId}:root` },
              Action: 'kms:*',
              Resource: '*',
            },
            {
              Sid: 'CloudWatchLogsEncryptsThisLogGroup',
              Effect: 'Allow',
              Principal: { Service: `logs.${args.region}.amazonaws.com` },
              Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
              Resource: '*',
              Condition: {
                ArnEquals: {
                  'kms:EncryptionContext:aws:logs:arn': `arn:aws:logs:${args.region}:${accountId}:log-group:${args.logGroupName}`,
                },
              },
            },
          ],
        }),
      ),
      tags: named(args.tags, args.logGroupName),
    },
    opts,
  );
}
