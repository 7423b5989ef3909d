/**
 * The two must-fail changes of the infrastructure issue, against prod's own program under mocks:
 * backup retention cut to 1 day, and storageEncrypted removed from the database (see infra/test/regressions.test.ts).
 */
import { beforeAll, describe, expect, test } from 'vitest';

import { runStack, type StackRun } from '@slipway/infra/testing/stack';
import { mandatoryPolicies } from '../src/policies.js';
import { allViolations } from './support/validate.js';

describe('must-fail changes to prod', () => {
  let shortRetention: StackRun;
  beforeAll(async () => {
    shortRetention = await runStack('prod', { 'slipway:dbBackupRetentionDays': '1' });
  });

  test('prod with dbBackupRetentionDays=1 violates backup-retention', async () => {
    expect(await allViolations(mandatoryPolicies, shortRetention.resources)).toEqual([
      'backup-retention: aws:rds/instance:Instance "database-postgres" keeps automated backups 1 day(s): ' +
        'set backupRetentionPeriod to 7 or more (35 in prod).',
    ]);
  });

  test('prod without storageEncrypted on the database violates encrypted-storage', async () => {
    const resources = shortRetention.resources.map((resource) => {
      if (resource.type !== 'aws:rds/instance:Instance') return resource;
      const inputs = Object.fromEntries(Object.entries(resource.inputs).filter(([key]) => key !== 'storageEncrypted'));
      return { ...resource, inputs: { ...inputs, backupRetentionPeriod: 35 } };
    });
    expect(await allViolations(mandatoryPolicies, resources)).toEqual([
      'encrypted-storage: aws:rds/instance:Instance "database-postgres" has storageEncrypted=undefined: ' +
        'set storageEncrypted: true with a KMS kmsKeyId.',
    ]);
  });
});
