import { existsSync, readFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { loadPolicyPack, type LoadedPolicyPack } from '@slipway/policies/testing/pack';
import { fromRecorded } from '@slipway/policies/testing/validate';

import type { Environment } from '../../src/config.js';
import { CHECKS, EXPECTED } from './checks.js';
import { CLUSTER_CHECKS } from './contracts.js';
import { manifestsFile, renderManifests } from './manifests.js';
import { countsByType, runStack, type StackRun } from './stack.js';

/** The tests every stack runs: each named check over the resources its program registers under mocks. */
export function describeStack(stack: Environment): void {
  describe(`stack ${stack} under Pulumi mocks`, () => {
    let run: StackRun;
    let pack: LoadedPolicyPack | undefined;
    beforeAll(async () => {
      [pack, run] = await Promise.all([loadPolicyPack(), runStack(stack)]);
    }, 180_000);
    afterAll(() => {
      pack?.stop();
    });

    test('renders the Kubernetes objects committed in infra/generated/manifests/ (the release scan runs checkov on them)', () => {
      const committed = existsSync(manifestsFile(stack)) ? readFileSync(manifestsFile(stack), 'utf8') : '';
      expect(
        renderManifests(run) === committed,
        `${manifestsFile(stack)} is stale: run npm run render-manifests -w infra and commit it`,
      ).toBe(true);
    });

    test('violates no mandatory policy of the policy pack, loaded as pulumi preview --policy-pack loads it', async () => {
      if (pack === undefined) throw new Error('the policy pack did not load');
      const violations: string[] = [];
      for (const resource of run.resources)
        for (const diagnostic of await pack.analyze(fromRecorded(resource)))
          violations.push(`${diagnostic.policy} (${diagnostic.enforcement}): ${diagnostic.message}`);
      expect(run.resources.length).toBeGreaterThan(100);
      expect(violations).toEqual([]);
    });

    const checks = { ...CHECKS, ...CLUSTER_CHECKS };
    test.each(Object.keys(checks))('%s', (name) => {
      const check = checks[name];
      if (check === undefined) throw new Error(`no check named ${name}`);
      expect(check(run, EXPECTED[stack])).toEqual([]);
    });

    test('creates one of each component, with its type token', () => {
      const counts = countsByType(run);
      for (const token of [
        'slipway:network:Network',
        'slipway:cluster:Cluster',
        'slipway:database:Database',
        'slipway:cache:Cache',
        'slipway:backups:Backups',
        'slipway:observability:Observability',
        'slipway:tracing:Tracing',
        'slipway:delivery:Delivery',
        'slipway:app:App',
      ])
        expect(counts[token], token).toBe(1);
    });
  });
}
