import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { scopeDir } from '@slipway/pipelines/platform/paths';
import { freePort } from '@slipway/pipelines/platform/ports';
import { silentProgress } from '@slipway/pipelines/platform/progress';
import { pushgatewayService } from '@slipway/pipelines/platform/services/pushgateway';
import { Supervisor } from '@slipway/pipelines/platform/supervisor';
import { runBackupCli } from '../src/bin/backup-cli.js';
import { AUDIT_CHECKPOINT_PREFIX } from '../src/components/audit/checkpoint.js';
import { DRILL_DATABASE, EXIT, runDrillCli } from '../src/bin/drill.js';
import { seedDatabase } from '../src/bin/seed.js';
import { asAdmin, createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { startPrivateObjectStore } from './support/private-object-store.js';
import type { PrivateObjectStore } from './support/private-object-store.js';
import { testServices } from './support/services.js';

const dir = join(scopeDir('test'), `run-${process.pid}-drill`);
const KEY = 'd'.repeat(48);

async function run(cli: typeof runDrillCli, argv: readonly string[], env: NodeJS.ProcessEnv) {
  let stdout = '';
  let stderr = '';
  const code = await cli(argv, env, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe('erp-api backup and drill against real PostgreSQL, the local object store and a Pushgateway', () => {
  let objectStore: PrivateObjectStore;
  let source: TestDatabase;
  let supervisor: Supervisor;
  let pushgatewayUrl: string;
  let env: NodeJS.ProcessEnv;
  const into = `erp_drill_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    objectStore = await startPrivateObjectStore(join(dir, 'store'));
    supervisor = new Supervisor(join(dir, 'state.json'), join(dir, 'logs'), silentProgress);
    const pushgateway = pushgatewayService({
      dir: join(dir, 'pushgateway'),
      host: '127.0.0.1',
      port: await freePort('127.0.0.1'),
      portEnv: 'none (the test picks a free port)',
    });
    await supervisor.start(pushgateway);
    pushgatewayUrl = pushgateway.url;
    source = await createMigratedDatabase();
    const client = new Client({ connectionString: source.url });
    await client.connect();
    try {
      await seedDatabase(client, { targetBytes: Number.MAX_SAFE_INTEGER, ordersPerRound: 500, maxRounds: 1 });
    } finally {
      await client.end();
    }
    env = {
      DATABASE_URL: source.url,
      ...objectStore.env,
      BACKUP_PREFIX: `drill-${randomBytes(3).toString('hex')}/`,
      REDIS_URL: testServices().redis.url,
      PUSHGATEWAY_URL: pushgatewayUrl,
      AUDIT_CHECKPOINT_HMAC_KEY: KEY,
    };
  }, 120_000);

  afterAll(async () => {
    await asAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${into} WITH (FORCE)`));
    await source.drop();
    await supervisor.stopAll();
    await objectStore.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a backup writes a signed checkpoint and pushes its success; the drill proves it restorable and pushes RTO and RPO', async () => {
    const backup = await run(runBackupCli, [], env);
    expect(backup.stderr).toContain(`backup: audit checkpoint ${AUDIT_CHECKPOINT_PREFIX}`);
    expect(backup.code).toBe(0);

    const drill = await run(runDrillCli, ['--into', into], env);
    expect(drill.stderr).not.toContain('FAILED');
    expect(drill.code).toBe(EXIT.ok);
    for (const check of ['manifest checksums', 'migrations, row counts, audit head', 'audit chain', 'app ready'])
      // eslint-disable-next-line security/detect-non-literal-regexp -- the check names are this test's literals
      expect(drill.stdout).toMatch(new RegExp(`^${check} +ok `, 'm'));
    expect(drill.stdout).toMatch(/contains the checkpoint \(seq \d+/);
    expect(drill.stdout).toMatch(/^RTO \(drill wall time\) +\d+\.\d s$/m);
    expect(drill.stdout).toMatch(/^RPO \(drill start - newest restored change\) +\d+\.\d s \(/m);

    const metrics = await (await fetch(`${pushgatewayUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /backup_last_success_timestamp_seconds\{instance="",job="erp-api-backup",namespace="local"\} \d/,
    );
    expect(metrics).toMatch(
      /restore_drill_rto_seconds\{instance="",job="erp-api-restore-drill",namespace="local"\} \d/,
    );
    expect(metrics).toMatch(
      /restore_drill_rpo_seconds\{instance="",job="erp-api-restore-drill",namespace="local"\} \d/,
    );
    // The scratch database is dropped afterwards.
    const { rowCount } = await asAdmin((client) =>
      client.query('SELECT 1 FROM pg_database WHERE datname = $1', [into]),
    );
    expect(rowCount).toBe(0);
  }, 180_000);

  it('a backup after the newest audit rows were deleted refuses to write a checkpoint over the cut chain', async () => {
    const owner = new Client({ connectionString: source.url });
    await owner.connect();
    try {
      await owner.query('BEGIN');
      await owner.query('ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_delete');
      await owner.query('DELETE FROM audit_logs WHERE id > (SELECT max(id) - 5 FROM audit_logs)');
      await owner.query('ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_delete');
      await owner.query('COMMIT');
    } finally {
      await owner.end();
    }
    const backup = await run(runBackupCli, [], env);
    expect(backup.code).toBe(1);
    expect(backup.stderr).toMatch(
      /is complete, but the audit chain no longer holds checkpoint audit-checkpoints\/\d{20}-[0-9TZ-]+\.json of s3:\/\/.*: row \d+ of the checkpoint is missing/,
    );
  }, 120_000);

  it('uses erp_restore_drill as the default scratch database and refuses unknown options', async () => {
    expect(DRILL_DATABASE).toBe('erp_restore_drill');
    const bad = await run(runDrillCli, ['--fast'], env);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/^drill: Unknown option '--fast'/);
  });
});
