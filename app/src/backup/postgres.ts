import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * The PostgreSQL major version of the database server and of the client tools the image carries: pg_dump refuses a
 * newer server. infra's RDS engineVersion and the base image's postgresql-client package both read this one value.
 */
export const POSTGRES_MAJOR_VERSION = 15;

/** Debian's client binaries (its /usr/bin/pg_dump is a Perl wrapper, and the image has no Perl). */
export const POSTGRES_BIN_DIR = `/usr/lib/postgresql/${POSTGRES_MAJOR_VERSION}/bin`;

/** A PostgreSQL client tool that could not run or failed; the message carries its own last lines. */
export class PostgresToolError extends Error {
  override readonly name = 'PostgresToolError';
}

/** The client tools backup and restore run; pg_basebackup takes the physical base backups of point-in-time recovery. */
export type PostgresToolName = 'pg_dump' | 'pg_restore' | 'pg_basebackup';

/** The path of a client tool, or an error naming the package that provides it. */
export function postgresTool(name: PostgresToolName): string {
  const path = join(POSTGRES_BIN_DIR, name);
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- a fixed path under POSTGRES_BIN_DIR
  if (!existsSync(path)) {
    throw new PostgresToolError(
      `${path} is missing: ${name} ${POSTGRES_MAJOR_VERSION} is needed; install it with apt-get install -y postgresql-client-${POSTGRES_MAJOR_VERSION} (scripts/bootstrap does)`,
    );
  }
  return path;
}

/**
 * libpq settings for a connection URL: the URL without its password on the command line, the password in
 * PGPASSWORD, so `ps` and /proc never show it.
 */
export function libpqConnection(connectionString: string): {
  readonly dbname: string;
  readonly env: NodeJS.ProcessEnv;
} {
  const url = new URL(connectionString);
  const password = decodeURIComponent(url.password);
  url.password = '';
  return { dbname: url.toString(), env: password === '' ? {} : { PGPASSWORD: password } };
}

/** `connectionString` pointed at another database of the same server. */
export function withDatabase(connectionString: string, database: string): string {
  const url = new URL(connectionString);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/** The database a connection URL names (libpq's default, the user name, when the path is empty). */
export function databaseName(connectionString: string): string {
  const url = new URL(connectionString);
  const path = decodeURIComponent(url.pathname.replace(/^\//, ''));
  return path !== '' ? path : decodeURIComponent(url.username);
}

const KEPT_STDERR = 4000;

/** A running client tool: its stdout when asked for, and its exit. */
export interface PostgresToolProcess {
  /** The tool's standard output (only when started with `stdout: 'pipe'`). */
  readonly stdout: Readable | null;
  /** Resolves when it exits 0; rejects with the end of its stderr otherwise. */
  readonly exited: Promise<void>;
  kill(): void;
}

/** Starts a client tool with the password in its environment, handing each stderr line to `onStderrLine`. */
export function startPostgresTool(
  name: PostgresToolName,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: { readonly stdout?: 'pipe' | 'ignore'; readonly onStderrLine?: (line: string) => void } = {},
): PostgresToolProcess {
  const path = postgresTool(name);
  const child = spawn(path, [...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', options.stdout ?? 'ignore', 'pipe'],
  });
  let stderr = '';
  let pending = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-KEPT_STDERR);
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line !== '') options.onStderrLine?.(line);
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (error) => reject(new PostgresToolError(`${name} could not start: ${error.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new PostgresToolError(
            `${name} failed (${signal === null ? `exit ${String(code)}` : `signal ${signal}`}): ${stderr.trim() || 'no output'}`,
          ),
        );
    });
  });
  return { stdout: child.stdout, exited, kill: () => child.kill('SIGTERM') };
}

/** Runs a client tool to its end; resolves when it exits 0, rejects with the end of its stderr otherwise. */
export function runPostgresTool(
  name: PostgresToolName,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  onStderrLine?: (line: string) => void,
): Promise<void> {
  return startPostgresTool(name, args, env, onStderrLine === undefined ? {} : { onStderrLine }).exited;
}
