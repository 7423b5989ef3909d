/**
 * The stack's environment file is the one source of the images it runs: every pod spec, the gate's Job and the
 * admission policy follow the digests in it, and no Pulumi config key holds a digest any more.
 */
import { beforeAll, describe, expect, test } from 'vitest';

import { isYamlMap, readRepoYaml, runStack, type StackRun, unwrapSecrets } from './support/stack.js';

const APP = `sha256:${'a1'.repeat(32)}`;
const GATE = `sha256:${'b2'.repeat(32)}`;
const FILE = `environment: dev\nimages:\n  app: ${APP}\n  gate: ${GATE}\nrelease:\n  kind: promotion\n  record: 20261205T001000Z-a1a1a1a1\n  recordEnvironment: local\n`;

/** Every `image` value anywhere in a resource's inputs. */
function images(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) images(item, found);
  else if (isYamlMap(value))
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'image' && typeof inner === 'string') found.push(inner);
      else images(inner, found);
    }
  return found;
}

let run: StackRun;
beforeAll(async () => {
  run = await runStack('dev', {}, undefined, FILE);
}, 120_000);

describe('infra/environments/dev.yaml', () => {
  test('pins every erp-api and gate container the stack creates', () => {
    const ours = run.resources
      .flatMap((resource) =>
        images(unwrapSecrets(resource.inputs)).map((image) => `${resource.type} ${resource.name} ${image}`),
      )
      .filter((line) => line.includes('ghcr.io/slipway/'));
    expect(ours.filter((line) => line.includes('argoproj.io/v1alpha1:Rollout'))).toEqual([
      `kubernetes:argoproj.io/v1alpha1:Rollout app-rollout ghcr.io/slipway/erp-api@${APP}`,
    ]);
    // The job worker runs the Rollout's digest, not one of its own.
    expect(ours.filter((line) => line.includes('apps/v1:Deployment'))).toEqual([
      `kubernetes:apps/v1:Deployment worker-deployment ghcr.io/slipway/erp-api@${APP}`,
    ]);
    expect(ours.some((line) => line.endsWith(`ghcr.io/slipway/erp-api-gate@${GATE}`))).toBe(true);
    expect(ours.filter((line) => !line.endsWith(`erp-api@${APP}`) && !line.endsWith(`erp-api-gate@${GATE}`))).toEqual(
      [],
    );
    expect(run.outputs.image?.value).toBe(`ghcr.io/slipway/erp-api@${APP}`);
  });

  test("Kyverno verifies signatures on both images' repositories", () => {
    const policies = run.resources.filter((resource) => resource.type === 'kubernetes:kyverno.io/v1:ClusterPolicy');
    const text = JSON.stringify(policies.map((policy) => unwrapSecrets(policy.inputs)));
    expect(text).toContain('ghcr.io/slipway/erp-api*');
    expect(text).toContain('ghcr.io/slipway/erp-api-gate*');
  });

  test('no stack file or schema key holds a digest any more', () => {
    const project = readRepoYaml('Pulumi.yaml');
    const keys = isYamlMap(project) && isYamlMap(project.config) ? Object.keys(project.config) : [];
    expect(keys.filter((key) => /digest/i.test(key))).toEqual([]);
    for (const stack of ['dev', 'staging', 'prod']) {
      const file = readRepoYaml(`Pulumi.${stack}.yaml`);
      const config = isYamlMap(file) && isYamlMap(file.config) ? Object.keys(file.config) : [];
      expect(config.filter((key) => /digest/i.test(key))).toEqual([]);
    }
  });
});
