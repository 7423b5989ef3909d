import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Scenario } from './engine/model.js';
import { summaryLine, summaryMarkdown } from './engine/report.js';
import { runScenario, type ScenarioSummary } from './engine/run.js';
import { SeedError } from './engine/session.js';
import { ScenarioInputError, targetUrl, type Env } from './engine/settings.js';
import { sloLatencyBoundMs, ThresholdError } from './engine/thresholds.js';
import { EngineError } from './engine/vegeta.js';
import { isScenarioName, SCENARIOS } from './scenarios/index.js';

export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** The gate's exit codes: the release plan and the AnalysisTemplate Job read them. */
export const GATE_EXIT = { pass: 0, fail: 1, inconclusive: 2 } as const satisfies Record<Verdict, number>;

export interface GateResult {
  readonly verdict: Verdict;
  readonly exitCode: (typeof GATE_EXIT)[Verdict];
  /** One paragraph a reviewer reads: what decided the verdict. */
  readonly reason: string;
  /** The canary's numbers, when the run got as far as measuring. */
  readonly summary?: ScenarioSummary;
  /** The stable version's numbers, when it was measured beside the canary. */
  readonly stableSummary?: ScenarioSummary;
  readonly summaryPath: string;
  readonly markdownPath: string;
}

export interface GateOptions {
  /** A scenario name (default canary-gate), or a scenario. */
  readonly scenario?: string | Scenario;
  /** Base URL of the service under test (the canary). */
  readonly targetUrl: string;
  /**
   * Base URL of the stable version: measured beside the canary with the same scenario, and the canary fails when its
   * p99 exceeds stable's by more than GATE_P99_ALLOWANCE_MS (default a fifth of the latency SLO's bound).
   */
  readonly stableUrl?: string;
  /** Scenario settings (GATE_RATE, GATE_DURATION, SEED_EMAIL…). */
  readonly env?: Env;
  /** Where <scenario>.json and <scenario>.md go. */
  readonly summaryDir: string;
  /** Longest the run may take; after it the attack is killed and the verdict is inconclusive (default 300 s). */
  readonly timeoutMs?: number;
  /** The Vegeta binary (default VEGETA_BIN, else the pinned one). */
  readonly vegeta?: string;
  readonly progress?: (line: string) => void;
}

const DEFAULT_TIMEOUT_MS = 300_000;
/** Below this share of the requests asked for, the generator fell behind and measured another rate than asked. */
const MIN_ACHIEVED_SHARE = 0.9;

class GateTimeout extends Error {
  override readonly name = 'GateTimeout';
}

function answered(summary: ScenarioSummary): number {
  return summary.requests - (summary.statuses['0'] ?? 0);
}

function failedRules(summary: ScenarioSummary): string[] {
  return Object.entries(summary.thresholds).flatMap(([metric, { rules }]) =>
    Object.entries(rules)
      .filter(([, result]) => !result.passed)
      .map(([rule, result]) => `${metric} ${rule} (measured ${Number(result.value.toPrecision(4))})`),
  );
}

/** The verdict on measured numbers: inconclusive when too little was measured, else the thresholds decide. */
export function judgeGate(
  summary: ScenarioSummary,
  minRequests: number,
  stable?: { summary: ScenarioSummary; allowanceMs: number },
): { verdict: Verdict; reason: string } {
  const target = summary.targetUrl;
  if (answered(summary) === 0) {
    return {
      verdict: 'inconclusive',
      reason: `no request to ${target} got an answer (${summary.requests} sent; ${summary.errors.join('; ') || 'no error text'}): the target is unreachable, so nothing was measured`,
    };
  }
  if (answered(summary) < minRequests) {
    return {
      verdict: 'inconclusive',
      reason: `only ${answered(summary)} requests to ${target} were answered, fewer than the ${minRequests} a verdict needs (GATE_MIN_REQUESTS); run longer or at a higher rate`,
    };
  }
  if (summary.achievedShare < MIN_ACHIEVED_SHARE) {
    return {
      verdict: 'inconclusive',
      reason: `the load generator sent ${summary.requests} of ${summary.requestedRequests} requests asked for (${(summary.achievedShare * 100).toFixed(1)} %): it fell behind, so the rate measured is not the rate asked for`,
    };
  }
  const failed = failedRules(summary);
  if (stable !== undefined) {
    const limit = stable.summary.p99Ms + stable.allowanceMs;
    if (answered(stable.summary) < minRequests) {
      return {
        verdict: 'inconclusive',
        reason: `the stable version at ${stable.summary.targetUrl} answered only ${answered(stable.summary)} requests, fewer than ${minRequests}: nothing to compare the canary with`,
      };
    }
    if (summary.p99Ms > limit) {
      failed.push(
        `p99 ${summary.p99Ms.toFixed(1)} ms is more than ${stable.allowanceMs} ms above the stable version's ${stable.summary.p99Ms.toFixed(1)} ms (GATE_P99_ALLOWANCE_MS)`,
      );
    }
  }
  if (failed.length > 0) return { verdict: 'fail', reason: `the canary at ${target} is worse: ${failed.join('; ')}` };
  return {
    verdict: 'pass',
    reason: `every threshold held against ${target} (${summary.requests} requests, p99 ${summary.p99Ms.toFixed(1)} ms, ${(summary.errorRate * 100).toFixed(3)} % failed)${stable === undefined ? '' : `, within ${stable.allowanceMs} ms of the stable version's p99 (${stable.summary.p99Ms.toFixed(1)} ms)`}`,
  };
}

