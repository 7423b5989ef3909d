import { isSpanContextValid, trace, TraceFlags } from '@opentelemetry/api';

/**
 * What every log line written inside a traced operation carries, so a log line leads to its trace. The names are
 * the OpenTelemetry log data model's (`trace_id`, `span_id`), which Grafana's Loki derived field matches.
 */
export interface TraceFields {
  readonly trace_id?: string;
  readonly span_id?: string;
}

/** The span attribute that holds the request id of the error envelope, so support can search traces by it. */
export const REQUEST_ID_ATTRIBUTE = 'app.request_id';

/**
 * pino `mixin`: the active span's trace and span ids when it is sampled, or nothing. Without a started SDK the
 * OpenTelemetry API has no context manager, so this is one lookup that finds nothing. pino merges the line's
 * fields into the returned object, so it must be a fresh one every time.
 */
export function traceContextMixin(): TraceFields {
  const span = trace.getActiveSpan();
  if (span === undefined) return {};
  const context = span.spanContext();
  // a sampled-out request has ids too, but no trace to open: its lines carry none
  const sampled = (context.traceFlags & TraceFlags.SAMPLED) !== 0;
  return sampled && isSpanContextValid(context) ? { trace_id: context.traceId, span_id: context.spanId } : {};
}

/** Names the request id on the active span (the HTTP server span while request middleware runs); no-op untraced. */
export function tagRequestId(requestId: string): void {
  trace.getActiveSpan()?.setAttribute(REQUEST_ID_ATTRIBUTE, requestId);
}
