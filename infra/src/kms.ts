import * as aws from '@pulumi/aws';
import type * as pulumi from '@pulumi/pulumi';

import { named, type Tags } from './tags.js';

export interface RotatingKeyArgs {
  /** What the key encrypts, as the AWS console shows it. */
  readonly description: string;
  readonly tags: Tags;
  /** The Name tag. */
  readonly tagName: string;
}

/** A customer-managed KMS key that rotates every year and, once scheduled for deletion, waits 30 days. */
export function rotatingKey(name: string, args: RotatingKeyArgs, opts: pulumi.CustomResourceOptions): aws.kms.Key {
  return new aws.kms.Key(
    name,
    {
      description: args.description,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      tags: named(args.tags, args.tagName),
    },
    opts,
  );
}
