/**
 * Spike: the production-like mix at SPIKE_BASE_RATE iterations per second (default 100) for SPIKE_WARM (30s), up to
 * SPIKE_PEAK_RATE (2000) within SPIKE_RAMP (10s), held for SPIKE_HOLD (30s), back down within SPIKE_RAMP, then
 * SPIKE_RECOVERY (60s) at the base rate, judged in windows of SPIKE_WINDOW (5s). The recovery time is how long after
 * the rate is back at base until every later window's p99 is within 25% (or 5 ms) of the warm-up's p99.
 * Thresholds are not the SLOs (a spike may break them); the summary reports the recovery instead.
 *   TARGET_URL=http://127.0.0.1:8080 SEED_EMAIL=… SEED_PASSWORD=… .tools/bin/k6 run load/src/scenarios/spike.ts
 */
import exec from 'k6/execution';
import type { Options, RampingArrivalRateScenario, Threshold } from 'k6/options';

import {
  duration,
  metricValue,
  mixedRequest,
  seconds,
  seed,
  summaryOutputs,
  wholeNumber,
  type Findings,
  type Seed,
  type SummaryData,
} from './erp-api.ts';

const SCENARIO = 'spike';
const TOLERANCE_SHARE = 1.25;
const TOLERANCE_MS = 5;

const baseRate = wholeNumber('SPIKE_BASE_RATE', 100);
const peakRate = wholeNumber('SPIKE_PEAK_RATE', 2000);
const warm = duration('SPIKE_WARM', '30s');
const ramp = duration('SPIKE_RAMP', '10s');
const hold = duration('SPIKE_HOLD', '30s');
const recovery = duration('SPIKE_RECOVERY', '60s');
const windowSeconds = Math.max(1, seconds(duration('SPIKE_WINDOW', '5s')));
/** Seconds from the scenario's start to the rate being back at base. */
const recoveryStart = seconds(warm) + 2 * seconds(ramp) + seconds(hold);
const windows = Math.max(1, Math.ceil(seconds(recovery) / windowSeconds));
const windowIndexes = Array.from({ length: windows }, (_, window) => window);

// eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- @types/k6 types scenarios as an abstract class; k6 reads plain objects
const spike: RampingArrivalRateScenario = {
  executor: 'ramping-arrival-rate',
  startRate: baseRate,
  timeUnit: '1s',
  stages: [
    { target: baseRate, duration: warm },
    { target: peakRate, duration: ramp },
    { target: peakRate, duration: hold },
    { target: baseRate, duration: ramp },
    { target: baseRate, duration: recovery },
  ],
  preAllocatedVUs: wholeNumber('SPIKE_PREALLOCATED_VUS', Math.max(10, Math.ceil(baseRate / 5))),
  maxVUs: wholeNumber('SPIKE_MAX_VUS', Math.max(50, peakRate)),
  gracefulStop: '5s',
};

/** The phase an iteration starting `elapsed` seconds into the scenario belongs to: warm, spike or recovery window. */
function phaseAt(elapsed: number): string {
  if (elapsed < seconds(warm)) return 'warm';
  if (elapsed < recoveryStart) return 'spike';
  return `r${Math.min(windows - 1, Math.floor((elapsed - recoveryStart) / windowSeconds))}`;
}

const thresholds: Record<string, Threshold[]> = {};
// Always-true rules: k6 puts a tagged submetric in the summary only when a threshold names it.
for (const phase of ['warm', 'spike', ...windowIndexes.map((window) => `r${window}`)]) {
  thresholds[`http_req_duration{spike_phase:${phase}}`] = ['max>=0'];
  thresholds[`http_req_failed{spike_phase:${phase}}`] = ['rate>=0'];
}

export const options: Options = {
  scenarios: { [SCENARIO]: spike },
  thresholds,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup(): Seed {
  return seed(wholeNumber('SPIKE_PRODUCTS', 20));
}

export default function (seeded: Seed): void {
  exec.vu.metrics.tags.spike_phase = phaseAt((Date.now() - exec.scenario.startTime) / 1000);
  mixedRequest(seeded);
}

/** The warm-up p99, the spike's, each recovery window's, and the recovery time. */
export function spikeFindings(data: SummaryData): Findings {
  const p99 = (phase: string): number | undefined =>
    metricValue(data, `http_req_duration{spike_phase:${phase}}`, 'p(99)');
  const baselineP99 = p99('warm') ?? 0;
  const limitMs = Math.max(baselineP99 * TOLERANCE_SHARE, baselineP99 + TOLERANCE_MS);
  const recoveryWindows = windowIndexes.map((window) => ({
    startsAtSeconds: window * windowSeconds,
    p99Ms: p99(`r${window}`) ?? null,
    errorRate: metricValue(data, `http_req_failed{spike_phase:r${window}}`, 'rate') ?? null,
  }));
  // the first window from which every later one is back within the limit
  let recoveredFrom: number | undefined;
  for (let window = recoveryWindows.length - 1; window >= 0; window--) {
    const measured = recoveryWindows[window]?.p99Ms;
    if (measured === null || measured === undefined || measured > limitMs) break;
    recoveredFrom = window;
  }
  const recoverySeconds = recoveredFrom === undefined ? null : recoveredFrom * windowSeconds;
  const line =
    recoverySeconds === null
      ? `p99 not back within ${limitMs.toFixed(1)} ms (warm-up p99 ${baselineP99.toFixed(1)} ms) by the end of ${recovery} of recovery`
      : `recovered to warm-up p99 (${baselineP99.toFixed(1)} ms, limit ${limitMs.toFixed(1)} ms) ${recoverySeconds} s after the rate came back down; spike p99 ${(p99('spike') ?? 0).toFixed(1)} ms`;
  return {
    values: {
      baselineP99Ms: baselineP99,
      spikeP99Ms: p99('spike') ?? null,
      recoveryLimitMs: limitMs,
      recoverySeconds,
      windowSeconds,
      recoveryWindows,
    },
    line,
  };
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryOutputs(SCENARIO, data, spikeFindings(data));
}
