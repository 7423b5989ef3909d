import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { MIGRATIONS_DIR, migrate } from '@slipway/app/db/migrations';
import { runMigrateCli } from '@slipway/app/bin/migrate';
import { judgePlan, parsePlan } from '../../src/release/canary/migrations.js';
import { parseCommandLine } from '../../src/release/cli.js';
import { EXIT, ReleaseError } from '../../src/release/errors.js';

const services = inject('services');
const name = `slipway_migration_check_${String(process.pid)}`;
const dir = mkdtempSync(join(tmpdir(), 'slipway-migrations-'));
let databaseUrl: string;

async function admin(sql: string): Promise<void> {
  const client = new Client({ connectionString: services.postgres.adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** What the image's `migrate plan --json` prints for `dir` on the test database, run through the same CLI function. */
async function planOutput(): Promise<string> {
  let output = '';
  const io = { stdout: (text: string) => (output += text), stderr: (text: string) => (output += text) };
  await runMigrateCli(['plan', '--json', '--dir', dir], { DATABASE_URL: databaseUrl }, io);
  return output;
}

beforeAll(async () => {
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(services.postgres.adminUrl);
  url.pathname = `/${name}`;
  databaseUrl = url.toString();
  // the service's own migrations applied, as stable runs on them
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  await migrate(databaseUrl, { dir });
});

afterAll(async () => {
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  rmSync(dir, { recursive: true, force: true });
});

describe('deploy refuses a migration that breaks the stable version sharing the database', () => {
  it('passes a release whose pending migration only expands the schema', async () => {
    writeFileSync(join(dir, '0099_product_barcode.sql'), 'ALTER TABLE products ADD COLUMN barcode text;\n');
    const plan = parsePlan(await planOutput());
    expect(plan?.pending.map((file) => file.fileName)).toEqual(['0099_product_barcode.sql']);
    expect(judgePlan(plan ?? { applied: 0, pending: [], problems: [] }, false)).toEqual({
      check: { pending: ['0099_product_barcode.sql'], breaking: [], overridden: false },
    });
    rmSync(join(dir, '0099_product_barcode.sql'));
  });

  it('refuses a rename and a drop, naming the migration, the statement and what to do instead', async () => {
    writeFileSync(
      join(dir, '0099_rename_sku.sql'),
      '-- the canary reads the new name\nALTER TABLE products RENAME COLUMN sku TO stock_code;\nALTER TABLE orders DROP COLUMN status;\n',
    );
    const plan = parsePlan(await planOutput());
    expect(plan).toBeDefined();
    const judged = judgePlan(plan ?? { applied: 0, pending: [], problems: [] }, false);
    expect(judged.check.breaking).toEqual([
      {
        migration: '0099_rename_sku.sql',
        statement: 'ALTER TABLE products RENAME COLUMN sku TO stock_code',
        reason: 'renames a table or column the running version still queries by its old name',
      },
      {
        migration: '0099_rename_sku.sql',
        statement: 'ALTER TABLE orders DROP COLUMN status',
        reason: 'drops or deletes data the running version reads',
      },
    ]);
    expect(judged.check.overridden).toBe(false);
    expect(judged.refusal).toContain(
      '0099_rename_sku.sql: "ALTER TABLE products RENAME COLUMN sku TO stock_code" (renames a table or column',
    );
    expect(judged.refusal).toMatch(/two releases: expand .* then contract/);
    expect(judged.refusal).toContain('--allow-breaking-migrations');

    // the override applies them, and the record says so
    const overridden = judgePlan(plan ?? { applied: 0, pending: [], problems: [] }, true);
    expect(overridden.refusal).toBeUndefined();
    expect(overridden.check).toMatchObject({ pending: ['0099_rename_sku.sql'], overridden: true });
    rmSync(join(dir, '0099_rename_sku.sql'));
  });

  it('refuses when the image cannot apply its migrations to this database', async () => {
    // an applied migration edited afterwards: migrate up would refuse, so the release stops first
    writeFileSync(join(dir, '0001_users_and_access.sql'), '-- edited\n', { flag: 'a' });
    const judged = judgePlan(parsePlan(await planOutput()) ?? { applied: 0, pending: [], problems: [] }, true);
    expect(judged.refusal).toMatch(/cannot apply to this database: 0001_users_and_access.sql was edited/);
    cpSync(join(MIGRATIONS_DIR, '0001_users_and_access.sql'), join(dir, '0001_users_and_access.sql'));
  });

  it('finds no plan in output that holds none (an image without migrate plan)', () => {
    expect(parsePlan('migrate: unknown command "plan"; use up or status\nusage: …')).toBeUndefined();
    expect(parsePlan('{"not":"a plan"}')).toBeUndefined();
  });

  it('takes --allow-breaking-migrations on deploy only', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseCommandLine(['deploy', digest, '--allow-breaking-migrations']).allowBreakingMigrations).toBe(true);
    expect(parseCommandLine(['deploy', digest]).allowBreakingMigrations).toBe(false);
    let error: unknown;
    try {
      parseCommandLine(['status', '--allow-breaking-migrations']);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ReleaseError);
    expect((error as ReleaseError).exitCode).toBe(EXIT.usage);
    expect((error as Error).message).toContain('--allow-breaking-migrations applies to deploy, not status');
  });
});
