import { EXIT, ReleaseError } from '../errors.js';
import type { ReleasePlan } from '../plan.js';

/**
 * How a plan's production timings are scaled where it runs: the plan keeps its production pauses, a profile shortens
 * them (and the load gate's run) for a rehearsal on loopback.
 */
export interface ReleaseProfile {
  readonly name: string;
  /** A stage's pause is the plan's × this factor, rounded up to whole seconds. */
  readonly pauseFactor: number;
  /** Environment of the load gate (load/src/scenarios/canary-gate.ts): its rate, duration and fewest answers. */
  readonly gateEnv: Readonly<Record<string, string>>;
  /** Longest wait for the canary's /health/ready, in seconds. */
  readonly readySeconds: number;
  /** Requests per second of the background traffic through the front door. */
  readonly trafficRate: number;
}

export const PROFILES: Readonly<Record<string, ReleaseProfile>> = {
  production: { name: 'production', pauseFactor: 1, gateEnv: {}, readySeconds: 120, trafficRate: 20 },
  // a 4-stage rehearsal in well under 5 minutes on two cores
  local: {
    name: 'local',
    pauseFactor: 1 / 8,
    gateEnv: { GATE_DURATION: '10s', GATE_RATE: '20', GATE_MIN_REQUESTS: '100' },
    readySeconds: 60,
    trafficRate: 20,
  },
  // the bad-release tests: a verdict within seconds of the canary taking traffic
  test: {
    name: 'test',
    pauseFactor: 1 / 40,
    gateEnv: { GATE_DURATION: '6s', GATE_RATE: '20', GATE_MIN_REQUESTS: '100' },
    readySeconds: 20,
    trafficRate: 20,
  },
};

export function profileByName(name: string): ReleaseProfile {
  const profile = PROFILES[name];
  if (profile === undefined) {
    throw new ReleaseError(
      `unknown release profile ${JSON.stringify(name)}`,
      `use one of ${Object.keys(PROFILES).join(', ')} (--profile)`,
      EXIT.usage,
    );
  }
  return profile;
}

/** The pause of each stage under a profile, in seconds. */
export function scaledPauses(plan: ReleasePlan, profile: ReleaseProfile): number[] {
  return plan.stages.map((stage) => Math.ceil(stage.pauseSeconds * profile.pauseFactor));
}
