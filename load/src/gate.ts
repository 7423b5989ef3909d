import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { toolPath } from '../../pipelines/src/platform/tools.js';
import { K6_RUN_FLAGS, K6_THRESHOLDS_FAILED, k6Environment, lastLines } from './bench/k6.js';
import type { ScenarioSummary } from './scenarios/erp-api.ts';

/** The scenarios in load/src/scenarios, by the name a caller passes. */
export const SCENARIOS = {
  smoke: fileURLToPath(new URL('./scenarios/smoke.ts', import.meta.url)),
  'canary-gate': fileURLToPath(new URL('./scenarios/canary-gate.ts', import.meta.url)),
} as const;
export type ScenarioName = keyof typeof SCENARIOS;

/** What handleSummary writes to SUMMARY_PATH: the scenarios' own summary type, read back here. */
export type GateSummary = ScenarioSummary;

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export interface GateResult {
  readonly verdict: Verdict;
  /** k6's exit code; null when it was killed (timeout) or could not start. */
  readonly exitCode: number | null;
  /** One paragraph a reviewer reads: what decided the verdict. */
  readonly reason: string;
  /** The run's numbers, when k6 got as far as handleSummary. */
  readonly summary?: GateSummary;
  readonly summaryPath: string;
  readonly markdownPath: string;
}

export interface GateOptions {
  /** A scenario name, or the path of another k6 script. */
  readonly scenario: ScenarioName | (string & {});
  /** Base URL of the service under test, passed as TARGET_URL. */
  readonly targetUrl: string;
  /** Scenario settings (GATE_RATE, GATE_DURATION, SMOKE_VUS…); nothing else of this process reaches k6. */
  readonly env?: Readonly<Record<string, string>>;
  /** Where <scenario>.json, <scenario>.md and <scenario>.log go. */
  readonly summaryDir: string;
  /** Longest the run may take; after it k6 is killed and the verdict is inconclusive (default 300 s, the plan's). */
  readonly timeoutMs?: number;
  /** The k6 binary (default the pinned one in .tools/bin). */
  readonly k6?: string;
}

const DEFAULT_TIMEOUT_MS = 300_000;

/** k6's own exit codes (k6 errext/exitcodes) that are no verdict on the target, in words. */
const K6_EXIT_MEANINGS: Readonly<Record<number, string>> = {
  100: 'setup() timed out',
  103: 'engine error',
  104: 'invalid options, such as a threshold on a metric that does not exist',
  105: 'aborted from outside',
  107: 'the script threw, such as setup() unable to seed the target',
  108: 'the script called test.abort()',
};
const STDERR_TAIL_LINES = 10;

function readSummary(path: string): GateSummary | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<GateSummary>;
    return typeof parsed.requests === 'number' && typeof parsed.thresholds === 'object'
      ? (parsed as GateSummary)
      : undefined;
  } catch {
    return undefined;
  }
}

function failedThresholds(summary: GateSummary | undefined): string {
  if (summary === undefined) return 'the summary is missing';
  const failed = Object.entries(summary.thresholds).flatMap(([metric, { rules }]) =>
    Object.entries(rules)
      .filter(([, ok]) => !ok)
      .map(([rule]) => `${metric} ${rule}`),
  );
  return failed.length === 0 ? 'none recorded as failed in the summary' : failed.join(', ');
}

/**
 * Runs one scenario with k6 and turns its exit code into a verdict: 0 passes, 99 (a threshold crossed) fails,
 * anything else (the script broke, setup could not seed the target, k6 was killed) is inconclusive: no verdict
 * on the target, so the caller must not promote on it either.
 */
export function runGate(options: GateOptions): Promise<GateResult> {
  const script = options.scenario in SCENARIOS ? SCENARIOS[options.scenario as ScenarioName] : options.scenario;
  const name = options.scenario in SCENARIOS ? options.scenario : 'custom';
  const summaryPath = join(options.summaryDir, `${name}.json`);
  const markdownPath = join(options.summaryDir, `${name}.md`);
  const logFile = join(options.summaryDir, `${name}.log`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // A summary left by an earlier run must not pass for this one's.
  rmSync(summaryPath, { force: true });
  rmSync(markdownPath, { force: true });
  const env = k6Environment({
    ...options.env,
    TARGET_URL: options.targetUrl,
    SUMMARY_PATH: summaryPath,
    SUMMARY_MARKDOWN_PATH: markdownPath,
  });
  const base = { summaryPath, markdownPath };

  return new Promise<GateResult>((resolve) => {
    let k6: string;
    try {
      k6 = options.k6 ?? toolPath('k6');
    } catch (error) {
      resolve({ ...base, verdict: 'inconclusive', exitCode: null, reason: `k6 is not available: ${String(error)}` });
      return;
    }
    let output = '';
    let timedOut = false;
    let startError: Error | undefined;
    const child = spawn(k6, [...K6_RUN_FLAGS, script], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const watchdog = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, timeoutMs);
    child.once('error', (error) => (startError = error));
    child.once('close', (code) => {
      clearTimeout(watchdog);
      const summary = readSummary(summaryPath);
      const tail = lastLines(output, STDERR_TAIL_LINES);
      const withSummary = summary === undefined ? {} : { summary };
      try {
        writeFileSync(logFile, output);
      } catch {
        // the log is for a person after the fact; losing it must not change the verdict
      }
      if (startError !== undefined) {
        resolve({
          ...base,
          verdict: 'inconclusive',
          exitCode: null,
          reason: `k6 could not start (${k6}): ${startError.message}; run scripts/bootstrap`,
        });
      } else if (timedOut) {
        resolve({
          ...base,
          ...withSummary,
          verdict: 'inconclusive',
          exitCode: code,
          reason: `k6 ran longer than ${Math.round(timeoutMs / 1000)} s and was killed; last lines of its output:\n${tail}`,
        });
      } else if (code === 0) {
        resolve({
          ...base,
          ...withSummary,
          verdict: 'pass',
          exitCode: 0,
          reason: `every threshold held against ${options.targetUrl}`,
        });
      } else if (code === K6_THRESHOLDS_FAILED) {
        resolve({
          ...base,
          ...withSummary,
          verdict: 'fail',
          exitCode: code,
          reason: `thresholds crossed against ${options.targetUrl}: ${failedThresholds(summary)}`,
        });
      } else {
        resolve({
          ...base,
          ...withSummary,
          verdict: 'inconclusive',
          exitCode: code,
          reason: `k6 exited ${String(code)} (${(code !== null ? K6_EXIT_MEANINGS[code] : undefined) ?? 'not a threshold verdict'}), which is no verdict on ${options.targetUrl}; last lines of its output:\n${tail}`,
        });
      }
    });
  });
}
