import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeErp {
  readonly url: string;
  /** GET requests answered so far. */
  readonly reads: () => number;
  close(): Promise<void>;
}

export interface FakeErpOptions {
  /** Answer every n-th GET with 500 (writes never are, so seeding always works): 20 is 5 % of reads. */
  readonly failEvery?: number;
  /** Hold every answer this long: a canary that adds latency. */
  readonly delayMs?: number;
}

/** Just enough of erp-api for the scenarios' seeding and mix, answering at once unless told otherwise. */
export async function startFakeErp(options: FakeErpOptions = {}): Promise<FakeErp> {
  let reads = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    const send = (status: number, body: unknown): void => {
      const answer = (): void => {
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      };
      if (options.delayMs === undefined) answer();
      else setTimeout(answer, options.delayMs);
    };
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method === 'GET') {
      reads += 1;
      if (options.failEvery !== undefined && reads % options.failEvery === 0) {
        send(500, { error: 'internal' });
        return;
      }
      send(200, path.endsWith('s') ? { items: [], page: 1, limit: 20, total: 0 } : { id: 'x' });
      return;
    }
    if (path === '/api/v1/auth/register') send(201, { user: { id: 'u1' } });
    else if (path === '/api/v1/auth/login')
      send(200, { access_token: 'token', refresh_token: 'refresh', expires_in: 900 });
    else if (path === '/api/v1/products') send(201, { id: `p${String(Math.random()).slice(2, 8)}` });
    else if (path === '/api/v1/orders') send(201, { id: `o${String(Math.random()).slice(2, 8)}` });
    else send(404, { error: 'not found' });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    reads: () => reads,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
