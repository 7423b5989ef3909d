import { forCanary, type SloAnalysisQuery } from '@slipway/monitoring/slo';
import type { AnalysisGate, GateScenario, ReleasePlan } from '@slipway/pipelines/release/plan';

/** Argo Rollouts canary steps, as the Rollout spec holds them. */
export type CanaryStep =
  | { readonly setWeight: number }
  | { readonly pause: { readonly duration: string } }
  | {
      readonly analysis: {
        readonly templates: readonly { readonly templateName: string }[];
        readonly args: readonly Record<string, unknown>[];
      };
    };

export const ANALYSIS_INTERVAL_SECONDS = 60;
export const ANALYSIS_COUNT = 3;

export function templateName(app: string, gate: AnalysisGate): string {
  return gate.kind === 'load' ? `${app}-gate-load` : `${app}-slo-${gate.slo}`;
}

/** Renders the release plan into canary steps: setWeight, then pause, then one analysis of all its gates. */
export function canarySteps(app: string, plan: ReleasePlan, canaryUrl: string): CanaryStep[] {
  const steps: CanaryStep[] = [];
  for (const stage of plan.stages) {
    steps.push({ setWeight: stage.weight });
    if (stage.pauseSeconds > 0) steps.push({ pause: { duration: `${stage.pauseSeconds}s` } });
    if (stage.gates.length > 0)
      steps.push({
        analysis: {
          templates: stage.gates.map((gate) => ({ templateName: templateName(app, gate) })),
          args: [
            { name: 'canary-hash', valueFrom: { podTemplateHashValue: 'Latest' } },
            { name: 'canary-url', value: canaryUrl },
          ],
        },
      });
  }
  return steps;
}

/** The longest a whole canary may take when every gate passes, plus a margin; beyond it `pulumi up` fails. */
export function canaryTimeoutSeconds(plan: ReleasePlan, gate: GateScenario): number {
  const analysis = Math.max(gate.timeoutSeconds, ANALYSIS_INTERVAL_SECONDS * ANALYSIS_COUNT);
  const stages = plan.stages.reduce(
    (total, stage) => total + stage.pauseSeconds + (stage.gates.length > 0 ? analysis : 0),
    0,
  );
  return stages + 600;
}

/** Fills the canary's label matchers into an SLO query. */
export function canaryQuery(query: SloAnalysisQuery, namespace: string): string {
  return forCanary(query, namespace, '{{args.canary-hash}}');
}

/** Argo expressions for one SLO: no data is neither success nor failure (inconclusive). */
export function sloConditions(query: SloAnalysisQuery): { successCondition: string; failureCondition: string } {
  const [pass, fail] = query.comparison === 'atLeast' ? ['>=', '<'] : ['<=', '>'];
  return {
    successCondition: `len(result) > 0 && result[0] ${pass} ${query.threshold}`,
    failureCondition: `len(result) > 0 && result[0] ${fail} ${query.threshold}`,
  };
}
