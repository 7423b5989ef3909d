/**
 * Peak: the production-like mix at PEAK_RATE iterations per second (default 1000) for PEAK_DURATION
 * (default 2m), plus sign-ins at LOGIN_RATE (default 1/s). Thresholds are the SLOs.
 *   TARGET_URL=http://127.0.0.1:8080 SEED_EMAIL=… SEED_PASSWORD=… .tools/bin/k6 run load/src/scenarios/peak.ts
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

const SCENARIO = 'peak';
const length = duration('PEAK_DURATION', '2m');

export const options: Options = {
  scenarios: { [SCENARIO]: arrivalRate('PEAK', { rate: 1000, duration: length }), logins: boundedLogins(length) },
  thresholds: sloThresholds({ scenario: SCENARIO }),
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup(): Seed {
  return seed(wholeNumber('PEAK_PRODUCTS', 20));
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
