import { hostname } from 'node:os';

import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

import type { Config } from './config.js';
import { traceContextMixin } from './observability/trace-context.js';

export type { Logger } from 'pino';

/** Field names whose values are credentials wherever they appear, at the top level or one or two levels down. */
const SECRET_FIELDS = [
  'password',
  'secret',
  'token',
  'accessToken',
  'refreshToken',
  'apiKey',
  'clientSecret',
  'databaseUrl',
  'redisUrl',
];

export const REDACTED_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
];

/**
 * The service's pino logger: JSON lines with level names (what Loki and people filter on), ISO
 * timestamps, the service and stack on every line, the trace and span ids inside a traced operation,
 * credentials replaced by [redacted].
 */
export function createLogger(
  config: Pick<Config, 'logLevel' | 'appEnv'>,
  destination: DestinationStream = pino.destination({ dest: 1, sync: true }),
): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { service: 'erp-api', env: config.appEnv, pid: process.pid, hostname: hostname() },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
      // trace_id and span_id of the active span, when tracing is on, lead from a log line to its trace.
      mixin: traceContextMixin,
    },
    destination,
  );
}
