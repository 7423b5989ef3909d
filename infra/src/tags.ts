import type { StackConfig } from './config.js';

/** The tags every taggable AWS resource carries; the policy pack requires each of them. */
export const REQUIRED_TAGS = ['service', 'env', 'owner', 'cost-center'] as const;
export type Tags = Readonly<Record<(typeof REQUIRED_TAGS)[number], string>>;

export const SERVICE = 'erp-api';

export function tagsFor(config: Pick<StackConfig, 'environment' | 'owner' | 'costCenter'>): Tags {
  return { service: SERVICE, env: config.environment, owner: config.owner, 'cost-center': config.costCenter };
}

/** Tags plus a Name, as the AWS console shows it. */
export function named(tags: Tags, name: string): Record<string, string> {
  return { ...tags, Name: name };
}
