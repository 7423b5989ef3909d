import { createServer, get } from 'node:http';
import type { Server } from 'node:http';

import { SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitUntil } from '@slipway/pipelines/testing/wait';
import { startTracing, tracing, tracesUrl } from '../src/observability/tracing.js';

// Tracing starts before anything imports express, pg or ioredis: the app and its test support come in
// through dynamic imports below, as dist/instrument.js runs before dist/bin/server.js in production. The SDK is
// process-wide; vitest's default forks pool gives each test file its own process, which tracing-off relies on.
const exporter = new InMemorySpanExporter();
await startTracing({ otlpEndpoint: undefined, appEnv: 'dev' }, { spanProcessors: [new SimpleSpanProcessor(exporter)] });

const { Router } = await import('express');
const { startTestApp } = await import('./support/app.js');
const { requestContext } = await import('../src/http/request-context.js');
type TestApp = Awaited<ReturnType<typeof startTestApp>>;

let app: TestApp;
let downstream: Server;
let downstreamUrl: string;
const traceparents: (string | undefined)[] = [];

beforeAll(async () => {
  downstream = createServer((req, res) => {
    traceparents.push(req.headers.traceparent as string | undefined);
    res.end('ok');
  });
  await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
  const address = downstream.address();
  downstreamUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;

  const router = Router();
  router.get('/traced/:id', async (req, res) => {
    await app.db.query('tracing.probe', 'SELECT $1::int AS id', [Number(req.params.id)]);
    await app.redis.get(`tracing-test:${req.params.id}`);
    await new Promise<void>((resolve, reject) => {
      get(`${downstreamUrl}/downstream`, (response) => {
        response.resume();
        response.on('end', resolve);
      }).on('error', reject);
    });
    requestContext(req)?.log.info('traced work done');
    res.json({ ok: true });
  });
  app = await startTestApp({ routers: [router] });
});

afterAll(async () => {
  await app.close();
  await new Promise((resolve) => downstream.close(resolve));
  await tracing().shutdown();
});

function spansOf(traceId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
}

async function serverSpan(path: string): Promise<ReadableSpan> {
  return waitUntil(
    `the server span of ${path}`,
    () =>
      exporter
        .getFinishedSpans()
        .find((candidate) => candidate.kind === SpanKind.SERVER && candidate.attributes['url.path'] === path),
    { timeoutMs: 5_000, intervalMs: 20 },
  );
}

describe('tracing on', () => {
  it('puts the request, its route, the DB query, the Redis calls and the outgoing call in one trace', async () => {
    const response = await fetch(`${app.url}/traced/7`, { headers: { 'X-Request-Id': 'req-traced-7' } });
    expect(response.status).toBe(200);

    const server = await serverSpan('/traced/7');
    expect(server.name).toBe('GET /traced/:id');
    expect(server.attributes['http.route']).toBe('/traced/:id');
    const traceId = server.spanContext().traceId;
    const spans = spansOf(traceId);
    const scopes = (name: string) => spans.filter((span) => span.instrumentationScope.name === name);

    const queries = scopes('@opentelemetry/instrumentation-pg').filter((span) => span.name.startsWith('pg.query'));
    expect(queries).toHaveLength(1);
    expect(queries[0]?.attributes['db.statement'] ?? queries[0]?.attributes['db.query.text']).toBe(
      'SELECT $1::int AS id',
    );
    const redisCommands = scopes('@opentelemetry/instrumentation-ioredis').map((span) => span.name);
    expect(redisCommands).toContain('get');
    // The rate limiter's counter is a Redis script run in the same request.
    expect(redisCommands.length).toBeGreaterThanOrEqual(2);
    expect(scopes('@opentelemetry/instrumentation-express').map((span) => span.name)).toEqual([
      'router - /traced/:id',
      'request handler',
    ]);
    const outgoing = spans.find((span) => span.kind === SpanKind.CLIENT && span.attributes['url.full'] !== undefined);
    expect(outgoing?.attributes['url.full']).toBe(`${downstreamUrl}/downstream`);
    expect(outgoing?.parentSpanContext?.traceId).toBe(traceId);
  });

  it('sends W3C traceparent on outgoing calls, naming the client span as parent', async () => {
    traceparents.length = 0;
    await fetch(`${app.url}/traced/8`);
    const server = await serverSpan('/traced/8');
    const traceId = server.spanContext().traceId;
    const client = spansOf(traceId).find((span) => span.kind === SpanKind.CLIENT && span.name === 'GET');
    expect(traceparents).toEqual([`00-${traceId}-${client?.spanContext().spanId ?? ''}-01`]);
  });

  it('continues the trace a caller started, from its traceparent header', async () => {
    const callerTraceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await fetch(`${app.url}/traced/9`, { headers: { traceparent: `00-${callerTraceId}-00f067aa0ba902b7-01` } });
    const server = await serverSpan('/traced/9');
    expect(server.spanContext().traceId).toBe(callerTraceId);
    expect(server.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
  });

  it('writes the trace id and span id on the log lines of a traced request', async () => {
    await fetch(`${app.url}/traced/10`, { headers: { 'X-Request-Id': 'req-traced-10' } });
    const server = await serverSpan('/traced/10');
    const traceId = server.spanContext().traceId;
    const work = app.logs.lines.find((line) => line.requestId === 'req-traced-10' && line.msg === 'traced work done');
    expect(work).toMatchObject({ trace_id: traceId, span_id: expect.stringMatching(/^[0-9a-f]{16}$/) as unknown });
    const access = app.logs.lines.find((line) => line.requestId === 'req-traced-10' && line.msg === 'request');
    expect(access).toMatchObject({ trace_id: traceId });
    expect(access).not.toHaveProperty('traceId');
  });

  it("names the request id on the server span, so the error envelope's reference finds the trace", async () => {
    await fetch(`${app.url}/traced/12`, { headers: { 'X-Request-Id': 'req-traced-12' } });
    const server = await serverSpan('/traced/12');
    expect(server.attributes['app.request_id']).toBe('req-traced-12');
  });

  it('leaves probes and scrapes untraced', async () => {
    await fetch(`${app.url}/health/live`);
    await fetch(`${app.url}/metrics`);
    await fetch(`${app.url}/traced/11`);
    await serverSpan('/traced/11');
    const paths = exporter.getFinishedSpans().map((span) => span.attributes['url.path']);
    expect(paths).not.toContain('/health/live');
    expect(paths).not.toContain('/metrics');
  });

  it('is one SDK per process: a second start returns the running tracing', async () => {
    const again = await startTracing({ otlpEndpoint: 'http://127.0.0.1:4318', appEnv: 'dev' });
    expect(again).toBe(tracing());
    expect(again.enabled).toBe(true);
    expect(trace.getTracer('check').startSpan('recorded').isRecording()).toBe(true);
  });

  it.each([
    ['http://otel-collector:4318', 'http://otel-collector:4318/v1/traces'],
    ['http://otel-collector:4318/', 'http://otel-collector:4318/v1/traces'],
    ['https://collector.example.com/otlp', 'https://collector.example.com/otlp/v1/traces'],
  ])('exports to %s as %s', (endpoint, url) => {
    expect(tracesUrl(endpoint)).toBe(url);
  });
});
