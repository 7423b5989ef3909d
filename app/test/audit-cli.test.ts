import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AUDIT_INTEGRITY_FAILED_EVENT, EXIT, USAGE, runAuditCli } from '../src/bin/audit.js';
import { AUDIT_EVENT, AuditLog } from '../src/components/audit/index.js';
import { AUDIT_INTEGRITY_EVENT } from '@slipway/monitoring/loki';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { testDb } from './support/db.js';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as pino JSON lines (help text is not JSON: use stdout for it). */
  readonly lines: Record<string, unknown>[];
}

async function cli(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runAuditCli(argv, env, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  });
  const lines = stdout.startsWith('{')
    ? stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
    : [];
  return { code, stdout, stderr, lines };
}

describe('audit CLI: usage and configuration', () => {
  it('prints help with exit 0', async () => {
    const run = await cli(['--help'], {});
    expect(run).toMatchObject({ code: EXIT.ok, stderr: '' });
    expect(run.stdout).toBe(`${USAGE}\n`);
  });

  it.each([
    [[], 'audit: no command given; use verify'],
    [['check'], 'audit: unknown command "check"; use verify'],
    [['verify', 'now'], 'audit: expected one command, got "verify" "now"'],
    [['verify', '--fast'], "audit: Unknown option '--fast'"],
  ])('refuses %j with exit 64 and the usage', async (argv, message) => {
    const run = await cli(argv, { DATABASE_URL: 'postgresql://localhost/x' });
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr.startsWith(message)).toBe(true);
    expect(run.stderr).toContain(USAGE);
  });

  it('exits 78 naming the problem when DATABASE_URL, LOG_LEVEL or APP_ENV is invalid', async () => {
    const missing = await cli(['verify'], {});
    expect(missing.code).toBe(EXIT.config);
    expect(missing.stderr).toMatch(/^config error: DATABASE_URL is not set/);

    const level = await cli(['verify'], { DATABASE_URL: 'postgresql://localhost/x', LOG_LEVEL: 'loud' });
    expect(level).toMatchObject({ code: EXIT.config, stdout: '' });
    expect(level.stderr).toBe(
      'config error: LOG_LEVEL="loud" is invalid: must be one of fatal, error, warn, info, debug, trace, silent; set it to one, or unset it for info\n',
    );
    const env = await cli(['verify'], { DATABASE_URL: 'postgresql://localhost/x', APP_ENV: 'qa' });
    expect(env.code).toBe(EXIT.config);
    expect(env.stderr).toContain('config error: APP_ENV="qa" is invalid: must be one of dev, staging, prod');
  });

  it('exits 69 when the database cannot be reached, without claiming anything about the chain', async () => {
    const run = await cli(['verify'], { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' });
    expect(run.code).toBe(EXIT.unavailable);
    expect(run.lines.map((line) => line.event)).not.toContain(AUDIT_INTEGRITY_FAILED_EVENT);
    expect(run.lines.at(-1)?.msg).toMatch(/^audit chain not verified: could not read audit_logs/);
  });
});

describe('audit CLI: verify', () => {
  let database: TestDatabase;
  let owner: Client;

  beforeAll(async () => {
    database = await createMigratedDatabase();
    owner = new Client({ connectionString: database.url });
    await owner.connect();
    const { db } = testDb(database.url);
    const log = new AuditLog();
    try {
      for (let index = 0; index < 5; index += 1) {
        await log.record(db, { type: AUDIT_EVENT.logout, ip: '192.0.2.1', userAgent: 'cli-test', metadata: { index } });
      }
    } finally {
      await db.end();
    }
  });

  afterAll(async () => {
    await owner.end();
    await database.drop();
  });

  it('uses the event name the Loki alert matches', () => {
    expect(AUDIT_INTEGRITY_FAILED_EVENT).toBe(AUDIT_INTEGRITY_EVENT);
  });

  it('exits 0 and logs audit.verified for an intact chain', async () => {
    const run = await cli(['verify'], { DATABASE_URL: database.url, APP_ENV: 'staging' });
    expect(run).toMatchObject({ code: EXIT.ok, stderr: '' });
    const done = run.lines.at(-1);
    expect(done).toMatchObject({
      level: 'info',
      event: 'audit.verified',
      checked: 5,
      env: 'staging',
      service: 'erp-api',
    });
    expect(run.lines.some((line) => line.event === AUDIT_INTEGRITY_FAILED_EVENT)).toBe(false);
  });

  it('exits 1 with one audit.integrity_failed line naming the first broken row, as a script', async () => {
    const { rows } = await owner.query<{ id: string }>('SELECT id::text AS id FROM audit_logs ORDER BY audit_logs.id');
    const target = rows[1]?.id ?? '';
    await owner.query('BEGIN');
    await owner.query('ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update');
    await owner.query("UPDATE audit_logs SET user_agent = 'someone-else' WHERE id = $1", [target]);
    await owner.query('ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_update');
    await owner.query('COMMIT');

    const run = await cli(['verify'], { DATABASE_URL: database.url });
    expect(run.code).toBe(EXIT.broken);
    const failures = run.lines.filter((line) => line.event === AUDIT_INTEGRITY_FAILED_EVENT);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ level: 'error', firstBrokenId: target, checked: 2 });
    expect(failures[0]?.msg).toContain(`audit chain broken: row ${target}: stored hash`);

    // The same through `npm run audit` / the image's `node dist/bin/audit.js`: the exit code and the line on stdout.
    const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', 'app/src/bin/audit.ts', 'verify'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, DATABASE_URL: database.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(EXIT.broken);
    const line = stdout
      .trim()
      .split('\n')
      .map((text) => JSON.parse(text) as Record<string, unknown>)
      .find((entry) => entry.event === AUDIT_INTEGRITY_FAILED_EVENT);
    expect(line).toMatchObject({ firstBrokenId: target, level: 'error' });
  }, 30_000);
});
