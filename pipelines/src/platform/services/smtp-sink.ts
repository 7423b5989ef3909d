import { appendFileSync, mkdirSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SMTPServer } from 'smtp-server';

import type { ServiceDefinition } from '../supervisor.js';
import { answerJson, httpProbe, readJsonLines, tsxProcess } from './local-service.js';

/** The sink's ports and the variables that move them. */
export const SMTP_SINK_PORTS = {
  smtp: { env: 'SLIPWAY_SMTP_PORT', port: 2525 },
  http: { env: 'SLIPWAY_SMTP_HTTP_PORT', port: 8025 },
} as const;

/** One mail as the sink received it. */
export interface ReceivedMail {
  readonly receivedAt: string;
  readonly from: string;
  readonly to: readonly string[];
  /** The Message-ID header, which a receiver deduplicates on. */
  readonly messageId: string | undefined;
  readonly subject: string | undefined;
  /** The whole message as sent (RFC 5322). */
  readonly raw: string;
}

const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

function header(raw: string, name: string): string | undefined {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  // eslint-disable-next-line security/detect-non-literal-regexp -- name is one of two fixed header names
  return new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, 'im').exec(head)?.[1]?.replace(/\r?\n[ \t]+/g, ' ');
}

/** A running sink: SMTP in (no TLS, no auth), JSON lines in `file`, `GET /messages` out. */
export interface SmtpSink {
  readonly smtp: SMTPServer;
  readonly http: HttpServer;
  close(): Promise<void>;
}

/**
 * Takes every mail over SMTP and keeps it, one JSON line each in `file`; `GET /messages` lists them, so a person
 * (curl) and a test read what the worker sent. Nothing is relayed.
 */
export function smtpSink(file: string): SmtpSink {
  mkdirSync(dirname(file), { recursive: true });
  const smtp = new SMTPServer({
    authOptional: true,
    // loopback only, and no certificate to offer
    disabledCommands: ['STARTTLS', 'AUTH'],
    size: MAX_MESSAGE_BYTES,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const mail: ReceivedMail = {
          receivedAt: new Date().toISOString(),
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          messageId: header(raw, 'Message-ID'),
          subject: header(raw, 'Subject'),
          raw,
        };
        appendFileSync(file, `${JSON.stringify(mail)}\n`);
        callback();
      });
    },
  });
  const http = createHttpServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://sink').pathname;
    const answer = (status: number, body: unknown): void => answerJson(response, status, body);
    if (request.method === 'GET' && path === '/-/ready') {
      answer(200, { ready: true });
      return;
    }
    if (request.method === 'GET' && path === '/messages') {
      answer(200, readJsonLines<ReceivedMail>(file));
      return;
    }
    answer(404, { error: `${request.method ?? '?'} ${path} is not served`, fix: 'GET /messages' });
  });
  return {
    smtp,
    http,
    close: () =>
      Promise.all([
        new Promise<void>((resolve) => smtp.close(() => resolve())),
        new Promise<void>((resolve) => http.close(() => resolve())),
      ]).then(() => undefined),
  };
}

export interface SmtpSinkOptions {
  readonly dir: string;
  readonly host: string;
  /** The SMTP port the worker sends to. */
  readonly port: number;
  readonly portEnv: string;
  /** Where `GET /messages` answers. */
  readonly httpPort: number;
  readonly httpPortEnv: string;
}

/** The local stand-in for a mail relay, as a process of the platform. */
export interface SmtpSinkService extends ServiceDefinition {
  /** What the worker's SMTP_URL points at. */
  readonly smtpUrl: string;
}

export function smtpSinkService(options: SmtpSinkOptions): SmtpSinkService {
  const { host, port, httpPort } = options;
  const url = `http://${host}:${httpPort}`;
  return {
    name: 'smtp-sink',
    host,
    port,
    portEnv: options.portEnv,
    url,
    smtpUrl: `smtp://${host}:${port}`,
    ...tsxProcess(import.meta.url, [host, String(port), String(httpPort), join(options.dir, 'messages.jsonl')]),
    stopSignal: 'SIGTERM',
    probe: httpProbe(url, '/-/ready'),
  };
}

/** Every mail the sink whose HTTP side is `url` kept. */
export async function receivedMail(url: string): Promise<ReceivedMail[]> {
  const response = await fetch(`${url}/messages`, { signal: AbortSignal.timeout(5_000) });
  if (response.status !== 200) throw new Error(`GET ${url}/messages answered ${response.status}`);
  return (await response.json()) as ReceivedMail[];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [host = '127.0.0.1', port = '', httpPort = '', file = ''] = process.argv.slice(2);
  const sink = smtpSink(file);
  sink.smtp.listen(Number(port), host);
  sink.http.listen({ host, port: Number(httpPort) });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void sink.close().then(() => process.exit(0)));
  }
}
