import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createRequire, syncBuiltinESMExports } from 'node:module';

import { diag, DiagLogLevel } from '@opentelemetry/api';
import type { DiagLogger } from '@opentelemetry/api';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';

import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

export const SERVICE_NAME = 'erp-api';

/** Incoming requests never traced: probes and scrapes arrive every few seconds and say nothing about users. */
const UNTRACED_PATHS = /^\/(?:health\/|metrics(?:$|\?))/;

export interface TracingOptions {
  /** Where warnings of the SDK itself go (a failed export, say); silent when absent. */
  readonly logger?: Logger;
  /** Test hook: these processors receive the spans instead of the OTLP exporter, even without an endpoint. */
  readonly spanProcessors?: readonly SpanProcessor[];
}

/** The tracing of this process, as {@link startTracing} left it. */
export interface Tracing {
  readonly enabled: boolean;
  /** Where spans are sent (`<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`), when they are sent over OTLP. */
  readonly exportUrl: string | undefined;
  /** Exports the spans still buffered and stops the SDK; later spans are dropped. Safe to call twice. */
  shutdown(): Promise<void>;
}

const DISABLED: Tracing = Object.freeze({ enabled: false, exportUrl: undefined, shutdown: () => Promise.resolve() });

let current: Tracing | undefined;

/** OTLP/HTTP's traces path appended to the base endpoint, as the OpenTelemetry spec defines for the variable. */
export function tracesUrl(endpoint: string): string {
  return new URL('v1/traces', endpoint.endsWith('/') ? endpoint : `${endpoint}/`).href;
}

/** The app's version from app/package.json (src/ and dist/ both sit one level below it). */
function serviceVersion(): string {
  try {
    const packageJson = new URL('../../package.json', import.meta.url);
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the app's own package.json, at a fixed place
    const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version?: unknown };
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function diagLogger(logger: Logger): DiagLogger {
  const log = logger.child({ component: 'opentelemetry' });
  const ignore = (): void => undefined;
  return {
    error: (message, ...args) => log.error({ args }, message),
    warn: (message, ...args) => log.warn({ args }, message),
    info: ignore,
    debug: ignore,
    verbose: ignore,
  };
}

/**
 * Loads the CommonJS drivers through `require` right after the SDK hooked it, so the instrumentations patch them
 * before the app's ESM imports read them from the same module cache (ESM imports of CommonJS bypass the hook).
 */
function preloadInstrumentedModules(): void {
  const require = createRequire(import.meta.url);
  require('http');
  require('https');
  require('express');
  require('pg');
  require('ioredis');
  // `import { request } from 'node:http'` bindings see the patched functions only after this.
  syncBuiltinESMExports();
}

/**
 * Starts the OpenTelemetry NodeSDK when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: spans of incoming and outgoing HTTP,
 * Express routes, pg and ioredis, exported over OTLP/HTTP as service `erp-api`, with W3C trace context
 * propagated on outgoing calls. Without an endpoint nothing is loaded or started. Must run before express, pg or
 * ioredis are imported (see instrument.ts); the first call decides, later ones return the same tracing.
 */
export async function startTracing(
  config: Pick<Config, 'otlpEndpoint' | 'appEnv'> & Partial<Pick<Config, 'traceSampleRatio'>>,
  options: TracingOptions = {},
): Promise<Tracing> {
  if (current !== undefined) return current;
  const exportUrl = config.otlpEndpoint === undefined ? undefined : tracesUrl(config.otlpEndpoint);
  if (exportUrl === undefined && options.spanProcessors === undefined) {
    current = DISABLED;
    return current;
  }

  // Imported here, not at the top, so a process without tracing never loads the SDK.
  const [sdkNode, resources, semconv, traceBase, otlp, http, express, pg, ioredis] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-express'),
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
  ]);

  if (options.logger !== undefined) diag.setLogger(diagLogger(options.logger), DiagLogLevel.WARN);

  const spanProcessors =
    options.spanProcessors === undefined
      ? [new traceBase.BatchSpanProcessor(new otlp.OTLPTraceExporter({ url: exportUrl }))]
      : [...options.spanProcessors];

  const sdk = new sdkNode.NodeSDK({
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by the SDK's env detector, still win over these.
    resource: resources.defaultResource().merge(
      resources.resourceFromAttributes({
        [semconv.ATTR_SERVICE_NAME]: SERVICE_NAME,
        [semconv.ATTR_SERVICE_VERSION]: serviceVersion(),
        'deployment.environment.name': config.appEnv,
      }),
    ),
    spanProcessors,
    // A caller's sampled flag wins; new traces are kept at the configured ratio (OTEL_TRACES_SAMPLER_ARG).
    sampler: new traceBase.ParentBasedSampler({
      root: new traceBase.TraceIdRatioBasedSampler(config.traceSampleRatio ?? 1),
    }),
    // Metrics go to Prometheus through prom-client and logs to stdout; the SDK would otherwise add OTLP exporters.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new http.HttpInstrumentation({
        ignoreIncomingRequestHook: (request: IncomingMessage) => UNTRACED_PATHS.test(request.url ?? ''),
      }),
      // Routers and handlers only: a span per middleware would be most of every trace and say little.
      new express.ExpressInstrumentation({ ignoreLayersType: [express.ExpressLayerType.MIDDLEWARE] }),
      // Pool connects and reconnect chatter outside a request would each start a trace of their own.
      new pg.PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
      new ioredis.IORedisInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
  preloadInstrumentedModules();

  let stopped: Promise<void> | undefined;
  current = Object.freeze({
    enabled: true,
    exportUrl: options.spanProcessors === undefined ? exportUrl : undefined,
    shutdown: () => (stopped ??= sdk.shutdown()),
  });
  options.logger?.info(
    { exportUrl: current.exportUrl },
    current.exportUrl === undefined ? 'tracing on' : 'tracing on: exporting spans over OTLP/HTTP',
  );
  return current;
}

/** The tracing started in this process, or the disabled one when none was. */
export function tracing(): Tracing {
  return current ?? DISABLED;
}
