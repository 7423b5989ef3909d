/**
 * The two changes the infrastructure issue names as must-fail, made in memory against prod:
 * backup retention cut to 1 day, and storageEncrypted removed from the database. Both must fail a stack check
 * here, and a policy in policies/test/regressions.test.ts.
 */
import { beforeAll, describe, expect, test } from 'vitest';

import { CHECKS, EXPECTED } from './support/checks.js';
import { runStack, type StackRun } from './support/stack.js';

const BACKUPS = 'backups run every 6 h and are kept 7 days (35 in prod), copied to a second region in prod only';
const ENCRYPTION = 'storage is encrypted: RDS, S3, ElastiCache, EBS and EKS Secrets';

function check(name: string) {
  const found = CHECKS[name];
  if (found === undefined) throw new Error(`no check named ${name}`);
  return found;
}

describe('must-fail changes to prod', () => {
  let shortRetention: StackRun;
  beforeAll(async () => {
    shortRetention = await runStack('prod', { 'slipway:dbBackupRetentionDays': '1' });
  });

  test('prod with dbBackupRetentionDays=1 fails the backup retention check', () => {
    expect(check(BACKUPS)(shortRetention, EXPECTED.prod)).toEqual([
      'RDS backupRetentionPeriod is 1, expected 35',
      'RDS keeps backups 1 days, fewer than 7',
    ]);
  });

  test('prod without storageEncrypted on the database fails the encryption check', () => {
    const resources = shortRetention.resources.map((resource) => {
      if (resource.type !== 'aws:rds/instance:Instance') return resource;
      const inputs = Object.fromEntries(Object.entries(resource.inputs).filter(([key]) => key !== 'storageEncrypted'));
      return { ...resource, inputs };
    });
    expect(check(ENCRYPTION)({ ...shortRetention, resources }, EXPECTED.prod)).toEqual([
      'RDS database-postgres storageEncrypted is undefined',
    ]);
    // The unchanged run passes, so the failure above comes from the removal alone.
    expect(check(ENCRYPTION)(shortRetention, EXPECTED.prod)).toEqual([]);
  });
});
