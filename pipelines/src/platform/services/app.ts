import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { PlatformError } from '../errors.js';
import { repoRoot } from '../paths.js';
import type { Progress } from '../progress.js';
import type { ServiceDefinition } from '../supervisor.js';

export interface AppOptions {
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
  /** Variables the app's config schema reads (app/src/config.ts); secrets included, never printed. */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Applies the app's pending migrations with one of its migrate entry points (`node <args> up`): the source
 * through tsx, or the production build. Fails with the migrate command's own output.
 */
export function migrateDatabase(databaseUrl: string, migrateArgs: readonly string[], progress: Progress): void {
  progress.step('app: applying database migrations');
  const result = spawnSync(process.execPath, [...migrateArgs, 'up'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl },
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new PlatformError(
      `database migrations failed (exit ${String(result.status)}):\n${`${result.stdout}${result.stderr}`.trim()}`,
      'fix the migration named above; npm run migrate -w app -- status shows the state',
    );
  }
}

/** erp-api run from its TypeScript source with tsx, as one process so signals reach it directly. */
export function appService(options: AppOptions): ServiceDefinition {
  const { host, port } = options;
  const base = `http://${host}:${port}`;
  const tsx = ['--enable-source-maps', '--import', 'tsx'];
  return {
    name: 'app',
    host,
    port,
    portEnv: options.portEnv,
    url: base,
    command: process.execPath,
    args: [...tsx, join(repoRoot, 'app', 'src', 'server.ts')],
    env: { ...options.env, HOST: host, PORT: String(port) },
    stopSignal: 'SIGTERM',
    // drain delay + in-flight wait of the app's own graceful shutdown, plus slack
    stopTimeoutMs: 45_000,
    readyTimeoutMs: 60_000,
    // the app refuses to start on a schema behind its build: migrate first, as the cluster's migration Job does
    prepare(progress: Progress): Promise<void> {
      migrateDatabase(options.env.DATABASE_URL ?? '', [...tsx, join(repoRoot, 'app', 'src', 'migrate.ts')], progress);
      return Promise.resolve();
    },

    async probe(): Promise<void> {
      const response = await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(2_000) });
      if (response.status !== 200) throw new Error(`/health/ready answered ${response.status}`);
    },
  };
}
