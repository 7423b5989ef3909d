import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import { parseBareResponse } from './bare-response.js';

const HOST = '127.0.0.1';

function usage(message: string): never {
  process.stderr.write(`error: ${message}\nusage: bare-server.ts <port> <response.json>\n`);
  process.exit(64);
}

/** The port from argv[2]; a wrong one stops the program with the value and the accepted form. */
function portFrom(raw: string | undefined): number {
  const port = Number(raw);
  if (raw === undefined || !/^\d{1,5}$/.test(raw) || port > 65535) {
    usage(`port ${JSON.stringify(raw)} is not a TCP port; pass a whole number from 0 to 65535`);
  }
  return port;
}

function responseFrom(path: string | undefined): { body: Buffer; contentType: string } {
  if (path === undefined) usage('the response file is missing');
  try {
    return parseBareResponse(readFileSync(path, 'utf8'), path);
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
}

const port = portFrom(process.argv[2]);
const { body, contentType } = responseFrom(process.argv[3]);
const HEADERS = { 'Content-Type': contentType, 'Content-Length': String(body.length) } as const;

/**
 * The physical-limit reference for the benchmark: a bare node:http server that answers every GET with the body and
 * content-type the app sent for the cached product read, so the gap to the app is what Express, authentication,
 * middleware, the cache lookup and logging cost.
 */
const server = createServer((req, res) => {
  if (req.method !== 'GET') {
    res.writeHead(405, { Allow: 'GET' }).end();
    return;
  }
  res.writeHead(200, HEADERS).end(body);
});

server.listen(port, HOST, () => {
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`bare server listening on http://${HOST}:${bound}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
