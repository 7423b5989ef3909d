import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';

import { repoRoot } from '@slipway/pipelines/platform/paths';
import type { Progress } from '@slipway/pipelines/platform/progress';
import { migrateDatabase } from '@slipway/pipelines/platform/services/app';
import type { ServiceDefinition } from '@slipway/pipelines/platform/supervisor';

/** Where `npm run build -w app` puts the production entry point. */
export const BUILT_APP_ENTRY = join(repoRoot, 'app', 'dist', 'bin', 'server.js');
export const BUILT_MIGRATE_ENTRY = join(repoRoot, 'app', 'dist', 'bin', 'migrate.js');
export const BARE_SERVER_SCRIPT = fileURLToPath(new URL('./bare-server.ts', import.meta.url));
export const EXPRESS_SERVER_SCRIPT = fileURLToPath(new URL('./express-server.ts', import.meta.url));

const PORT_ENV = 'none (the benchmark picks a free port)';

async function expectOk(url: string): Promise<void> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  if (response.status !== 200) throw new Error(`${new URL(url).pathname} answered ${response.status}`);
}

export interface BuiltAppOptions {
  readonly host: string;
  readonly port: number;
  /** Variables of the app's config schema (app/src/config.ts); secrets included, never printed. */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Node flags that write a CPU profile of the app when BENCH_CPU_PROF names a folder (opt-in, for finding where a
 * request's time goes; the profile is written when the app stops): `--cpu-prof --cpu-prof-dir <folder>`.
 */
export function cpuProfileArgs(env: NodeJS.ProcessEnv): string[] {
  const dir = env.BENCH_CPU_PROF;
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', '--cpu-prof-dir', resolve(dir)];
}

/** erp-api as production runs it: the tsc build under plain node, no tsx and no source-map support. */
export function builtAppService({ host, port, env }: BuiltAppOptions): ServiceDefinition {
  const base = `http://${host}:${port}`;
  return {
    name: 'app',
    host,
    port,
    portEnv: PORT_ENV,
    url: base,
    command: process.execPath,
    args: [...cpuProfileArgs(process.env), BUILT_APP_ENTRY],
    env: { ...env, HOST: host, PORT: String(port) },
    stopSignal: 'SIGTERM',
    // the app's in-flight wait (SHUTDOWN_TIMEOUT_MS, 30 s by default) plus slack; the drain is 0 here
    stopTimeoutMs: 40_000,
    readyTimeoutMs: 30_000,
    prepare(progress: Progress): Promise<void> {
      migrateDatabase(env.DATABASE_URL ?? '', [BUILT_MIGRATE_ENTRY], progress);
      return Promise.resolve();
    },
    probe: () => expectOk(`${base}/health/ready`),
  };
}

/**
 * The bare node:http reference server (bare-server.ts, loopback only), run with tsx as the platform runs TypeScript.
 * @param responseFile JSON { contentType, body } it answers every GET with (see bare-response.ts).
 */
export function bareServerService(port: number, responseFile: string): ServiceDefinition {
  const host = '127.0.0.1';
  const base = `http://${host}:${port}`;
  return {
    name: 'bare',
    host,
    port,
    portEnv: PORT_ENV,
    url: base,
    command: process.execPath,
    args: ['--import', 'tsx', BARE_SERVER_SCRIPT, String(port), responseFile],
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 5_000,
    readyTimeoutMs: 15_000,
    probe: () => expectOk(`${base}/`),
  };
}

/**
 * The Express 5 one-route reference server (express-server.ts, loopback only), run with tsx like the bare server.
 * @param responseFile JSON { contentType, body } its one route answers with (see bare-response.ts).
 */
export function expressServerService(port: number, responseFile: string): ServiceDefinition {
  return {
    ...bareServerService(port, responseFile),
    name: 'express',
    args: ['--import', 'tsx', EXPRESS_SERVER_SCRIPT, String(port), responseFile],
  };
}
