import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import type { ServiceDefinition } from '../supervisor.js';
import { httpProbe } from './local-service.js';

/** The scrape job of the Pushgateway; `honor_labels` keeps the pushers' own job and instance labels. */
export const PUSHGATEWAY_JOB = 'pushgateway';

export interface PushgatewayOptions {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
}

/**
 * Debian's Prometheus Pushgateway (Apache-2.0): backups and restore drills are jobs that end before a scrape, so
 * they push their last result here and Prometheus scrapes it. Pushed groups persist in a file across restarts.
 */
export function pushgatewayService(options: PushgatewayOptions): ServiceDefinition {
  const { host, port } = options;
  const url = `http://${host}:${port}`;
  return {
    name: 'pushgateway',
    host,
    port,
    portEnv: options.portEnv,
    url,
    command: 'prometheus-pushgateway',
    args: [
      `--web.listen-address=${host}:${port}`,
      `--persistence.file=${join(options.dir, 'metrics.store')}`,
      '--persistence.interval=5s',
    ],
    stopSignal: 'SIGTERM',
    readyTimeoutMs: 20_000,
    prepare(): Promise<void> {
      mkdirSync(options.dir, { recursive: true });
      return Promise.resolve();
    },
    probe: httpProbe(url, '/-/ready'),
  };
}
