/**
 * The release plan: how a new digest takes traffic from the stable version, as plain typed data.
 *
 * Rendered twice from this one definition: into Argo Rollouts canary steps and AnalysisTemplates by `infra/`,
 * and run by the local canary executor (planned) against nginx on loopback. Nothing here knows about either.
 * The SLO gates name an SLI of monitoring/'s SLO model, which holds their queries and thresholds.
 */

import type { SliKind } from '@slipway/monitoring/slo';

/** What a gate checks between two traffic steps. */
export type AnalysisGate =
  /** The load gate against the canary: its thresholds decide. */
  | { readonly kind: 'load'; readonly scenario: 'gate' }
  /** A Prometheus check of one SLO on the canary's own traffic. */
  | { readonly kind: 'slo'; readonly slo: SliKind };

export interface ReleaseStage {
  /** Percentage of requests sent to the canary during this stage, 1 to 100. */
  readonly weight: number;
  /** How long traffic stays at this weight before the gates run, in seconds (0: no pause). */
  readonly pauseSeconds: number;
  /** Gates that must all pass before the next stage; empty for none. */
  readonly gates: readonly AnalysisGate[];
}

export interface ReleasePlan {
  readonly name: string;
  /** In order; the last stage has weight 100 and promotes the canary to stable. */
  readonly stages: readonly ReleaseStage[];
}

/** The load gate of each canary stage, as the runner (local or a Kubernetes Job) needs it. */
export interface GateScenario {
  readonly name: string;
  /** The scenario the gate runs (a name in load/src/scenarios/index.ts). */
  readonly scenario: string;
  /** The gate image's command: Node running the bundled gate (load/src/cli.ts) with the scenario's name. */
  readonly command: readonly string[];
  /** The scenario's module in this repository, from its root: what the bundle holds and the local executor runs. */
  readonly repositoryPath: string;
  /** The gate's entry point in this repository, from its root: `npx tsx <it> <scenario>` runs the gate locally. */
  readonly entryPath: string;
  /** Longest the gate may run, in seconds; a runner kills it after that and counts the stage inconclusive. */
  readonly timeoutSeconds: number;
  /**
   * The gate's exit codes: 0 passed; 1 a threshold failed (the canary is worse); 2 inconclusive (unreachable, too few
   * answers, the engine failed, a timeout), which is no verdict.
   */
  readonly exitCodes: { readonly passed: 0; readonly thresholdsFailed: 1; readonly inconclusive: 2 };
  /** Environment variable through which the runner passes the canary's base URL. */
  readonly targetUrlVariable: string;
  /** Environment variable through which the runner passes the stable version's base URL, to compare the p99 with. */
  readonly stableUrlVariable: string;
  /** Environment variable of the gate's own time limit, in seconds (it stops and answers inconclusive). */
  readonly timeoutVariable: string;
  /** Where this scenario comes from: `load/`. */
  readonly source: 'load';
}

/** Where the gate image (load/Dockerfile) holds the bundled gate: Node runs it, with Vegeta on the PATH. */
export const GATE_IMAGE_ENTRY = '/gate/gate.mjs';

/**
 * The load gate of every canary stage: load/src/scenarios/canary-gate.ts run by the gate (load/src/cli.ts), bundled
 * into {@link GATE_IMAGE_ENTRY} of the gate image. Its defaults (20 requests/s for 30 s) finish well inside the timeout.
 */
export const GATE_SCENARIO: GateScenario = {
  name: 'gate',
  scenario: 'canary-gate',
  command: ['node', GATE_IMAGE_ENTRY, 'canary-gate'],
  repositoryPath: 'load/src/scenarios/canary-gate.ts',
  entryPath: 'load/src/cli.ts',
  timeoutSeconds: 300,
  exitCodes: { passed: 0, thresholdsFailed: 1, inconclusive: 2 },
  targetUrlVariable: 'TARGET_URL',
  stableUrlVariable: 'STABLE_URL',
  timeoutVariable: 'GATE_TIMEOUT_SECONDS',
  source: 'load',
};

const allGates: readonly AnalysisGate[] = [
  { kind: 'load', scenario: 'gate' },
  { kind: 'slo', slo: 'availability' },
  { kind: 'slo', slo: 'latency' },
];

/** The canary every stack runs: 10% → analysis → 25% → analysis → 50% → analysis → 100%. */
export const RELEASE_PLAN: ReleasePlan = {
  name: 'erp-api-canary',
  stages: [
    { weight: 10, pauseSeconds: 120, gates: allGates },
    { weight: 25, pauseSeconds: 120, gates: allGates },
    { weight: 50, pauseSeconds: 120, gates: allGates },
    { weight: 100, pauseSeconds: 0, gates: [] },
  ],
};

/**
 * Checks that a plan can be run: weights rise strictly from 1 to exactly 100, pauses are whole seconds.
 * @returns one line per problem; empty when the plan is valid.
 */
export function planProblems(plan: ReleasePlan): string[] {
  const problems: string[] = [];
  if (plan.stages.length === 0)
    problems.push(`plan ${plan.name} has no stages: add at least one stage with weight 100`);
  let previous = 0;
  plan.stages.forEach((stage, index) => {
    if (!Number.isInteger(stage.weight) || stage.weight < 1 || stage.weight > 100)
      problems.push(`stage ${index + 1} has weight ${stage.weight}: use a whole percentage from 1 to 100`);
    if (stage.weight <= previous)
      problems.push(
        `stage ${index + 1} has weight ${stage.weight}, not above the previous ${previous}: weights must rise`,
      );
    if (!Number.isInteger(stage.pauseSeconds) || stage.pauseSeconds < 0)
      problems.push(`stage ${index + 1} pauses ${stage.pauseSeconds} s: use a whole number of seconds, 0 or more`);
    previous = stage.weight;
  });
  const last = plan.stages.at(-1);
  if (last !== undefined && last.weight !== 100)
    problems.push(`the last stage has weight ${last.weight}: end with weight 100 so the canary is promoted`);
  return problems;
}
