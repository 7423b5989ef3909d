import { createServer } from 'node:http';

/** What the app's GET /health/live sends (Express res.json), byte for byte in body and content-type. */
const BODY = Buffer.from(JSON.stringify({ status: 'ok' }));
const HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Content-Length': String(BODY.length),
} as const;

const HOST = '127.0.0.1';

/** The port from argv[2], else BARE_PORT; a wrong one stops the program with the value and the accepted form. */
function portFrom(argv: readonly string[], env: NodeJS.ProcessEnv): number {
  const raw = argv[2] ?? env.BARE_PORT;
  const port = Number(raw);
  if (raw === undefined || !/^\d{1,5}$/.test(raw) || port > 65535) {
    process.stderr.write(
      `error: port ${JSON.stringify(raw)} is not a TCP port; pass a whole number from 0 to 65535 as the first argument or in BARE_PORT\n`,
    );
    process.exit(64);
  }
  return port;
}

/**
 * The physical-limit reference for the HTTP benchmark: a bare node:http server that answers every GET
 * the way the app answers /health/live, so the gap to the app is what Express, middleware and logging cost.
 */
const server = createServer((req, res) => {
  if (req.method !== 'GET') {
    res.writeHead(405, { Allow: 'GET' }).end();
    return;
  }
  res.writeHead(200, HEADERS).end(BODY);
});

server.listen(portFrom(process.argv, process.env), HOST, () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`bare server listening on http://${HOST}:${port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
