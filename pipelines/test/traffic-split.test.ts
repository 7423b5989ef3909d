import { createServer, type Server } from 'node:http';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { removeDirectory } from '../src/platform/accounts.js';
import { scopeDir } from '../src/platform/paths.js';
import { freePort } from '../src/platform/ports.js';
import { silentProgress } from '../src/platform/progress.js';
import { appliedSplit, applySplit, nginxService, type NginxService } from '../src/platform/services/nginx.js';
import { Supervisor } from '../src/platform/supervisor.js';

const HOST = '127.0.0.1';
const dir = join(scopeDir('test'), `run-${String(process.pid)}-traffic-split`);

/** A version behind the front door: answers /health/live and anything else with its own name, after `delayMs`. */
function version(name: string, delayMs: number): Promise<{ server: Server; address: string }> {
  const server = createServer((request, response) => {
    setTimeout(() => response.writeHead(200, { 'Content-Type': 'text/plain' }).end(name), delayMs);
  });
  return new Promise((resolve) => {
    server.listen({ host: HOST, port: 0 }, () => {
      const address = server.address();
      resolve({ server, address: `${HOST}:${String(typeof address === 'object' && address ? address.port : 0)}` });
    });
  });
}

let supervisor: Supervisor;
let nginx: NginxService;
let stable: Awaited<ReturnType<typeof version>>;
let canary: Awaited<ReturnType<typeof version>>;

beforeAll(async () => {
  stable = await version('stable', 5);
  canary = await version('canary', 5);
  supervisor = new Supervisor(join(dir, 'state.json'), join(dir, 'logs'), silentProgress);
  nginx = nginxService({
    dir: join(dir, 'nginx'),
    host: HOST,
    port: await freePort(HOST),
    portEnv: 'none (the test picks a free port)',
    servers: [{ address: stable.address, weight: 100 }],
  });
  await supervisor.start(nginx);
}, 60_000);

afterAll(async () => {
  await supervisor.stopAll();
  stable.server.close();
  canary.server.close();
  removeDirectory(join(dir, 'nginx'));
  rmSync(dir, { recursive: true, force: true });
});

describe('the front door moves weights by reload', () => {
  test('splits requests by weight, and drops no request of 20 concurrent clients over 20 weight changes', async () => {
    await applySplit(nginx.configDir(), nginx.url, [
      { address: stable.address, weight: 90 },
      { address: canary.address, weight: 10 },
    ]);
    const names = await Promise.all(
      Array.from({ length: 100 }, () => fetch(`${nginx.url}/any`).then((response) => response.text())),
    );
    expect(names.filter((name) => name === 'canary')).toHaveLength(10);

    let failed = 0;
    const kinds = new Map<string, number>();
    const count = (kind: string): void => void kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    let answered = 0;
    let running = true;
    // 20 clients in a loop, each request held 5 ms by the version, so reloads always meet requests in flight
    const clients = Array.from({ length: 20 }, async () => {
      while (running) {
        try {
          const response = await fetch(`${nginx.url}/any`);
          await response.text();
          if (response.status === 200) answered += 1;
          else {
            failed += 1;
            count(`HTTP ${String(response.status)}`);
          }
        } catch (error) {
          failed += 1;
          count((error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message);
        }
      }
    });
    for (const weight of [10, 25, 50, 100, 0, 10, 25, 50, 100, 0, 10, 25, 50, 100, 0, 10, 25, 50, 100, 0]) {
      const servers =
        weight === 0
          ? [{ address: stable.address, weight: 100 }]
          : weight === 100
            ? [{ address: canary.address, weight: 100 }]
            : [
                { address: stable.address, weight: 100 - weight },
                { address: canary.address, weight },
              ];
      await applySplit(nginx.configDir(), nginx.url, servers);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    running = false;
    await Promise.all(clients);
    process.stdout.write(
      `traffic split: ${String(answered)} answered, ${String(failed)} failed over 20 reloads ${JSON.stringify([...kinds])}\n`,
    );
    expect(answered).toBeGreaterThan(300);
    expect(failed).toBe(0);
    expect((await appliedSplit(nginx.url)).generation).toBe(22);
  }, 120_000);

  test('refuses a split that sends requests nowhere, or a weight that is not whole', async () => {
    await expect(applySplit(nginx.configDir(), nginx.url, [{ address: stable.address, weight: 0 }])).rejects.toThrow(
      /sends requests nowhere/,
    );
    await expect(applySplit(nginx.configDir(), nginx.url, [{ address: stable.address, weight: 2.5 }])).rejects.toThrow(
      /not host:port with a whole weight/,
    );
  });
});
