import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { stringify } from 'yaml';

import { ALERTMANAGER_STACKS, alertmanagerConfig } from '@slipway/monitoring/alertmanager';
import type { ServiceDefinition } from '../supervisor.js';
import { toolPath } from '../tools.js';
import { httpProbe } from './local-service.js';

export interface AlertmanagerOptions {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
  /** Base URL of the local receiver; each receiver of the config posts to `<url>/<receiver name>`. */
  readonly receiverUrl: string;
}

interface Receiver {
  readonly name: string;
  readonly [key: string]: unknown;
}

/**
 * The dev stack's Alertmanager config (routes, grouping, inhibitions unchanged) with every receiver that notifies
 * someone pointed at the local webhook receiver instead of Slack or PagerDuty, so a route can be watched locally.
 * A receiver that notifies nobody (`none`) stays silent here too.
 */
export function localAlertmanagerConfig(receiverUrl: string): string {
  const config = alertmanagerConfig(ALERTMANAGER_STACKS.dev) as { receivers: Receiver[] } & Record<string, unknown>;
  const receivers = config.receivers.map(({ name, ...notifiers }) =>
    Object.keys(notifiers).length === 0 && name === 'none'
      ? { name }
      : { name, webhook_configs: [{ url: `${receiverUrl}/${name}`, send_resolved: true }] },
  );
  return stringify({ ...config, receivers });
}

/** The pinned Alertmanager (tools.versions, the cluster's version), one instance without clustering, routing to the local receiver. */
export function alertmanagerService(options: AlertmanagerOptions): ServiceDefinition {
  const { host, port } = options;
  const url = `http://${host}:${port}`;
  const config = join(options.dir, 'alertmanager.yml');
  return {
    name: 'alertmanager',
    host,
    port,
    portEnv: options.portEnv,
    url,
    command: toolPath('alertmanager'),
    args: [
      `--config.file=${config}`,
      `--storage.path=${join(options.dir, 'data')}`,
      `--web.listen-address=${host}:${port}`,
      // one instance: no gossip port to collide with another platform's
      '--cluster.listen-address=',
    ],
    stopSignal: 'SIGTERM',
    readyTimeoutMs: 20_000,
    prepare(): Promise<void> {
      mkdirSync(join(options.dir, 'data'), { recursive: true });
      writeFileSync(config, localAlertmanagerConfig(options.receiverUrl));
      return Promise.resolve();
    },
    probe: httpProbe(url, '/-/ready'),
  };
}
