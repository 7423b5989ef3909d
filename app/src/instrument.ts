/**
 * Starts OpenTelemetry tracing before the app is imported, because the instrumentations can only patch express,
 * pg and ioredis if they hook in before those load. Load it ahead of the entry point:
 *
 *   node --import ./dist/instrument.js dist/bin/server.js              (the container does this)
 *   node --import tsx --import ./src/instrument.ts src/bin/server.ts   (from app/, in development)
 *
 * With OTEL_EXPORTER_OTLP_ENDPOINT empty it loads no SDK and changes nothing. It imports nothing that
 * the instrumentations patch.
 */
import { environmentWithConfigFile } from './config-reload.js';
import { loadConfig } from './config.js';
import type { Config } from './config.js';
import { createLogger } from './logger.js';
import { startTracing } from './observability/tracing.js';

function configOrNothing(): Config | undefined {
  try {
    return loadConfig(environmentWithConfigFile(process.env));
  } catch {
    // server.ts reports every configuration problem and exits 78; tracing just stays off.
    return undefined;
  }
}

const config = configOrNothing();
if (config?.otlpEndpoint !== undefined) {
  await startTracing(config, { logger: createLogger(config) });
}
