import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitUntil } from '@slipway/pipelines/testing/wait';
import { testEnv } from './support/app.js';
import { migrateSharedDatabase } from './support/database.js';
import { freePort } from './support/net.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The parts of an OTLP/HTTP JSON export request these tests read. */
interface ExportRequest {
  readonly resourceSpans: readonly {
    readonly resource: { readonly attributes: readonly { key: string; value: { stringValue?: string } }[] };
    readonly scopeSpans: readonly {
      readonly scope: { readonly name: string };
      readonly spans: readonly { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number }[];
    }[];
  }[];
}

interface ReceivedSpan {
  readonly traceId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly kind: number;
  readonly scope: string;
  readonly resource: Readonly<Record<string, string | undefined>>;
}

/** A minimal OTLP/HTTP receiver: accepts POST /v1/traces (JSON) and keeps every span. */
function otlpReceiver(): { server: Server; spans: ReceivedSpan[]; paths: string[] } {
  const spans: ReceivedSpan[] = [];
  const paths: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      paths.push(`${req.method ?? ''} ${req.url ?? ''} ${req.headers['content-type'] ?? ''}`);
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const request = JSON.parse(body.toString('utf8')) as ExportRequest;
      for (const { resource, scopeSpans } of request.resourceSpans) {
        const attributes = Object.fromEntries(resource.attributes.map(({ key, value }) => [key, value.stringValue]));
        for (const { scope, spans: scoped } of scopeSpans) {
          for (const span of scoped) {
            spans.push({
              traceId: span.traceId,
              parentSpanId: span.parentSpanId,
              name: span.name,
              kind: span.kind,
              scope: scope.name,
              resource: attributes,
            });
          }
        }
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  return { server, spans, paths };
}

const receiver = otlpReceiver();
let receiverUrl: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  await migrateSharedDatabase();
  await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
  const address = receiver.server.address();
  receiverUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
});

afterAll(async () => {
  if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await new Promise((resolve) => receiver.server.close(resolve));
});

describe('the real entry point with OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
  it('exports the spans of a request over OTLP/HTTP, flushing them on SIGTERM', async () => {
    const port = await freePort();
    // As the container starts it, with tsx so it runs from source: instrument first, then the server.
    child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', './app/src/instrument.ts', 'app/src/bin/server.ts'],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          ...testEnv({
            PORT: String(port),
            HOST: '127.0.0.1',
            LOG_LEVEL: 'info',
            OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl,
          }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));

    // tsx compiles the whole app on the first start, which takes a while on a busy machine.
    // The server listens before Redis is connected (it serves degraded without it); the request below must reach
    // the rate limiter's Redis, not its in-memory stand-in, so wait for both.
    await waitUntil(
      'the server to listen with Redis ready',
      () => stdout.includes('"msg":"listening"') && stdout.includes('"msg":"redis ready"'),
      { timeoutMs: 45_000, seen: () => `output so far:\n${stdout}\n${stderr}` },
    );
    expect(stdout).toContain('"msg":"tracing on: exporting spans over OTLP/HTTP"');
    expect(stdout).toContain(`"exportUrl":"${receiverUrl}/v1/traces"`);

    const callerTraceId = '0af7651916cd43dd8448eb211c80319c';
    const response = await fetch(`http://127.0.0.1:${port}/orders-that-do-not-exist`, {
      headers: { traceparent: `00-${callerTraceId}-b7ad6b7169203331-01`, 'X-Request-Id': 'req-otlp' },
    });
    expect(response.status).toBe(404);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toContain('"msg":"traces flushed"');

    expect(receiver.paths.every((line) => line.startsWith('POST /v1/traces application/json'))).toBe(true);
    const spans = receiver.spans.filter((span) => span.traceId === callerTraceId);
    const server = spans.find((span) => span.scope === '@opentelemetry/instrumentation-http');
    expect(server).toMatchObject({ name: 'GET', parentSpanId: 'b7ad6b7169203331' });
    expect(server?.resource).toMatchObject({
      'service.name': 'erp-api',
      'service.version': '0.1.0',
      'deployment.environment.name': 'dev',
    });
    // The rate limiter's Redis call, in the request's trace.
    expect(spans.some((span) => span.scope === '@opentelemetry/instrumentation-ioredis')).toBe(true);

    const access = stdout
      .split('\n')
      .filter((line) => line.includes('"requestId":"req-otlp"') && line.includes('"msg":"request"'));
    expect(access).toHaveLength(1);
    expect(access[0]).toContain(`"trace_id":"${callerTraceId}"`);
  }, 90_000);
});
