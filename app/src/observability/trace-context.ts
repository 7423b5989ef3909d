import { isSpanContextValid, trace } from '@opentelemetry/api';

/** What every log line written inside a traced operation carries, so a log line leads to its trace. */
export interface TraceFields {
  readonly traceId?: string;
  readonly spanId?: string;
}

/**
 * pino `mixin`: the active span's trace and span ids, or nothing outside a span. Without a started SDK the
 * OpenTelemetry API has no context manager, so this is one lookup that finds nothing. pino merges the line's
 * fields into the returned object, so it must be a fresh one every time.
 */
export function traceContextMixin(): TraceFields {
  const span = trace.getActiveSpan();
  if (span === undefined) return {};
  const context = span.spanContext();
  return isSpanContextValid(context) ? { traceId: context.traceId, spanId: context.spanId } : {};
}
