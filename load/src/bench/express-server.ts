import { readFileSync } from 'node:fs';

import express from 'express';

import { parseBareResponse } from './bare-response.js';

const HOST = '127.0.0.1';

function usage(message: string): never {
  process.stderr.write(`error: ${message}\nusage: express-server.ts <port> <response.json>\n`);
  process.exit(64);
}

const raw = process.argv[2];
const port = Number(raw);
if (raw === undefined || !/^\d{1,5}$/.test(raw) || port > 65535) {
  usage(`port ${JSON.stringify(raw)} is not a TCP port; pass a whole number from 0 to 65535`);
}
const file = process.argv[3];
if (file === undefined) usage('the response file is missing');
let response: { body: Buffer; contentType: string };
try {
  response = parseBareResponse(readFileSync(file, 'utf8'), file);
} catch (error) {
  usage(error instanceof Error ? error.message : String(error));
}

/**
 * The framework reference of the benchmark: Express 5 with one route answering the app's cached product read with the
 * same body and content-type, so the table separates what Express costs from what the app adds on top.
 */
const app = express();
app.disable('x-powered-by');
app.get('/api/v1/products/:id', (_req, res) => {
  res.type(response.contentType).send(response.body);
});
app.get('/', (_req, res) => {
  res.type(response.contentType).send(response.body);
});

const server = app.listen(port, HOST, () => {
  process.stdout.write(`express server listening on http://${HOST}:${port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
