import { createRequire } from 'node:module';

import { trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTracing, tracing } from '../src/observability/tracing.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';

const moduleCache = createRequire(import.meta.url).cache;

function loadedOpenTelemetrySdkModules(): string[] {
  return Object.keys(moduleCache).filter((path) =>
    /[\\/]@opentelemetry[\\/](?:sdk-node|sdk-trace|exporter-trace-otlp-http|instrumentation)/.test(path),
  );
}

let app: TestApp;

beforeAll(async () => {
  await startTracing({ otlpEndpoint: undefined, appEnv: 'dev' });
  app = await startTestApp();
});

afterAll(async () => {
  await app.close();
});

describe('tracing off (OTEL_EXPORTER_OTLP_ENDPOINT empty)', () => {
  it('starts no SDK and loads none of it', () => {
    expect(tracing()).toMatchObject({ enabled: false, exportUrl: undefined });
    expect(loadedOpenTelemetrySdkModules()).toEqual([]);
  });

  it('records no spans: the API hands out non-recording spans with no trace id', () => {
    const span = trace.getTracer('check').startSpan('nothing');
    expect(span.isRecording()).toBe(false);
    expect(span.spanContext().traceId).toBe('00000000000000000000000000000000');
    span.end();
  });

  it('writes no trace fields on log lines', async () => {
    await fetch(`${app.url}/nowhere`, { headers: { 'X-Request-Id': 'req-untraced' } });
    const access = app.logs.lines.find((line) => line.requestId === 'req-untraced' && line.msg === 'request');
    expect(access).toBeDefined();
    expect(access).not.toHaveProperty('trace_id');
    expect(access).not.toHaveProperty('span_id');
  });

  it('shuts down as a no-op', async () => {
    await expect(tracing().shutdown()).resolves.toBeUndefined();
  });
});
