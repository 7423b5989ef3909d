import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { stringify } from 'yaml';

import { assertPortFree } from '../ports.js';
import type { ServiceDefinition } from '../supervisor.js';
import { toolPath } from '../tools.js';

export interface JaegerOptions {
  readonly dir: string;
  readonly host: string;
  /** The UI and its HTTP query API (`/api/traces/<id>`). */
  readonly port: number;
  readonly portEnv: string;
  /** The OTLP/HTTP receiver the app exports to. */
  readonly otlpPort: number;
  readonly otlpPortEnv: string;
  /** The query service's gRPC API; nothing local uses it, but Jaeger always listens on it. */
  readonly grpcPort: number;
  readonly grpcPortEnv: string;
  /** Traces kept in memory before the oldest are dropped. */
  readonly maxTraces?: number;
}

export interface JaegerService extends ServiceDefinition {
  /** What the app's OTEL_EXPORTER_OTLP_ENDPOINT names: the OTLP/HTTP base URL, without `/v1/traces`. */
  readonly otlpEndpoint: string;
  /** Base of the HTTP query API and the UI. */
  readonly queryUrl: string;
}

/** Memory for about 50 spans per trace stays under a few hundred MiB on a developer's machine. */
export const DEFAULT_MAX_TRACES = 20_000;

/**
 * Jaeger v2's configuration (an OpenTelemetry Collector distribution): OTLP/HTTP in, memory storage, the query
 * service and UI; nothing else listens (no gRPC receiver, no Zipkin or Thrift, no self-metrics endpoint).
 */
export function jaegerConfig(options: JaegerOptions): object {
  const { host } = options;
  return {
    service: {
      extensions: ['jaeger_storage', 'jaeger_query'],
      pipelines: {
        traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['jaeger_storage_exporter'] },
      },
      telemetry: { metrics: { level: 'none' }, logs: { level: 'info' } },
    },
    extensions: {
      jaeger_storage: { backends: { memstore: { memory: { max_traces: options.maxTraces ?? DEFAULT_MAX_TRACES } } } },
      jaeger_query: {
        storage: { traces: 'memstore' },
        // Jaeger would otherwise trace its own queries into the same store.
        enable_tracing: false,
        http: { endpoint: `${host}:${options.port}` },
        grpc: { endpoint: `${host}:${options.grpcPort}` },
      },
    },
    receivers: { otlp: { protocols: { http: { endpoint: `${host}:${options.otlpPort}` } } } },
    processors: { batch: {} },
    exporters: { jaeger_storage_exporter: { trace_storage: 'memstore' } },
  };
}

/** Jaeger v2 (`.tools/bin/jaeger`, built by scripts/bootstrap) with in-memory storage: traces last until it stops. */
export function jaegerService(options: JaegerOptions): JaegerService {
  const { host, port, otlpPort } = options;
  const configFile = join(options.dir, 'config.yaml');
  const queryUrl = `http://${host}:${port}`;
  return {
    name: 'jaeger',
    host,
    port,
    portEnv: options.portEnv,
    url: queryUrl,
    otlpEndpoint: `http://${host}:${otlpPort}`,
    queryUrl,
    // resolved when read, so a platform without the tool built fails at start with the bootstrap hint
    get command() {
      return toolPath('jaeger');
    },
    args: ['--config', configFile],
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 10_000,

    async prepare(): Promise<void> {
      await assertPortFree('jaeger (OTLP/HTTP)', host, otlpPort, options.otlpPortEnv);
      await assertPortFree('jaeger (query gRPC)', host, options.grpcPort, options.grpcPortEnv);
      mkdirSync(options.dir, { recursive: true });
      writeFileSync(configFile, stringify(jaegerConfig(options)));
    },

    async probe(): Promise<void> {
      const services = await fetch(`${queryUrl}/api/services`, { signal: AbortSignal.timeout(2_000) });
      if (services.status !== 200) throw new Error(`/api/services answered ${services.status}`);
      // an empty export request: the receiver answers 200 once it accepts spans
      const otlp = await fetch(`http://${host}:${otlpPort}/v1/traces`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
        signal: AbortSignal.timeout(2_000),
      });
      if (otlp.status !== 200) throw new Error(`OTLP /v1/traces answered ${otlp.status}`);
    },
  };
}

/** Jaeger's own default ports, each moved by its variable. */
export const JAEGER_PORTS = {
  ui: { env: 'SLIPWAY_JAEGER_PORT', port: 16686 },
  otlp: { env: 'SLIPWAY_JAEGER_OTLP_PORT', port: 4318 },
  grpc: { env: 'SLIPWAY_JAEGER_GRPC_PORT', port: 16685 },
} as const;
