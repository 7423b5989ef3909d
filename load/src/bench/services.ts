import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';

import { APP_DATABASE, LOCAL_HOST } from '@slipway/pipelines/platform/local';
import { repoRoot } from '@slipway/pipelines/platform/paths';
import { freePort } from '@slipway/pipelines/platform/ports';
import type { Progress } from '@slipway/pipelines/platform/progress';
import { migrateDatabase } from '@slipway/pipelines/platform/services/app';
import { postgresService } from '@slipway/pipelines/platform/services/postgres';
import { redisService } from '@slipway/pipelines/platform/services/redis';
import type { ServiceDefinition } from '@slipway/pipelines/platform/supervisor';

/** Where `npm run build -w app` puts the production entry point. */
export const BUILT_APP_ENTRY = join(repoRoot, 'app', 'dist', 'bin', 'server.js');
export const BUILT_WORKER_ENTRY = join(repoRoot, 'app', 'dist', 'bin', 'worker.js');
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

/** A fresh, throwaway PostgreSQL (with the app's database) and Redis under `dir`, on free loopback ports. */
export async function benchDataServices(dir: string) {
  const postgres = postgresService({
    dir: join(dir, 'postgres'),
    host: LOCAL_HOST,
    port: await freePort(LOCAL_HOST),
    portEnv: PORT_ENV,
    databases: [APP_DATABASE],
    disposable: true,
    fresh: true,
  });
  const redis = redisService({
    dir: join(dir, 'redis'),
    host: LOCAL_HOST,
    port: await freePort(LOCAL_HOST),
    portEnv: PORT_ENV,
    disposable: true,
    fresh: true,
  });
  return { postgres, redis };
}

/**
 * The benchmark app's environment, never production's: no general rate limit in the way of one load generator, the
 * client address taken from X-Forwarded-For so each sign-in comes from its own address, and throwaway secrets (the
 * bench scope and its data are removed after the run).
 */
export function benchAppEnv(databaseUrl: string, redisUrl: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    APP_ENV: 'prod',
    LOG_LEVEL: 'warn',
    SHUTDOWN_DRAIN_MS: '0',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    RATE_LIMIT_PER_MINUTE: '1000000',
    TRUST_PROXY: '1',
    JWT_SECRETS: randomBytes(48).toString('base64url'),
    PASSWORD_PEPPER: randomBytes(32).toString('base64url'),
  };
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
 * `erp-api worker` as production runs it (the tsc build under plain node), named `name` among the started services;
 * its probes and metrics answer on `port`. The app service migrates the database before any worker starts.
 */
export function builtWorkerService(name: string, { host, port, env }: BuiltAppOptions): ServiceDefinition {
  const base = `http://${host}:${port}`;
  return {
    name,
    host,
    port,
    portEnv: PORT_ENV,
    url: base,
    command: process.execPath,
    args: [...cpuProfileArgs(process.env), BUILT_WORKER_ENTRY],
    env: { ...env, HOST: host, PORT: String(port) },
    stopSignal: 'SIGTERM',
    // running jobs get SHUTDOWN_TIMEOUT_MS (30 s) to finish, plus slack
    stopTimeoutMs: 45_000,
    readyTimeoutMs: 30_000,
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
