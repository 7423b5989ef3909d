import type { Scenario } from '../engine/model.js';
import type { Env } from '../engine/settings.js';
import { baseline } from './baseline.js';
import { canaryGate } from './canary-gate.js';
import { peak } from './peak.js';
import { smoke } from './smoke.js';
import { soak } from './soak.js';
import { spike } from './spike.js';
import { stress } from './stress.js';

/** Every scenario by the name a caller passes, each built from its environment (rates, durations, seeds). */
export const SCENARIOS = {
  smoke,
  'canary-gate': canaryGate,
  baseline,
  peak,
  stress,
  spike,
  soak,
} as const satisfies Record<string, (env: Env) => Scenario>;
export type ScenarioName = keyof typeof SCENARIOS;

export function isScenarioName(name: string): name is ScenarioName {
  return Object.hasOwn(SCENARIOS, name);
}
