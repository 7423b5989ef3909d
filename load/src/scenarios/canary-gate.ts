/**
 * The canary gate: an open model (constant-arrival-rate) of GATE_RATE iterations per second (default 20) for
 * GATE_DURATION (default 30s) against TARGET_URL, each one request of the production-like mix. The SLO thresholds
 * abort the run once crossed (after GATE_ABORT_DELAY, default 10s, of warm-up); k6 then exits 99.
 *   TARGET_URL=http://127.0.0.1:8080 .tools/bin/k6 run load/src/scenarios/canary-gate.ts
 */
import type { ConstantArrivalRateScenario, Options } from 'k6/options';

import {
  duration,
  mixedRequest,
  seed,
  sloThresholds,
  summaryOutputs,
  wholeNumber,
  type Seed,
  type SummaryData,
} from './erp-api.ts';

const SCENARIO = 'gate';
const rate = wholeNumber('GATE_RATE', 20);

// eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- @types/k6 types scenarios as an abstract class; k6 reads plain objects
const gate: ConstantArrivalRateScenario = {
  executor: 'constant-arrival-rate',
  rate,
  timeUnit: '1s',
  duration: duration('GATE_DURATION', '30s'),
  // one second of arrivals ready at the start, room for a slow canary before iterations are dropped
  preAllocatedVUs: wholeNumber('GATE_PREALLOCATED_VUS', Math.max(2, rate)),
  maxVUs: wholeNumber('GATE_MAX_VUS', Math.max(10, rate * 5)),
  gracefulStop: '5s',
};

export const options: Options = {
  scenarios: { [SCENARIO]: gate },
  thresholds: sloThresholds({ scenario: SCENARIO, abortAfter: duration('GATE_ABORT_DELAY', '10s') }),
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup(): Seed {
  return seed(wholeNumber('GATE_PRODUCTS', 5));
}

export default function (seeded: Seed): void {
  mixedRequest(seeded);
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryOutputs(SCENARIO, data);
}
