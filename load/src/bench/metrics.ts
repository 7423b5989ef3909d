import type { ScenarioSummary } from '../engine/run.js';

/** The numbers one measurement contributes to the benchmark, taken from its scenario summary. */
export interface RunMetrics {
  /** Requests sent and recorded. */
  readonly requests: number;
  /** Requests per second over the run. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Requests whose status was checked (all of them). */
  readonly checked: number;
  /** Requests answered with another status than expected, or not at all. */
  readonly failed: number;
  /** failed / checked requests, 0 to 1. */
  readonly errorRate: number;
  readonly testRunDurationMs: number;
  /** Requests the open model asked for that the generator did not send (0 for a closed model). */
  readonly unsent: number;
  /** CPU of the load generator (this process and Vegeta) while it ran, in % of one core. */
  readonly generatorCpuPercent: number;
  /** Answers per status; 0 is no answer (refused, reset, timed out). */
  readonly statuses?: Readonly<Record<string, number>>;
}

export function runMetrics(summary: ScenarioSummary): RunMetrics {
  const failed = Math.round(summary.requests * (1 - summary.checkRate));
  return {
    requests: summary.requests,
    rps: summary.achievedRate,
    p50Ms: summary.p50Ms,
    p99Ms: summary.p99Ms,
    maxMs: summary.maxMs,
    checked: summary.requests,
    failed,
    errorRate: summary.requests === 0 ? 0 : failed / summary.requests,
    testRunDurationMs: summary.durationMs,
    unsent: Math.max(0, summary.requestedRequests - summary.requests),
    generatorCpuPercent: summary.generatorCpuPercent,
    statuses: summary.statuses,
  };
}
