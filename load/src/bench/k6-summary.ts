/** The numbers one k6 run contributes to the benchmark, taken from its handleSummary JSON. */
export interface RunMetrics {
  /** Requests completed (k6 http_reqs count). */
  readonly requests: number;
  /** Requests per second over the whole run (k6 http_reqs rate). */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Requests whose status check ran (one per request). */
  readonly checked: number;
  /** Requests whose status check (200) failed, transport errors included. */
  readonly failed: number;
  /** failed / checked requests, 0 to 1. */
  readonly errorRate: number;
  readonly testRunDurationMs: number;
  /** Iterations an open model could not start on time (k6 dropped_iterations; 0 when k6 reports none). */
  readonly droppedIterations: number;
}

/** A summary that lacks what the benchmark reads: a changed scenario or another k6 summary format. */
export class SummaryFormatError extends Error {
  override readonly name = 'SummaryFormatError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function metricValue(summary: Record<string, unknown>, source: string, metric: string, stat: string): number {
  const metrics = summary.metrics;
  const entry = isRecord(metrics) ? metrics[metric] : undefined;
  const values = isRecord(entry) ? entry.values : undefined;
  const value = isRecord(values) ? values[stat] : undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new SummaryFormatError(
      `${source} has no number at metrics.${metric}.values["${stat}"] (found ${JSON.stringify(value)}); ` +
        `check that the scenario sends HTTP requests, checks them and lists "${stat}" in summaryTrendStats`,
    );
  }
  return value;
}

function optionalCount(summary: Record<string, unknown>, metric: string): number {
  const metrics = summary.metrics;
  const entry = isRecord(metrics) ? metrics[metric] : undefined;
  const values = isRecord(entry) ? entry.values : undefined;
  const count = isRecord(values) ? values.count : undefined;
  return typeof count === 'number' ? count : 0;
}

/**
 * Reads a k6 handleSummary JSON (the legacy summary shape, which k6 v1 still passes to handleSummary).
 * @param source names the file in errors.
 * @throws {SummaryFormatError} naming the first value it could not find.
 */
export function parseK6Summary(summary: unknown, source: string): RunMetrics {
  if (!isRecord(summary)) {
    throw new SummaryFormatError(`${source} is not a k6 summary object (found ${typeof summary})`);
  }
  const passes = metricValue(summary, source, 'checks', 'passes');
  const fails = metricValue(summary, source, 'checks', 'fails');
  const state = summary.state;
  const duration = isRecord(state) ? state.testRunDurationMs : undefined;
  if (typeof duration !== 'number') {
    throw new SummaryFormatError(
      `${source} has no number at state.testRunDurationMs (found ${JSON.stringify(duration)}); is it a k6 v1 summary?`,
    );
  }
  return {
    requests: metricValue(summary, source, 'http_reqs', 'count'),
    rps: metricValue(summary, source, 'http_reqs', 'rate'),
    p50Ms: metricValue(summary, source, 'http_req_duration', 'med'),
    p99Ms: metricValue(summary, source, 'http_req_duration', 'p(99)'),
    maxMs: metricValue(summary, source, 'http_req_duration', 'max'),
    checked: passes + fails,
    failed: fails,
    errorRate: passes + fails === 0 ? 0 : fails / (passes + fails),
    testRunDurationMs: duration,
    // k6 leaves the metric out of the summary when nothing was dropped
    droppedIterations: optionalCount(summary, 'dropped_iterations'),
  };
}
