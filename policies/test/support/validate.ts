import type { ResourceValidationArgs, ResourceValidationPolicy } from '@pulumi/policy';

import type { RecordedResource } from '@slipway/infra/testing/stack';
import { unwrapSecrets } from '@slipway/infra/testing/stack';

export interface Candidate {
  readonly type: string;
  readonly name?: string;
  readonly props: Record<string, unknown>;
  readonly protect?: boolean;
}

/** Runs one policy on one resource the way the policy analyzer would, and returns its violations. */
export async function violations(policy: ResourceValidationPolicy, candidate: Candidate): Promise<string[]> {
  const found: string[] = [];
  const name = candidate.name ?? 'subject';
  const args = {
    type: candidate.type,
    props: candidate.props,
    urn: `urn:pulumi:test::slipway::${candidate.type}::${name}`,
    name,
    opts: {
      protect: candidate.protect ?? false,
      ignoreChanges: [],
      aliases: [],
      customTimeouts: {},
      additionalSecretOutputs: [],
    },
    stackTags: new Map<string, string>(),
    isType: (resourceClass: { __pulumiType?: string }) => resourceClass.__pulumiType === candidate.type,
    asType: () => undefined,
    getConfig: () => ({}),
    notApplicable: (reason?: string) => {
      throw new Error(`not applicable: ${reason ?? ''}`);
    },
  } as unknown as ResourceValidationArgs;
  const validations = policy.validateResource;
  for (const validate of Array.isArray(validations) ? validations : validations === undefined ? [] : [validations])
    await validate(args, (message) => found.push(`${policy.name}: ${message}`));
  return found;
}

/** A resource recorded by infra's mock run, as the policy analyzer would see it (secrets unwrapped). */
export function fromRecorded(resource: RecordedResource): Candidate {
  return {
    type: resource.type,
    name: resource.name,
    props: unwrapSecrets(resource.inputs) as Record<string, unknown>,
    protect: resource.protect,
  };
}

/** Every violation of every policy over a list of recorded resources. */
export async function allViolations(
  policies: readonly ResourceValidationPolicy[],
  resources: readonly RecordedResource[],
): Promise<string[]> {
  const found: string[] = [];
  for (const resource of resources)
    for (const policy of policies) found.push(...(await violations(policy, fromRecorded(resource))));
  return found;
}
