import { join } from 'node:path';

import { repoRoot } from '../paths.js';
import type { ServiceDefinition } from '../supervisor.js';
import { appEntryArgs } from './app.js';
import { httpProbe } from './local-service.js';

export interface WorkerOptions {
  readonly host: string;
  /** Where its /health and /metrics answer. */
  readonly port: number;
  readonly portEnv: string;
  /** Variables the app's config schema reads, as the API gets them, plus SMTP_URL; secrets included, never printed. */
  readonly env: Readonly<Record<string, string>>;
}

/** `erp-api worker` run from its TypeScript source with tsx: invoice PDFs and the email outbox. */
export function workerService(options: WorkerOptions): ServiceDefinition {
  const { host, port } = options;
  const base = `http://${host}:${port}`;
  return {
    name: 'worker',
    host,
    port,
    portEnv: options.portEnv,
    url: base,
    command: process.execPath,
    args: appEntryArgs(join(repoRoot, 'app', 'src', 'worker.ts')),
    env: { ...options.env, HOST: host, PORT: String(port) },
    stopSignal: 'SIGTERM',
    // running jobs get SHUTDOWN_TIMEOUT_MS (30 s) to finish, plus slack
    stopTimeoutMs: 45_000,
    readyTimeoutMs: 60_000,
    probe: httpProbe(base, '/health/ready'),
  };
}
