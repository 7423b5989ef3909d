import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import { Client, escapeIdentifier } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EXIT, runMigrateCli, scramSha256Verifier } from '../src/bin/migrate.js';
import { EXIT_CONFIG_ERROR } from '../src/bin/server.js';
import { testEnv } from './support/app.js';
import { asAdmin, createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

describe('the server entry point with a weak JWT_SECRET', () => {
  it('exits 78 naming the variable and the rule, never the value', async () => {
    const weak = 'a'.repeat(40);
    const child = spawn(process.execPath, ['--import', 'tsx', 'app/src/bin/server.ts'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...testEnv({ JWT_SECRETS: '', JWT_SECRET: weak }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(EXIT_CONFIG_ERROR);
    expect(output.trim()).toBe(
      'config error: JWT_SECRET="[redacted]" is invalid (it is one short sequence repeated): must be one secret of at least 32 bytes, not a published default and not a short repeated pattern; JWT_SECRETS or JWT_SECRET is required, not both; set JWT_SECRET to the output of `openssl rand -base64 48`, or unset it and use JWT_SECRETS',
    );
    expect(output).not.toContain('aaaa');
  }, 30_000);
});

describe('migrate with APP_DATABASE_PASSWORD', () => {
  let database: TestDatabase;
  const role = `erp_app_login_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    database = await createMigratedDatabase();
    // A login role that is a member of erp_app, as production sets it up; roles are cluster-wide, so a fresh name.
    await asAdmin((client) => client.query(`CREATE ROLE ${escapeIdentifier(role)} NOLOGIN IN ROLE erp_app`));
  });

  afterAll(async () => {
    await database.drop();
    await asAdmin((client) => client.query(`DROP ROLE IF EXISTS ${escapeIdentifier(role)}`));
  });

  function cli(env: NodeJS.ProcessEnv) {
    const out = { stdout: '', stderr: '' };
    const run = runMigrateCli(['up'], env, {
      stdout: (text) => (out.stdout += text),
      stderr: (text) => (out.stderr += text),
    });
    return run.then((code) => ({ code, ...out }));
  }

  it('lets the role log in with the password, and it still cannot change the audit log', async () => {
    const password = `${randomBytes(18).toString('base64url')}'; DROP ROLE x; --`;
    const run = await cli({ DATABASE_URL: database.url, APP_DATABASE_PASSWORD: password, APP_DATABASE_ROLE: role });
    expect(run).toMatchObject({ code: EXIT.ok, stderr: '' });
    expect(run.stdout).toContain(`role ${role} may now log in with APP_DATABASE_PASSWORD`);
    expect(run.stdout).not.toContain(password);

    const url = new URL(database.url);
    url.username = role;
    url.password = encodeURIComponent(password);
    const app = new Client({ connectionString: url.toString() });
    await app.connect();
    try {
      const { rows } = await app.query<{ user: string }>('SELECT current_user AS user');
      expect(rows[0]?.user).toBe(role);
      await expect(app.query('SELECT count(*) FROM users')).resolves.toBeDefined();
      await expect(app.query('UPDATE audit_logs SET event_type = event_type')).rejects.toThrow(
        'permission denied for table audit_logs',
      );
    } finally {
      await app.end();
    }
  });

  it('refuses a role name that is not a plain identifier and a short password, without touching the database', async () => {
    const run = await cli({
      DATABASE_URL: database.url,
      APP_DATABASE_PASSWORD: 'short',
      APP_DATABASE_ROLE: 'erp_app"; DROP TABLE users; --',
    });
    expect(run.code).toBe(EXIT.config);
    expect(run.stderr).toContain('config error: APP_DATABASE_ROLE="erp_app\\"; DROP TABLE users; --" is invalid');
    expect(run.stderr).toContain('config error: APP_DATABASE_PASSWORD="[redacted]" is invalid');
    expect(run.stderr).not.toContain('short"');
    expect(run.stdout).toBe('');
  });

  it("computes a SCRAM-SHA-256 verifier whose server key signs RFC 7677's example exchange", () => {
    const verifier = scramSha256Verifier('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'));
    expect(verifier).toMatch(/^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    const serverKey = Buffer.from(verifier.split(':').at(-1) ?? '', 'base64');
    const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
    // The server-final message of RFC 7677 section 3: v=<ServerSignature>.
    expect(createHmac('sha256', serverKey).update(authMessage).digest('base64')).toBe(
      '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
    );
  });
});