function scenarioOf(option: GateOptions['scenario'], env: Env): Scenario {
  if (option === undefined) return SCENARIOS['canary-gate'](env);
  if (typeof option !== 'string') return option;
  if (!isScenarioName(option)) {
    throw new ScenarioInputError('scenario', option, `one of ${Object.keys(SCENARIOS).join(', ')}`);
  }
  return SCENARIOS[option](env);
}

function allowanceMs(env: Env): number {
  const raw = env.GATE_P99_ALLOWANCE_MS;
  const fallback = sloLatencyBoundMs() / 5;
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,6}$/.test(raw))
    throw new ScenarioInputError('GATE_P99_ALLOWANCE_MS', raw, `a whole number of milliseconds (default ${fallback})`);
  return Number(raw);
}

/**
 * Runs the gate scenario against the canary (and, given stableUrl, the same against the stable version) and turns
 * what it measured into a verdict. Exit codes: 0 pass; 1 thresholds failed, the canary is worse; 2 inconclusive: the
 * target unreachable, too few answers, the generator behind, the engine failed, a bad setting or threshold, a timeout.
 * Inconclusive is never a pass: the canary must halt on it.
 */
export async function runGate(options: GateOptions): Promise<GateResult> {
  const env = options.env ?? {};
  const name = typeof options.scenario === 'object' ? options.scenario.name : (options.scenario ?? 'canary-gate');
  mkdirSync(options.summaryDir, { recursive: true });
  const summaryPath = join(options.summaryDir, `${name}.json`);
  const markdownPath = join(options.summaryDir, `${name}.md`);
  // a summary left by an earlier run must not pass for this one's
  rmSync(summaryPath, { force: true });
  rmSync(markdownPath, { force: true });
  const base = { summaryPath, markdownPath };
  const inconclusive = (reason: string, summary?: ScenarioSummary): GateResult => ({
    ...base,
    verdict: 'inconclusive',
    exitCode: GATE_EXIT.inconclusive,
    reason,
    ...(summary === undefined ? {} : { summary }),
  });

  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const aborter = new AbortController();
  const timer = setTimeout(
    () => aborter.abort(new GateTimeout(`the gate ran longer than ${Math.round(timeoutMs / 1000)} s and was stopped`)),
    timeoutMs,
  );
  try {
    targetUrl({ TARGET_URL: options.targetUrl });
    if (options.stableUrl !== undefined) targetUrl({ TARGET_URL: options.stableUrl });
    const scenario = scenarioOf(options.scenario, env);
    const allowance = options.stableUrl === undefined ? 0 : allowanceMs(env);
    const run = (targetUrl: string): Promise<ScenarioSummary> =>
      runScenario({
        scenario,
        targetUrl,
        env,
        signal: aborter.signal,
        ...(options.vegeta === undefined ? {} : { vegeta: options.vegeta }),
        ...(options.progress === undefined ? {} : { progress: options.progress }),
      });
    const [summary, stableSummary] = await Promise.all([
      run(options.targetUrl),
      options.stableUrl === undefined ? Promise.resolve(undefined) : run(options.stableUrl),
    ]);
    writeFileSync(summaryPath, `${JSON.stringify({ canary: summary, stable: stableSummary ?? null }, null, 2)}\n`);
    writeFileSync(
      markdownPath,
      `${summaryMarkdown(summary)}${stableSummary === undefined ? '' : `\nThe stable version, measured beside it:\n\n${summaryMarkdown(stableSummary)}`}`,
    );
    const { verdict, reason } = judgeGate(
      summary,
      scenario.minRequests ?? 1,
      stableSummary === undefined ? undefined : { summary: stableSummary, allowanceMs: allowance },
    );
    return {
      ...base,
      verdict,
      exitCode: GATE_EXIT[verdict],
      reason: `${reason}\n${summaryLine(summary)}`,
      summary,
      ...(stableSummary === undefined ? {} : { stableSummary }),
    };
  } catch (error) {
    if (aborter.signal.aborted && aborter.signal.reason instanceof GateTimeout)
      return inconclusive(aborter.signal.reason.message);
    if (error instanceof SeedError) {
      return inconclusive(
        error.unreachable
          ? `the target is unreachable, nothing was measured: ${error.message}`
          : `the target could not be seeded, nothing was measured: ${error.message}`,
      );
    }
    if (error instanceof EngineError) return inconclusive(`the load engine failed: ${error.message}; ${error.fix}`);
    if (error instanceof ThresholdError) return inconclusive(`the scenario's thresholds are invalid: ${error.message}`);
    if (error instanceof ScenarioInputError) return inconclusive(`a setting is invalid: ${error.message}`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
