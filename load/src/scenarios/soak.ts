/**
 * Soak: the production-like mix at SOAK_RATE iterations per second (default 50) for SOAK_DURATION (default 2m;
 * the long setting is SOAK_DURATION=2h), plus sign-ins at LOGIN_RATE (default 1/s). Thresholds are the SLOs; run it
 * through `npm run bench` (BENCH_SCENARIOS=soak) to have the app's RSS growth measured as well.
 *   TARGET_URL=http://127.0.0.1:8080 SEED_EMAIL=… SEED_PASSWORD=… .tools/bin/k6 run load/src/scenarios/soak.ts
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

const SCENARIO = 'soak';
const length = duration('SOAK_DURATION', '2m');

export const options: Options = {
  scenarios: { [SCENARIO]: arrivalRate('SOAK', { rate: 50, duration: length }), logins: boundedLogins(length) },
  thresholds: sloThresholds({ scenario: SCENARIO }),
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup(): Seed {
  return seed(wholeNumber('SOAK_PRODUCTS', 20));
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
