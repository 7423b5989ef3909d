/**
 * Stress: the production-like mix at a rising arrival rate, in steps: STRESS_START_RATE iterations per second
 * (default 100), then STRESS_STEP_RATE more (100) every STRESS_STEP_DURATION (30s), for up to STRESS_STEPS steps
 * (20, so up to 2000/s). The run stops once p99 over all requests crosses 500 ms or more than 1% fail (after
 * STRESS_ABORT_DELAY, 10s); k6 then exits 99, which is this scenario's expected end. The breaking point is the first
 * step whose own p99 crosses 500 ms, whose own error rate exceeds 1%, or that achieved less than 95% of its rate.
 *   TARGET_URL=http://127.0.0.1:8080 SEED_EMAIL=… SEED_PASSWORD=… .tools/bin/k6 run load/src/scenarios/stress.ts
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

const SCENARIO = 'stress';
const P99_LIMIT_MS = 500;
const ERROR_LIMIT = 0.01;
const ACHIEVED_SHARE = 0.95;
const RAMP_SECONDS = 1;

const startRate = wholeNumber('STRESS_START_RATE', 100);
const stepRate = wholeNumber('STRESS_STEP_RATE', 100);
const steps = wholeNumber('STRESS_STEPS', 20);
const stepSeconds = Math.max(RAMP_SECONDS + 1, seconds(duration('STRESS_STEP_DURATION', '30s')));
const rateOf = (step: number): number => startRate + step * stepRate;
const stepIndexes = Array.from({ length: steps }, (_, step) => step);

// eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- @types/k6 types scenarios as an abstract class; k6 reads plain objects
const stress: RampingArrivalRateScenario = {
  executor: 'ramping-arrival-rate',
  startRate,
  timeUnit: '1s',
  // each step: one second to reach its rate, then hold it
  stages: stepIndexes.flatMap((step) => [
    { target: rateOf(step), duration: `${RAMP_SECONDS}s` },
    { target: rateOf(step), duration: `${stepSeconds - RAMP_SECONDS}s` },
  ]),
  preAllocatedVUs: wholeNumber('STRESS_PREALLOCATED_VUS', Math.max(10, Math.ceil(startRate / 10))),
  maxVUs: wholeNumber('STRESS_MAX_VUS', Math.max(50, rateOf(steps - 1))),
  gracefulStop: '5s',
};

const abortAfter = duration('STRESS_ABORT_DELAY', '10s');
const stopRule = (threshold: string): Threshold => ({ threshold, abortOnFail: true, delayAbortEval: abortAfter });
const thresholds: Record<string, Threshold[]> = {
  http_req_duration: [stopRule(`p(99)<${P99_LIMIT_MS}`)],
  http_req_failed: [stopRule(`rate<${ERROR_LIMIT}`)],
};
// Always-true rules: k6 puts a tagged submetric in the summary only when a threshold names it.
for (const step of stepIndexes) {
  thresholds[`http_req_duration{stress_step:${step}}`] = ['max>=0'];
  thresholds[`http_req_failed{stress_step:${step}}`] = ['rate>=0'];
  thresholds[`http_reqs{stress_step:${step}}`] = ['count>=0'];
}

export const options: Options = {
  scenarios: { [SCENARIO]: stress },
  thresholds,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup(): Seed {
  return seed(wholeNumber('STRESS_PRODUCTS', 20));
}

export default function (seeded: Seed): void {
  const elapsedSeconds = (Date.now() - exec.scenario.startTime) / 1000;
  exec.vu.metrics.tags.stress_step = String(Math.min(steps - 1, Math.floor(elapsedSeconds / stepSeconds)));
  mixedRequest(seeded);
}

export interface StressStep {
  readonly step: number;
  readonly targetRate: number;
  readonly achievedRate: number;
  readonly p99Ms: number;
  readonly errorRate: number;
}

/** Each step that ran, and the first one that broke an SLO-shaped limit. */
export function stressFindings(data: SummaryData): Findings {
  const measured: StressStep[] = [];
  for (const step of stepIndexes) {
    const requests = metricValue(data, `http_reqs{stress_step:${step}}`, 'count') ?? 0;
    if (requests === 0) break;
    measured.push({
      step,
      targetRate: rateOf(step),
      achievedRate: requests / stepSeconds,
      p99Ms: metricValue(data, `http_req_duration{stress_step:${step}}`, 'p(99)') ?? 0,
      errorRate: metricValue(data, `http_req_failed{stress_step:${step}}`, 'rate') ?? 0,
    });
  }
  const broken = measured.find(
    (step) =>
      step.p99Ms >= P99_LIMIT_MS ||
      step.errorRate > ERROR_LIMIT ||
      step.achievedRate < step.targetRate * ACHIEVED_SHARE,
  );
  const lastGood = measured.filter((step) => broken === undefined || step.step < broken.step).at(-1);
  const line =
    broken === undefined
      ? `no breaking point up to ${measured.at(-1)?.targetRate ?? 0} iterations/s; raise STRESS_STEPS or STRESS_STEP_RATE`
      : `breaking point at ${broken.targetRate} iterations/s (p99 ${broken.p99Ms.toFixed(1)} ms, ${(broken.errorRate * 100).toFixed(2)} % failed, ${broken.achievedRate.toFixed(0)}/s achieved); last good step ${lastGood?.targetRate ?? 'none'}/s`;
  return {
    values: {
      breakingRate: broken?.targetRate ?? null,
      lastGoodRate: lastGood?.targetRate ?? null,
      limits: { p99Ms: P99_LIMIT_MS, errorRate: ERROR_LIMIT, achievedShare: ACHIEVED_SHARE },
      steps: measured,
    },
    line,
  };
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryOutputs(SCENARIO, data, stressFindings(data));
}
