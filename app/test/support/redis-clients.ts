import { once } from 'node:events';

import { Redis } from 'ioredis';

import { freePort } from './net.js';

/**
 * Redis clients configured like the service's (no offline queue, so a Redis that is away fails commands at once),
 * remembered so one call disconnects them all after a test file.
 */
export class RedisClients {
  readonly #clients: Redis[] = [];

  /** A client that is ready; `readyCheck: false` for a server that accepts and never answers. */
  async ready(url: string, options: { readyCheck?: boolean } = {}): Promise<Redis> {
    const client = this.#track(
      new Redis(url, {
        enableOfflineQueue: false,
        enableReadyCheck: options.readyCheck ?? true,
        // CLIENT SETINFO would wait for an answer before 'ready'; a Redis that never answers must still look ready.
        disableClientInfo: options.readyCheck === false,
        maxRetriesPerRequest: 1,
        retryStrategy: () => 200,
      }),
    );
    await once(client, 'ready', { signal: AbortSignal.timeout(5_000) });
    return client;
  }

  /** A client of a port nothing listens on: every command fails at once, as while Redis is down. */
  async refused(): Promise<Redis> {
    return this.#track(
      new Redis(`redis://127.0.0.1:${await freePort()}`, { enableOfflineQueue: false, retryStrategy: () => 200 }),
    );
  }

  disconnectAll(): void {
    for (const client of this.#clients.splice(0)) client.disconnect();
  }

  #track(client: Redis): Redis {
    client.on('error', () => undefined);
    this.#clients.push(client);
    return client;
  }
}
