import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../src/config.js';
import { PendingMigrationsError } from '../src/db/migrations.js';
import { createLogger } from '../src/logger.js';
import { EXIT_CONFIG_ERROR, EXIT_PENDING_MIGRATIONS, startServer } from '../src/bin/server.js';
import { testEnv as sharedTestEnv } from './support/app.js';
import { createMigratedDatabase, createTestDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { CapturedLogs } from './support/logs.js';
import { freePort } from './support/net.js';
import { waitFor } from './support/server-process.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const children: ChildProcess[] = [];
const sockets: Socket[] = [];
let migrated: TestDatabase;
let empty: TestDatabase;

beforeAll(async () => {
  [migrated, empty] = await Promise.all([createMigratedDatabase(), createTestDatabase()]);
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all([migrated.drop(), empty.drop()]);
});

/** The test environment on this file's own, fully migrated database. */
function testEnv(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return sharedTestEnv({ DATABASE_URL: migrated.url, ...overrides });
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface ServerProcess {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<Exit>;
}

/** The real entry point, as the container runs it (plus tsx), with only the variables given here. */
function spawnServer(env: NodeJS.ProcessEnv): ServerProcess {
  const inherited = { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR };
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/src/bin/server.ts'], {
    cwd: repoRoot,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

function logLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function readinessStatus(url: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return undefined;
  }
}

describe('server process', () => {
  it('serves until SIGTERM, drains with readiness at 503, ignores a second signal and exits 0', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const server = spawnServer(
      testEnv({ HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '1000' }),
    );

    await waitFor('readiness 200', async () => ((await readinessStatus(url)) === 200 ? true : undefined));
    expect(logLines(server.stdout()).find((line) => line.msg === 'listening')).toMatchObject({ url });

    const signalledAt = Date.now();
    server.child.kill('SIGTERM');
    await waitFor('readiness 503', async () => ((await readinessStatus(url)) === 503 ? true : undefined), 900);
    // Still serving during the drain: liveness answers and readiness says why it is not ready.
    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'not_ready', shutting_down: true });
    expect((await fetch(`${url}/health/live`)).status).toBe(200);

    server.child.kill('SIGINT');
    const exit = await server.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(1_000);

    const messages = logLines(server.stdout()).map((line) => line.msg);
    const steps = [
      'shutdown started; readiness now reports 503 while still serving',
      'drain period over; no longer accepting connections',
      'in-flight requests finished; http server closed',
      'postgres pool closed',
      'redis connection closed',
      'shutdown complete',
    ];
    expect(messages.filter((msg) => steps.includes(msg as string))).toEqual(steps);
    expect(messages).toContain('shutdown already in progress; signal ignored');
    expect(server.stderr()).toBe('');
  });

  it('exits 78 naming DATABASE_URL when it is missing', async () => {
    const env = testEnv({ PORT: String(await freePort()) });
    delete env.DATABASE_URL;
    const server = spawnServer(env);
    const exit = await server.exited;
    expect(exit).toEqual({ code: EXIT_CONFIG_ERROR, signal: null });
    expect(EXIT_CONFIG_ERROR).toBe(78);
    const lines = server.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^config error: DATABASE_URL is not set but is required: /);
    expect(server.stdout()).toBe('');
  });

  it('refuses to start while migrations are pending, naming them, and exits 75', async () => {
    const server = spawnServer(testEnv({ DATABASE_URL: empty.url, PORT: String(await freePort()) }));
    const exit = await server.exited;
    expect(exit).toEqual({ code: EXIT_PENDING_MIGRATIONS, signal: null });
    const fatal = logLines(server.stdout()).find((line) => line.level === 'fatal');
    expect(fatal?.msg).toMatch(
      /^the database schema is behind this build: \d+ pending migrations \(0001_users_and_access\.sql, /,
    );
    expect(fatal?.msg).toContain('npm run migrate -w app');
    expect(fatal?.pending).toEqual(expect.arrayContaining(['0001_users_and_access.sql']));
    expect(logLines(server.stdout()).map((line) => line.msg)).not.toContain('listening');
  });

  it('exits 1 with a clear line when the database cannot be reached for the schema check', async () => {
    const port = await freePort();
    const server = spawnServer(
      testEnv({ DATABASE_URL: `postgres://erp:pw@127.0.0.1:${await freePort()}/erp`, PORT: String(port) }),
    );
    expect((await server.exited).code).toBe(1);
    const fatal = logLines(server.stdout()).find((line) => line.level === 'fatal');
    expect(fatal?.msg).toMatch(/^could not check the database schema; check DATABASE_URL/);
  });

  it('prints every config problem without the Redis password', async () => {
    const env = testEnv({ PORT: '99999', REDIS_URL: 'mysql://:very-secret-pw@127.0.0.1:6379' });
    const server = spawnServer(env);
    expect((await server.exited).code).toBe(EXIT_CONFIG_ERROR);
    const lines = server.stderr().trim().split('\n');
    expect(lines.map((line) => /^config error: (\w+)/.exec(line)?.[1])).toEqual(['PORT', 'REDIS_URL']);
    expect(server.stderr()).not.toContain('very-secret-pw');
  });
});

describe('startServer', () => {
  it('throws PendingMigrationsError before listening on a database without the schema', async () => {
    const port = await freePort();
    const config = loadConfig(testEnv({ DATABASE_URL: empty.url, HOST: '127.0.0.1', PORT: String(port) }));
    const logs = new CapturedLogs();
    await expect(startServer(config, createLogger(config, logs))).rejects.toBeInstanceOf(PendingMigrationsError);
    expect(logs.withMessage('listening')).toEqual([]);
  });
});

describe('startServer shutdown', () => {
  it('cuts connections whose requests outlive SHUTDOWN_TIMEOUT_MS and still closes cleanly', async () => {
    const port = await freePort();
    const config = loadConfig(
      testEnv({ HOST: '127.0.0.1', PORT: String(port), SHUTDOWN_DRAIN_MS: '0', SHUTDOWN_TIMEOUT_MS: '300' }),
    );
    const logs = new CapturedLogs();
    const running = await startServer(config, createLogger(config, logs));
    expect(running.url).toBe(`http://127.0.0.1:${port}`);

    // A request whose body never finishes arriving stays in flight until the server cuts it.
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => undefined);
    const socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(
      'POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a"',
    );
    await waitFor('the request to reach the server', async () =>
      (await new Promise<number>((resolve) => running.server.getConnections((_e, n) => resolve(n)))) > 0
        ? true
        : undefined,
    );

    const startedAt = Date.now();
    const shutdown = running.shutdown('test');
    expect(running.lifecycle.shuttingDown).toBe(true);
    expect(await running.shutdown('again')).toBe(false);
    expect(await shutdown).toBe(true);
    const took = Date.now() - startedAt;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(3_000);
    await socketClosed;

    expect(
      logs.withMessage('in-flight requests still running after the shutdown timeout; forcing their connections closed'),
    ).toEqual([expect.objectContaining({ level: 'warn', timeoutMs: 300, openConnections: 1 })]);
    expect(logs.withMessage('shutdown complete')).toHaveLength(1);
    expect(running.server.listening).toBe(false);
  });
});
