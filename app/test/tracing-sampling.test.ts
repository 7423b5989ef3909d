import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitUntil } from '@slipway/pipelines/testing/wait';
import { startTracing, tracing } from '../src/observability/tracing.js';

// Its own file, so its own process: the SDK and its sampler are process-wide (see tracing.test.ts).
const exporter = new InMemorySpanExporter();
await startTracing(
  { otlpEndpoint: undefined, appEnv: 'dev', traceSampleRatio: 0 },
  { spanProcessors: [new SimpleSpanProcessor(exporter)] },
);

const { startTestApp } = await import('./support/app.js');
type TestApp = Awaited<ReturnType<typeof startTestApp>>;
let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});

afterAll(async () => {
  await app.close();
  await tracing().shutdown();
});

const tracedPaths = (): unknown[] => exporter.getFinishedSpans().map((span) => span.attributes['url.path']);

describe('parent-based ratio sampling (OTEL_TRACES_SAMPLER_ARG=0)', () => {
  it('keeps no new trace, and writes no trace fields on its log lines', async () => {
    await fetch(`${app.url}/sampled-out`, { headers: { 'X-Request-Id': 'req-sampled-out' } });
    await fetch(`${app.url}/health/live`);
    expect(tracedPaths()).not.toContain('/sampled-out');
    const access = app.logs.lines.find((line) => line.requestId === 'req-sampled-out' && line.msg === 'request');
    expect(access).toBeDefined();
    expect(access).not.toHaveProperty('trace_id');
  });

  it("follows a caller's sampled flag: a traceparent that says sampled is traced", async () => {
    const callerTraceId = '5bf92f3577b34da6a3ce929d0e0e4737';
    await fetch(`${app.url}/sampled-in`, { headers: { traceparent: `00-${callerTraceId}-00f067aa0ba902b7-01` } });
    await waitUntil('the server span of /sampled-in', () => tracedPaths().includes('/sampled-in'), {
      timeoutMs: 5_000,
      intervalMs: 20,
      seen: () => `traced: ${tracedPaths().join(', ')}`,
    });
    const server = exporter.getFinishedSpans().find((span) => span.attributes['url.path'] === '/sampled-in');
    expect(server?.spanContext().traceId).toBe(callerTraceId);
  });
});
