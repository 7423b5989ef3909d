import { appendFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { ServiceDefinition } from '../supervisor.js';
import { answerJson, httpProbe, readJsonLines, tsxProcess } from './local-service.js';

/** One webhook notification as Alertmanager posted it, with the receiver (route) it came through. */
export interface ReceivedNotification {
  readonly receivedAt: string;
  readonly receiver: string;
  /** Alertmanager's webhook payload (version 4): status, alerts, groupLabels, commonLabels… */
  readonly payload: {
    readonly status?: string;
    readonly alerts?: readonly { labels: Record<string, string>; status: string }[];
    readonly [key: string]: unknown;
  };
}

const MAX_BODY_BYTES = 1_048_576;

/**
 * Keeps every notification Alertmanager sends, one JSON line each in `file`, and lists them on
 * `GET /notifications[?receiver=<name>]`, so a person (curl) and a test read what would have paged or opened a ticket.
 */
export function alertReceiver(file: string): Server {
  mkdirSync(dirname(file), { recursive: true });
  return createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://receiver');
    const answer = (status: number, body: unknown): true => {
      answerJson(response, status, body);
      return true;
    };
    if (request.method === 'GET' && url.pathname === '/-/ready') return answer(200, { ready: true });
    if (request.method === 'GET' && url.pathname === '/notifications') {
      const receiver = url.searchParams.get('receiver');
      const all = readJsonLines<ReceivedNotification>(file);
      return answer(
        200,
        all.filter((n) => receiver === null || n.receiver === receiver),
      );
    }
    const receiver = /^\/([\w-]+)$/.exec(url.pathname)?.[1];
    if (request.method !== 'POST' || receiver === undefined) {
      return answer(404, {
        error: `${request.method ?? '?'} ${url.pathname} is not served`,
        fix: 'POST /<receiver> (Alertmanager webhooks) or GET /notifications[?receiver=<name>]',
      });
    }
    let size = 0;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > MAX_BODY_BYTES) return answer(413, { error: `body of ${size} bytes`, fix: 'send at most 1 MiB' });
      let payload: ReceivedNotification['payload'];
      try {
        payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReceivedNotification['payload'];
      } catch {
        return answer(400, { error: 'the body is not JSON', fix: 'send an Alertmanager webhook payload' });
      }
      const notification: ReceivedNotification = { receivedAt: new Date().toISOString(), receiver, payload };
      appendFileSync(file, `${JSON.stringify(notification)}\n`);
      return answer(200, { stored: true });
    });
    return true;
  });
}

export interface AlertReceiverOptions {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
}

/** The local stand-in for Slack and PagerDuty: a webhook receiver process that keeps what Alertmanager sends. */
export function alertReceiverService(options: AlertReceiverOptions): ServiceDefinition {
  const { host, port } = options;
  const url = `http://${host}:${port}`;
  return {
    name: 'alert-receiver',
    host,
    port,
    portEnv: options.portEnv,
    url,
    ...tsxProcess(import.meta.url, [host, String(port), join(options.dir, 'notifications.jsonl')]),
    stopSignal: 'SIGTERM',
    probe: httpProbe(url, '/-/ready'),
  };
}

/** Every notification the receiver at `url` kept, optionally of one receiver. */
export async function notifications(url: string, receiver?: string): Promise<ReceivedNotification[]> {
  const query = receiver === undefined ? '' : `?receiver=${encodeURIComponent(receiver)}`;
  const response = await fetch(`${url}/notifications${query}`, { signal: AbortSignal.timeout(5_000) });
  if (response.status !== 200) throw new Error(`GET ${url}/notifications answered ${response.status}`);
  return (await response.json()) as ReceivedNotification[];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [host = '127.0.0.1', port = '', file = ''] = process.argv.slice(2);
  const server = alertReceiver(file);
  server.listen({ host, port: Number(port) });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => server.close(() => process.exit(0)));
}
