import { join } from 'node:path';

import { repoRoot } from '../paths.js';
import type { ServiceDefinition } from '../supervisor.js';

export interface AppOptions {
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
  /** Variables the app's config schema reads (app/src/config.ts); secrets included, never printed. */
  readonly env: Readonly<Record<string, string>>;
}

/** erp-api run from its TypeScript source with tsx, as one process so signals reach it directly. */
export function appService(options: AppOptions): ServiceDefinition {
  const { host, port } = options;
  const base = `http://${host}:${port}`;
  return {
    name: 'app',
    host,
    port,
    portEnv: options.portEnv,
    url: base,
    command: process.execPath,
    args: ['--enable-source-maps', '--import', 'tsx', join(repoRoot, 'app', 'src', 'server.ts')],
    env: { ...options.env, HOST: host, PORT: String(port) },
    stopSignal: 'SIGTERM',
    // drain delay + in-flight wait of the app's own graceful shutdown, plus slack
    stopTimeoutMs: 45_000,
    readyTimeoutMs: 60_000,
    async probe(): Promise<void> {
      const response = await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(2_000) });
      if (response.status !== 200) throw new Error(`/health/ready answered ${response.status}`);
    },
  };
}
