/* eslint-disable security/detect-non-literal-fs-filename -- paths are temporary folders the tests make */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PermissionCache } from '../src/components/access/cache.js';
import { EXIT, runAdminCli } from '../src/bin/admin.js';
import { PasswordHasher } from '../src/components/auth/passwords.js';
import type { Database } from '../src/db/pool.js';
import { createLogger } from '../src/logger.js';
import { Metrics } from '../src/observability/metrics.js';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { TEST_SECRETS } from './support/app.js';
import { insertUser, testDb, unique } from './support/db.js';
import { CapturedLogs } from './support/logs.js';
import { freePort } from './support/net.js';
import { testServices } from './support/services.js';

let database: TestDatabase;
let db: Database;
let redis: Redis;

beforeAll(async () => {
  database = await createMigratedDatabase();
  ({ db } = testDb(database.url));
  redis = new Redis(testServices().redis.url, { enableOfflineQueue: false, lazyConnect: true });
  await redis.connect();
});

afterAll(async () => {
  redis.disconnect();
  await db.end();
  await database.drop();
});

async function cli(argv: string[], env: NodeJS.ProcessEnv) {
  let stdout = '';
  let stderr = '';
  const code = await runAdminCli(argv, env, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  });
  return { code, stdout, stderr };
}

/** A user row and its email, in this file's database. */
async function newUser(): Promise<{ id: string; email: string }> {
  const id = await insertUser(db, 'cli');
  const { rows } = await db.query<{ email: string }>('test.emailOf', 'SELECT email FROM users WHERE id = $1', [id]);
  return { id, email: rows[0]?.email ?? '' };
}

async function rolesOf(userId: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    'test.rolesOf',
    'SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = $1 ORDER BY r.name',
    [userId],
  );
  return rows.map((row) => row.name);
}

describe('npm run admin -- grant-role / revoke-role', () => {
  it('grants the first administrator (0), says so again without changing anything (0), and audits once', async () => {
    const user = await newUser();
    const env = { DATABASE_URL: database.url };
    const first = await cli(['grant-role', '--email', user.email.toUpperCase(), '--role', 'admin'], env);
    expect(first).toMatchObject({ code: EXIT.ok, stderr: '' });
    expect(first.stdout).toContain(`granted role admin to ${user.email.toUpperCase()}`);
    expect(await rolesOf(user.id)).toEqual(['admin']);

    const again = await cli(['grant-role', '--email', user.email, '--role', 'admin'], env);
    expect(again.code).toBe(EXIT.ok);
    expect(again.stdout).toContain('already has role admin; nothing changed');

    const { rows } = await db.query<{ actor_user_id: string | null; metadata: Record<string, unknown> }>(
      'test.cliAudit',
      "SELECT actor_user_id, metadata FROM audit_logs WHERE event_type = 'access.role.granted' AND resource_id = $1",
      [user.id],
    );
    expect(rows).toEqual([{ actor_user_id: null, metadata: { role: 'admin', source: 'admin-cli' } }]);

    expect((await cli(['grant-role', '--email', user.email, '--role', 'manager'], env)).code).toBe(EXIT.ok);
    expect((await cli(['revoke-role', '--email', user.email, '--role', 'manager'], env)).code).toBe(EXIT.ok);
    expect(await rolesOf(user.id)).toEqual(['admin']);
  });

  it("drops the account's cached permissions in Redis when REDIS_URL is set", async () => {
    const user = await newUser();
    const cache = new PermissionCache({
      db,
      redis,
      metrics: new Metrics({ defaultMetrics: false }),
      logger: createLogger({ logLevel: 'debug', appEnv: 'dev' }, new CapturedLogs()),
    });
    expect((await cache.permissionsOf(user.id)).size).toBe(0);
    const run = await cli(['grant-role', '--email', user.email, '--role', 'manager'], {
      DATABASE_URL: database.url,
      REDIS_URL: testServices().redis.url,
    });
    expect(run.code).toBe(EXIT.ok);
    expect((await cache.permissionsOf(user.id)).has('products:create')).toBe(true);
  });

  it('still grants, with a warning, when REDIS_URL points at a Redis that is down', async () => {
    const user = await newUser();
    const run = await cli(['grant-role', '--email', user.email, '--role', 'manager'], {
      DATABASE_URL: database.url,
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    });
    expect(run.code).toBe(EXIT.ok);
    expect(run.stderr).toContain('could not reach Redis');
    expect(await rolesOf(user.id)).toEqual(['manager']);
  });

  it('exits 1 for an unknown account or role, and refuses to remove the last administrator', async () => {
    const env = { DATABASE_URL: database.url };
    const nobody = await cli(['grant-role', '--email', 'nobody-here@example.com', '--role', 'admin'], env);
    expect(nobody.code).toBe(EXIT.failed);
    expect(nobody.stderr).toContain('no account has the email nobody-here@example.com');

    const user = await newUser();
    const unknownRole = await cli(['grant-role', '--email', user.email, '--role', 'superuser'], env);
    expect(unknownRole.code).toBe(EXIT.failed);
    expect(unknownRole.stderr).toContain('role "superuser" does not exist');

    await db.query(
      'test.clearAdmins',
      "DELETE FROM user_roles WHERE role_id = (SELECT id FROM roles WHERE name = 'admin')",
    );
    expect((await cli(['grant-role', '--email', user.email, '--role', 'admin'], env)).code).toBe(EXIT.ok);
    const last = await cli(['revoke-role', '--email', user.email, '--role', 'admin'], env);
    expect(last.code).toBe(EXIT.failed);
    expect(last.stderr).toContain('last active administrator');
  });

  it('exits 64 on usage errors and 78 on configuration errors, before touching the database', async () => {
    const env = { DATABASE_URL: database.url };
    for (const argv of [
      [],
      ['grant-role'],
      ['grant-role', '--email', 'a@example.com'],
      ['grant-role', '--email', 'not-an-email', '--role', 'admin'],
      ['grant-role', '--email', 'a@example.com', '--role', 'Admin!'],
      ['promote', '--email', 'a@example.com', '--role', 'admin'],
      ['grant-role', '--email', 'a@example.com', '--role', 'admin', '--force'],
    ]) {
      const run = await cli(argv, env);
      expect(run.code, argv.join(' ')).toBe(EXIT.usage);
      expect(run.stderr).toContain('usage: npm run admin');
    }
    const help = await cli(['--help'], {});
    expect(help).toMatchObject({ code: EXIT.ok });
    expect(help.stdout).toContain('grant-role');

    const missing = await cli(['grant-role', '--email', 'a@example.com', '--role', 'admin'], {});
    expect(missing.code).toBe(EXIT.config);
    expect(missing.stderr).toContain('DATABASE_URL');
    const badRedis = await cli(['grant-role', '--email', 'a@example.com', '--role', 'admin'], {
      ...env,
      REDIS_URL: 'http://localhost:6379',
    });
    expect(badRedis.code).toBe(EXIT.config);
    expect(badRedis.stderr).toContain('REDIS_URL');
  });

  it('exits 1 when the database cannot be reached', async () => {
    const run = await cli(['grant-role', '--email', 'a@example.com', '--role', 'admin'], {
      DATABASE_URL: `postgresql://nobody@127.0.0.1:${await freePort()}/none`,
    });
    expect(run.code).toBe(EXIT.failed);
    expect(run.stderr).toContain('could not reach the database');
  });

  it('runs as a process with the same exit codes', async () => {
    const user = await newUser();
    const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
    const run = (args: string[]) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'app/src/bin/admin.ts', ...args], {
          cwd: repoRoot,
          env: { PATH: process.env.PATH, DATABASE_URL: database.url },
          stdio: 'ignore',
        });
        child.once('exit', resolve);
      });
    expect(await run(['grant-role', '--email', user.email, '--role', 'manager'])).toBe(EXIT.ok);
    expect(await run(['grant-role', '--role', 'manager'])).toBe(EXIT.usage);
    expect(await rolesOf(user.id)).toEqual(['manager']);
  }, 30_000);
});

