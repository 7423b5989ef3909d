/**
 * Stress: the production-like mix at a rising arrival rate, in steps: STRESS_START_RATE requests per second (default
 * 100), then STRESS_STEP_RATE more (100) every STRESS_STEP_DURATION (30s), for up to STRESS_STEPS steps (20, so up to
 * 2000/s). A step breaks when its own p99 reaches 500 ms, more than 1 % of its requests fail, or it sends less than
 * 95 % of its rate; the run stops at the first broken step, the breaking point.
 */
import type { Findings, FindingsInput, PhaseOutcome, Scenario } from '../engine/model.js';
import { durationMs, wholeNumber, type Env } from '../engine/settings.js';
import { MIX } from './erp-api.js';

export const STRESS_LIMITS = { p99Ms: 500, errorRate: 0.01, achievedShare: 0.95 } as const;

export function broke(outcome: PhaseOutcome): boolean {
  return (
    outcome.p99Ms >= STRESS_LIMITS.p99Ms ||
    outcome.errorRate > STRESS_LIMITS.errorRate ||
    outcome.achievedRate < outcome.phase.rate * STRESS_LIMITS.achievedShare
  );
}

export function stressFindings({ phases }: FindingsInput): Findings {
  const steps = phases.map((outcome, step) => ({
    step,
    targetRate: outcome.phase.rate,
    achievedRate: outcome.achievedRate,
    p99Ms: outcome.p99Ms,
    errorRate: outcome.errorRate,
  }));
  const brokenIndex = phases.findIndex(broke);
  const broken = brokenIndex === -1 ? undefined : steps[brokenIndex];
  const lastGood = steps.filter((step) => broken === undefined || step.step < broken.step).at(-1);
  return {
    values: {
      breakingRate: broken?.targetRate ?? null,
      lastGoodRate: lastGood?.targetRate ?? null,
      limits: STRESS_LIMITS,
      steps,
    },
    line:
      broken === undefined
        ? `no breaking point up to ${steps.at(-1)?.targetRate ?? 0} requests/s; raise STRESS_STEPS or STRESS_STEP_RATE`
        : `breaking point at ${broken.targetRate} requests/s (p99 ${broken.p99Ms.toFixed(1)} ms, ${(broken.errorRate * 100).toFixed(2)} % failed, ${broken.achievedRate.toFixed(0)}/s sent); last good step ${lastGood?.targetRate ?? 'none'}/s`,
  };
}

export function stress(env: Env): Scenario {
  return {
    name: 'stress',
    description: 'rising steps of the mix until the target breaks',
    products: wholeNumber(env, 'STRESS_PRODUCTS', 20),
    users: wholeNumber(env, 'STRESS_USERS', 10),
    flows: [
      {
        name: 'stress',
        arrival: {
          model: 'steps',
          startRate: wholeNumber(env, 'STRESS_START_RATE', 100),
          stepRate: wholeNumber(env, 'STRESS_STEP_RATE', 100),
          steps: wholeNumber(env, 'STRESS_STEPS', 20),
          stepMs: durationMs(env, 'STRESS_STEP_DURATION', '30s'),
        },
        mix: MIX,
      },
    ],
    // the breaking point is the finding; the SLOs are not this scenario's verdict
    thresholds: {},
    stopAfterPhase: broke,
    findings: stressFindings,
  };
}
