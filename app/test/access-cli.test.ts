import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PermissionCache } from '../src/components/access/cache.js';
import { EXIT, runAdminCli } from '../src/admin.js';
import type { Database } from '../src/db/pool.js';
import { createLogger } from '../src/logger.js';
import { Metrics } from '../src/observability/metrics.js';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { insertUser, testDb } from './support/db.js';
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
        const child = spawn(process.execPath, ['--import', 'tsx', 'app/src/admin.ts', ...args], {
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
