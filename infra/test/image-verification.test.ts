import { describe, expect, test } from 'vitest';

import { ATTESTATION_TYPES, KEYLESS_IDENTITY, REQUIRED_ATTESTATIONS } from '@slipway/pipelines/release/identity';
import { readRepoYaml, runStack } from './support/stack.js';

/** The Kyverno admission policy against what the release CLI signs and attests: one identity, one list of types. */
describe('image verification at admission', () => {
  test('requires the release identity and every attestation the release CLI attaches, and a passing scan', async () => {
    const run = await runStack('dev');
    const policy = run.resources.find(
      (r) => r.type === 'kubernetes:kyverno.io/v1:ClusterPolicy' && r.name.endsWith('verify-image-signatures'),
    );
    const spec = policy?.inputs.spec as {
      rules: {
        verifyImages: {
          attestors: unknown[];
          attestations: { type: string; attestors: unknown[]; conditions?: unknown[] }[];
        }[];
      }[];
    };
    const verify = spec.rules[0]?.verifyImages[0];
    const keyless = { subject: KEYLESS_IDENTITY.subject, issuer: KEYLESS_IDENTITY.issuer };
    expect(verify?.attestors).toEqual([{ entries: [{ keyless: expect.objectContaining(keyless) as unknown }] }]);
    expect(verify?.attestations.map((a) => a.type)).toEqual(
      REQUIRED_ATTESTATIONS.map((kind) => ATTESTATION_TYPES[kind]),
    );
    for (const attestation of verify?.attestations ?? []) expect(attestation.attestors).toEqual(verify?.attestors);
    const scan = verify?.attestations.find((a) => a.type === ATTESTATION_TYPES.scan);
    expect(JSON.stringify(scan?.conditions)).toContain('"key":"{{ verdict }}","operator":"Equals","value":"pass"');
  }, 120_000);

  test('Pulumi.yaml defaults to the same keyless identity', () => {
    const project = readRepoYaml('Pulumi.yaml') as { config: Record<string, { default?: string }> };
    expect(project.config.signingIdentity?.default).toBe(KEYLESS_IDENTITY.subject);
    expect(project.config.signingIssuer?.default).toBe(KEYLESS_IDENTITY.issuer);
  });
});
