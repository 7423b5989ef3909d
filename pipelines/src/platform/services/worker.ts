import { join } from 'node:path';

import { repoRoot } from '../paths.js';
import type { ServiceDefinition } from '../supervisor.js';
import { appProcess } from './app.js';

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
  return appProcess('worker', join(repoRoot, 'app', 'src', 'bin', 'worker.ts'), options);
}