describe('npm run admin -- create-user', () => {
  it('makes an account that signs in with the pepper, grants the role, and leaves an existing one as it is', async () => {
    const name = unique('boot')
      .replace(/[^A-Za-z0-9._-]/g, '')
      .slice(0, 60);
    const email = `${name}@example.com`;
    const dir = mkdtempSync(join(tmpdir(), 'slipway-admin-'));
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, 'a long enough local password\n', { mode: 0o600 });
    const env = { DATABASE_URL: database.url, PASSWORD_PEPPER: TEST_SECRETS.PASSWORD_PEPPER };
    const argv = ['create-user', '--email', email, '--username', name, '--password-file', passwordFile];

    const first = await cli([...argv, '--role', 'admin'], env);
    expect(first).toMatchObject({ code: EXIT.ok, stderr: '' });
    expect(first.stdout).toContain(`created ${email}`);
    expect(first.stdout).toContain('granted role admin');
    const { rows } = await db.query<{ id: string; password_hash: string }>(
      'test.createdUser',
      'SELECT id, password_hash FROM users WHERE email = $1',
      [email],
    );
    const [user] = rows;
    expect(await rolesOf(user?.id ?? '')).toEqual(['admin', 'customer']);
    const hasher = new PasswordHasher(TEST_SECRETS.PASSWORD_PEPPER);
    expect(await hasher.verify(user?.password_hash ?? '', 'a long enough local password')).toBe(true);

    writeFileSync(passwordFile, 'another long password here\n');
    const again = await cli([...argv, '--role', 'admin'], env);
    expect(again.code).toBe(EXIT.ok);
    expect(again.stdout).toContain('already exists; its password is unchanged');
    expect(again.stdout).toContain('already has role admin; nothing changed');
    const after = await db.query<{ password_hash: string }>(
      'test.hashAfter',
      'SELECT password_hash FROM users WHERE id = $1',
      [user?.id],
    );
    expect(after.rows[0]?.password_hash).toBe(user?.password_hash);
  });

  it('refuses a short password, a missing file, a bad username (64) and a missing pepper (78)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-admin-'));
    const short = join(dir, 'short');
    writeFileSync(short, 'short\n');
    const env = { DATABASE_URL: database.url, PASSWORD_PEPPER: TEST_SECRETS.PASSWORD_PEPPER };
    const base = ['create-user', '--email', 'x@example.com', '--username', 'someone'];
    const weak = await cli([...base, '--password-file', short], env);
    expect(weak.code).toBe(EXIT.usage);
    expect(weak.stderr).toContain(`the password in --password-file ${short} is refused`);
    const missing = await cli([...base, '--password-file', join(dir, 'absent')], env);
    expect(missing.code).toBe(EXIT.usage);
    expect(missing.stderr).toContain('cannot read --password-file');
    const badName = await cli(
      ['create-user', '--email', 'x@example.com', '--username', 'a b', '--password-file', short],
      env,
    );
    expect(badName.code).toBe(EXIT.usage);
    expect(badName.stderr).toContain('--username "a b" is not a username');
    const noPepper = await cli([...base, '--password-file', short], { DATABASE_URL: database.url });
    expect(noPepper.code).toBe(EXIT.config);
    expect(noPepper.stderr).toContain('PASSWORD_PEPPER');
  });
});
