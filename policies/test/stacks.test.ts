import { describe, expect, test } from 'vitest';

import { runStack } from '@slipway/infra/testing/stack';
import { mandatoryPolicies } from '../src/policies.js';
import { allViolations } from './support/validate.js';

// Each stack of our own program, run under mocks, is fed resource by resource to every policy.
describe.each(['dev', 'staging', 'prod'] as const)('stack %s', (stack) => {
  test('violates no mandatory policy', async () => {
    const run = await runStack(stack);
    expect(run.resources.length).toBeGreaterThan(100);
    expect(await allViolations(mandatoryPolicies, run.resources)).toEqual([]);
  });
});
