import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { PlatformError } from '../errors.js';
import { repoRoot } from '../paths.js';
import type { Progress } from '../progress.js';
import type { ServiceDefinition } from '../supervisor.js';
import { httpProbe } from './local-service.js';

export interface AppOptions {
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
  /** Variables the app's config schema reads (app/src/config.ts); secrets included, never printed. */
  readonly env: Readonly<Record<string, string>>;
  /** An account made (if missing) and granted the admin role once the app answers, so people can try every route. */
  readonly administrator?: Administrator;
  /**
   * Migrations as the database owner, who also lets the app's role log in with `appRolePassword`; without it they
   * run with the app's own DATABASE_URL.
   */
  readonly migration?: { readonly ownerDatabaseUrl: string; readonly appRolePassword: string };
}

/** The local platform's administrator: its password lives in a 0600 file under .local/, never printed. */
export interface Administrator {
  readonly email: string;
  readonly username: string;
  readonly password: string;
}

/**
 * Applies the app's pending migrations with one of its migrate entry points (`node <args> up`): the source
 * through tsx, or the production build. Fails with the migrate command's own output.
 */
export function migrateDatabase(
  databaseUrl: string,
  migrateArgs: readonly string[],
  progress: Progress,
  appRolePassword?: string,
): void {
  progress.step('app: applying database migrations');
  const result = spawnSync(process.execPath, [...migrateArgs, 'up'], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: databaseUrl,
      ...(appRolePassword === undefined ? {} : { APP_DATABASE_PASSWORD: appRolePassword }),
    },
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new PlatformError(
      `database migrations failed (exit ${String(result.status)}):\n${`${result.stdout}${result.stderr}`.trim()}`,
      'fix the migration named above; npm run migrate -w app -- status shows the state',
    );
  }
}

/**
 * Makes `admin` (an existing account is kept) and grants it the admin role with the app's own `admin create-user`
 * command, as an operator bootstraps the first administrator of a new environment: not through the public sign-up,
 * which is rate-limited per client IP. The password goes through standard input, never the command line.
 */
export function ensureAdministrator(
  admin: Administrator,
  appEnv: Readonly<Record<string, string>>,
  adminArgs: readonly string[],
): void {
  const args = ['create-user', '--email', admin.email, '--username', admin.username, '--password-file', '-'];
  const result = spawnSync(process.execPath, [...adminArgs, ...args, '--role', 'admin'], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: appEnv.DATABASE_URL ?? '',
      REDIS_URL: appEnv.REDIS_URL ?? '',
      PASSWORD_PEPPER: appEnv.PASSWORD_PEPPER ?? '',
    },
    input: `${admin.password}\n`,
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new PlatformError(
      `making the local administrator ${admin.email} failed (exit ${String(result.status)}):\n${`${result.stdout}${result.stderr}`.trim()}`,
      'npm run admin -w app -- --help shows the command; fix what it says and start again',
    );
  }
}

/** The app as the supervisor runs it, with how its migrations run (a release migrates the same way). */
export interface AppServiceDefinition extends ServiceDefinition {
  readonly migration?: AppOptions['migration'];
}

/**
 * An erp-api entry point (`server.ts`, `worker.ts`) run from its TypeScript source with tsx, as one process so
 * signals reach it directly: instrument.ts first, as the image runs it, so tracing hooks in before express, pg and
 * ioredis load; HOST and PORT from the service; ready when /health/ready answers.
 */
export function appProcess(
  name: string,
  entry: string,
  options: Pick<AppOptions, 'host' | 'port' | 'portEnv' | 'env'>,
): ServiceDefinition {
  const { host, port } = options;
  const base = `http://${host}:${port}`;
  return {
    name,
    host,
    port,
    portEnv: options.portEnv,
    url: base,
    command: process.execPath,
    args: [
      '--enable-source-maps',
      '--import',
      'tsx',
      '--import',
      pathToFileURL(join(repoRoot, 'app', 'src', 'instrument.ts')).href,
      entry,
    ],
    env: { ...options.env, HOST: host, PORT: String(port) },
    stopSignal: 'SIGTERM',
    // the server's drain delay and in-flight wait, or the worker's SHUTDOWN_TIMEOUT_MS (30 s) for running jobs, plus slack
    stopTimeoutMs: 45_000,
    readyTimeoutMs: 60_000,
    probe: httpProbe(base, '/health/ready'),
  };
}

/** erp-api run from its TypeScript source with tsx, as one process so signals reach it directly. */
export function appService(options: AppOptions, superseded?: () => string | undefined): AppServiceDefinition {
  const tsx = ['--enable-source-maps', '--import', 'tsx'];
  return {
    ...appProcess('app', join(repoRoot, 'app', 'src', 'bin', 'server.ts'), options),
    ...(options.migration === undefined ? {} : { migration: options.migration }),
    ...(superseded === undefined ? {} : { superseded }),
    // the app refuses to start on a schema behind its build: migrate first, as the cluster's migration Job does
    prepare(progress: Progress): Promise<void> {
      migrateDatabase(
        options.migration?.ownerDatabaseUrl ?? options.env.DATABASE_URL ?? '',
        [...tsx, join(repoRoot, 'app', 'src', 'bin', 'migrate.ts')],
        progress,
        options.migration?.appRolePassword,
      );
      return Promise.resolve();
    },
    afterReady(): Promise<void> {
      if (options.administrator !== undefined) {
        ensureAdministrator(options.administrator, options.env, [
          ...tsx,
          join(repoRoot, 'app', 'src', 'bin', 'admin.ts'),
        ]);
      }
      return Promise.resolve();
    },
  };
}
