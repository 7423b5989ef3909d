/**
 * Baseline: the production-like mix at BASELINE_RATE iterations per second (default 100) for BASELINE_DURATION
 * (default 5m), plus sign-ins at LOGIN_RATE (default 1/s). Thresholds are the SLOs.
 *   TARGET_URL=http://127.0.0.1:8080 SEED_EMAIL=… SEED_PASSWORD=… .tools/bin/k6 run load/src/scenarios/baseline.ts
 */
import type { Options } from 'k6/options';

import {
  arrivalRate,
  boundedLogins,
  duration,
  mixedRequest,
  seed,
  signIn as signInOnce,
  sloThresholds,
  summaryOutputs,
  wholeNumber,
  type Seed,
  type SummaryData,
} from './erp-api.ts';

const SCENARIO = 'baseline';
const length = duration('BASELINE_DURATION', '5m');

export const options: Options = {
  scenarios: { [SCENARIO]: arrivalRate('BASELINE', { rate: 100, duration: length }), logins: boundedLogins(length) },
  thresholds: sloThresholds({ scenario: SCENARIO }),
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup(): Seed {
  return seed(wholeNumber('BASELINE_PRODUCTS', 20));
}

export default function (seeded: Seed): void {
  mixedRequest(seeded);
}

export function signIn(seeded: Seed): void {
  signInOnce(seeded);
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryOutputs(SCENARIO, data);
}
