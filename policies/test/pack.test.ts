/**
 * The pack loads the way `pulumi preview --policy-pack policies` loads it: through @pulumi/pulumi's policy-pack
 * runner, which compiles TypeScript packs as CommonJS. It must list every mandatory policy and refuse a bad resource.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { mandatoryPolicies } from '../src/policies.js';
import { loadPolicyPack, type LoadedPolicyPack } from './support/pack.js';

describe('the policy pack, as the Pulumi CLI runs it', () => {
  let pack: LoadedPolicyPack;
  beforeAll(async () => {
    pack = await loadPolicyPack();
  }, 180_000);
  afterAll(() => {
    pack.stop();
  });

  test('serves every mandatory policy under the pack name slipway', () => {
    expect(pack.name).toBe('slipway');
    expect(pack.policies).toEqual(mandatoryPolicies.map(({ name }) => ({ name, enforcement: 'mandatory' })));
  });

  test('refuses an unencrypted database over the analyzer protocol, with its message', async () => {
    const diagnostics = await pack.analyze({
      type: 'aws:rds/instance:Instance',
      name: 'database-postgres',
      props: { storageEncrypted: false, backupRetentionPeriod: 7, publiclyAccessible: false },
    });
    expect(diagnostics).toContainEqual({
      policy: 'encrypted-storage',
      enforcement: 'mandatory',
      message: expect.stringContaining('has storageEncrypted=false') as string,
    });
  });
});
