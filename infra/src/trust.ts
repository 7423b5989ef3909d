import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

/**
 * Service principals whose trust policies carry no source condition, with the reason. Their services do
 * not document sending `aws:SourceAccount` when they assume a role, and a condition on a key that is
 * absent from the request would lock the service out.
 */
export const SERVICES_WITHOUT_SOURCE_CONDITION: Readonly<Record<string, string>> = {
  'ec2.amazonaws.com':
    'instances get role credentials through their instance profile, not as a service acting for a resource',
  'backup.amazonaws.com':
    'AWS Backup documents source conditions for vault and key policies only, not for its service role',
};

/**
 * A trust policy letting one AWS service assume a role only on behalf of this account's resources that
 * `sourceArn` matches (wildcards allowed), so another account cannot point the service at the role.
 */
export function serviceTrustPolicy(
  service: string,
  sourceArn: (accountId: string) => string,
  opts: pulumi.InvokeOptions,
): pulumi.Output<string> {
  return aws.getCallerIdentityOutput({}, opts).accountId.apply((accountId) =>
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: service },
          Action: 'sts:AssumeRole',
          Condition: {
            StringEquals: { 'aws:SourceAccount': accountId },
            ArnLike: { 'aws:SourceArn': sourceArn(accountId) },
          },
        },
      ],
    }),
  );
}
