/**
 * The closed-model HTTP benchmark: BENCH_VUS virtual users (default 50) each request TARGET_URL again as soon
 * as the last answer arrives, for BENCH_DURATION (default 20s). Run by load/src/bench/run.ts, or by hand:
 *   TARGET_URL=http://127.0.0.1:8080/health/live .tools/bin/k6 run load/src/scenarios/http-bench.ts
 */
import { check } from 'k6';
import http from 'k6/http';
import type { ConstantVUsScenario, Options } from 'k6/options';

function requiredTarget(): string {
  const url = __ENV.TARGET_URL;
  if (!url) {
    throw new Error(
      'TARGET_URL is not set; set it to the URL to load, e.g. TARGET_URL=http://127.0.0.1:8080/health/live',
    );
  }
  return url;
}

const target = requiredTarget();
const summaryPath = __ENV.SUMMARY_PATH;

// eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- @types/k6 types scenarios as an abstract class; k6 reads plain objects
const bench: ConstantVUsScenario = {
  executor: 'constant-vus',
  vus: Number(__ENV.BENCH_VUS ?? '50'),
  duration: __ENV.BENCH_DURATION ?? '20s',
  gracefulStop: '5s',
};

export const options: Options = {
  scenarios: { bench },
  // Only the status is checked; not keeping bodies leaves more CPU to the server under test.
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export default function (): void {
  const response = http.get(target);
  check(response, { 'status is 200': (r) => r.status === 200 });
}

/** The part of k6's summary data this script reads (the full shape is in the JSON it writes). */
interface SummaryData {
  readonly metrics: Record<string, { readonly values: Record<string, number> } | undefined>;
}

/** Writes the whole summary as JSON to SUMMARY_PATH for the orchestrator, and one line for a person. */
export function handleSummary(data: SummaryData): Record<string, string> {
  const requests = data.metrics.http_reqs?.values.count ?? 0;
  const rate = data.metrics.http_reqs?.values.rate ?? 0;
  const p99 = data.metrics.http_req_duration?.values['p(99)'] ?? 0;
  const failed = data.metrics.http_req_failed?.values.rate ?? 0;
  const line = `${target}: ${requests} requests, ${rate.toFixed(0)} req/s, p99 ${p99.toFixed(2)} ms, ${(failed * 100).toFixed(2)} % failed\n`;
  const outputs: Record<string, string> = { stdout: line };
  if (summaryPath) outputs[summaryPath] = JSON.stringify(data, null, 2);
  return outputs;
}
