import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { PlatformError } from '../../../pipelines/src/platform/errors.js';
import { parseK6Summary, SummaryFormatError, type RunMetrics } from './k6-summary.js';

/** The benchmark's k6 script; BENCH_SCENARIO picks the measurement (cached-read, orders, logins, closed). */
export const BENCH_SCRIPT = fileURLToPath(new URL('../scenarios/bench.ts', import.meta.url));

/** k6 exits with this when a threshold fails (k6 errext/exitcodes). */
export const K6_THRESHOLDS_FAILED = 99;

const STDERR_TAIL_LINES = 15;
// Beyond duration + the scenario's gracefulStop, time for start-up and handleSummary before we call k6 hung.
const OVERRUN_ALLOWANCE_MS = 60_000;
// Only these reach k6, so a K6_* variable in the caller's shell cannot change what is measured.
const ENV_PASSTHROUGH = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ'] as const;

/** `k6 run` flags every caller uses. No REST API: it would take port 6565 and make two k6 runs collide. */
export const K6_RUN_FLAGS = ['run', '--quiet', '--no-color', '--no-usage-report', '--address', ''] as const;

/** The few variables of this process k6 inherits, plus the scenario's own. */
export function k6Environment(scenarioEnv: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ENV_PASSTHROUGH) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return Object.assign(env, scenarioEnv);
}

export interface K6RunOptions {
  readonly k6: string;
  readonly script?: string;
  readonly targetUrl: string;
  /** The scenario's settings (BENCH_SCENARIO, BENCH_RATE, BENCH_DURATION…); TARGET_URL and SUMMARY_PATH are added. */
  readonly env: Readonly<Record<string, string>>;
  /** How long the scenario runs (setup and teardown aside), for the watchdog. */
  readonly durationMs: number;
  /** Where handleSummary writes its JSON (SUMMARY_PATH). */
  readonly summaryPath: string;
  /** Where k6's raw summary data lands, if not at summaryPath (erp-api scenarios write it to SUMMARY_RAW_PATH). */
  readonly rawSummaryPath?: string | undefined;
  /** k6's own stdout and stderr, kept for reading after a broken run. */
  readonly logFile: string;
  /**
   * The script carries SLO thresholds (e.g. soak.ts) whose crossing is a measurement, not a broken run: exit 99
   * resolves with the numbers like exit 0.
   */
  readonly thresholdsAreMeasurements?: boolean;
  /** Aborting kills k6 and rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** The last `count` lines of k6's stderr, for an error a person reads. */
export function lastLines(text: string, count: number): string {
  const lines = text.trimEnd().split('\n').slice(-count);
  return lines.join('\n') || '(k6 wrote nothing to stderr)';
}

/** Runs the scenario once against targetUrl and returns its numbers; rejects on any exit but 0. */
export function runK6(options: K6RunOptions): Promise<RunMetrics> {
  const { k6, targetUrl, summaryPath, logFile, signal } = options;
  signal?.throwIfAborted();
  const script = options.script ?? BENCH_SCRIPT;
  const env = k6Environment({ ...options.env, TARGET_URL: targetUrl, SUMMARY_PATH: summaryPath });
  const args = [...K6_RUN_FLAGS, script];

  const rawSummaryPath = options.rawSummaryPath ?? summaryPath;
  // A summary left by an earlier run must not pass for this one's.
  rmSync(summaryPath, { force: true });
  rmSync(rawSummaryPath, { force: true });
  return new Promise<RunMetrics>((resolve, reject) => {
    const log = createWriteStream(logFile, { flags: 'a' });
    log.write(
      `\n--- ${new Date().toISOString()} ${k6} ${args.join(' ')} (TARGET_URL=${targetUrl} ${options.env.BENCH_SCENARIO ?? ''})\n`,
    );
    // Its own process group, so Ctrl-C reaches the orchestrator alone and k6 is stopped by it, in order.
    const child = spawn(k6, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.pipe(log, { end: false });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      log.write(chunk);
    });

    const kill = (): void => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    let failure: Error | undefined;
    const onAbort = (): void => {
      const reason: unknown = signal?.reason;
      failure = reason instanceof Error ? reason : new Error('k6 run aborted');
      kill();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const timeoutMs = options.durationMs + OVERRUN_ALLOWANCE_MS;
    const watchdog = setTimeout(() => {
      failure = new PlatformError(
        `k6 against ${targetUrl} still ran ${Math.round(timeoutMs / 1000)} s after it started, for a ${Math.round(options.durationMs / 1000)} s run; killed it`,
        `read ${logFile} for where it hung`,
      );
      kill();
    }, timeoutMs);

    child.once('error', (error) => {
      failure ??= new PlatformError(
        `k6 could not start (${k6}): ${error.message}`,
        'run scripts/bootstrap (it builds the pinned k6 into .tools/bin)',
        { cause: error },
      );
    });
    child.once('close', (code, exitSignal) => {
      clearTimeout(watchdog);
      signal?.removeEventListener('abort', onAbort);
      log.end();
      if (failure !== undefined) {
        reject(failure);
        return;
      }
      if (code === K6_THRESHOLDS_FAILED && options.thresholdsAreMeasurements !== true) {
        reject(
          new PlatformError(
            `k6 against ${targetUrl} exited 99 (thresholds failed), but the benchmark sets no thresholds; last lines of its stderr:\n${lastLines(stderr, STDERR_TAIL_LINES)}`,
            `remove the thresholds from ${script}, or read ${logFile}`,
          ),
        );
        return;
      }
      if (code !== 0 && code !== K6_THRESHOLDS_FAILED) {
        reject(
          new PlatformError(
            `k6 against ${targetUrl} broke (exit code ${String(code)}, signal ${String(exitSignal)}); last lines of its stderr:\n${lastLines(stderr, STDERR_TAIL_LINES)}`,
            `read ${logFile}; run the scenario by hand with: TARGET_URL=${targetUrl} ${k6} run ${script}`,
          ),
        );
        return;
      }
      try {
        resolve(parseK6Summary(JSON.parse(readFileSync(rawSummaryPath, 'utf8')) as unknown, rawSummaryPath));
      } catch (error) {
        reject(
          error instanceof SummaryFormatError
            ? error
            : new PlatformError(
                `k6 against ${targetUrl} exited 0 but left no readable summary at ${rawSummaryPath}: ${error instanceof Error ? error.message : String(error)}`,
                `check that the scenario's handleSummary writes to SUMMARY_PATH; read ${logFile}`,
                { cause: error },
              ),
        );
      }
    });
  });
}

/** The k6 version line, e.g. "k6 v1.8.1 (go1.26.8, linux/amd64)". */
export function k6Version(k6: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(k6, ['version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.once('error', (error) =>
      reject(
        new PlatformError(`k6 could not start (${k6}): ${error.message}`, 'run scripts/bootstrap', { cause: error }),
      ),
    );
    child.once('close', () => resolve(out.split('\n')[0]?.trim() ?? ''));
  });
}
