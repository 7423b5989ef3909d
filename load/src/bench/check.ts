import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run bench` writes its results, and the committed baseline they are compared with. */
export const RESULTS_DIR = fileURLToPath(new URL('../../results/', import.meta.url));
export const BASELINE_FILE = fileURLToPath(new URL('../../baseline.json', import.meta.url));

/** More throughput lost than this share, or p99 grown by more than this share, is a regression. */
export const LIMITS = { throughputLoss: 0.15, p99Growth: 0.2 } as const;
/** Rows that are a reference for the machine, not the app: shown, never a regression. */
const REFERENCE_ROWS = new Set(['closed-express', 'closed-bare']);

export const EXIT_REGRESSED = 1;
export const EXIT_BAD_INPUT = 64;

/** A results file that is missing or lacks what the comparison reads; the message says which file and what. */
export class ResultsFileError extends Error {
  override readonly name = 'ResultsFileError';
}

/** The numbers of one scenario the comparison reads. */
export interface ScenarioNumbers {
  readonly rps: number;
  readonly p99Ms: number;
}

export type Results = ReadonlyMap<string, ScenarioNumbers>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a results file of `npm run bench` (or the baseline, the same format): scenarios.<name>.summary.medianRps
 * and .medianP99Ms of every scenario.
 * @throws {ResultsFileError} when the file is missing, not JSON, or a number is missing.
 */
export function readResults(path: string): Results {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ResultsFileError(
      `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}; run npm run bench first, or pass an existing results file`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ResultsFileError(`${path} is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const scenarios = isRecord(parsed) ? parsed.scenarios : undefined;
  if (!isRecord(scenarios) || Object.keys(scenarios).length === 0) {
    throw new ResultsFileError(
      `${path} has no "scenarios" object with at least one scenario; is it a results file of npm run bench?`,
    );
  }
  const results = new Map<string, ScenarioNumbers>();
  for (const [name, entry] of Object.entries(scenarios)) {
    const summary = isRecord(entry) ? entry.summary : undefined;
    const rps = isRecord(summary) ? summary.medianRps : undefined;
    const p99Ms = isRecord(summary) ? summary.medianP99Ms : undefined;
    if (typeof rps !== 'number' || !Number.isFinite(rps) || typeof p99Ms !== 'number' || !Number.isFinite(p99Ms)) {
      throw new ResultsFileError(
        `${path}: scenarios.${name}.summary needs numbers medianRps and medianP99Ms (found ${JSON.stringify(rps)} and ${JSON.stringify(p99Ms)})`,
      );
    }
    results.set(name, { rps, p99Ms });
  }
  return results;
}

/** The newest results file in `dir` (names are UTC timestamps, so the last in order is the newest). */
export function newestResults(dir = RESULTS_DIR): string {
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((name) => /^\d{8}T\d{6}Z\.json$/.test(name));
  } catch {
    // a missing folder is the same as an empty one
  }
  const newest = names.sort().at(-1);
  if (newest === undefined) {
    throw new ResultsFileError(`no results in ${dir}; run npm run bench first, or pass a results file`);
  }
  return join(dir, newest);
}

export type Verdict = 'ok' | 'REGRESSED' | 'reference' | 'not measured' | 'new';

export interface Delta {
  readonly scenario: string;
  readonly baseline: ScenarioNumbers | undefined;
  readonly current: ScenarioNumbers | undefined;
  /** current / baseline − 1: −0.2 is 20 % less throughput. */
  readonly rpsChange: number | undefined;
  /** current / baseline − 1: 0.3 is a p99 30 % higher. */
  readonly p99Change: number | undefined;
  readonly verdict: Verdict;
}

/** Scenario by scenario, in the baseline's order and then any new ones: the changes and the verdict. */
export function compare(current: Results, baseline: Results): Delta[] {
  const names = [...baseline.keys(), ...[...current.keys()].filter((name) => !baseline.has(name))];
  return names.map((scenario) => {
    const before = baseline.get(scenario);
    const after = current.get(scenario);
    if (before === undefined || after === undefined) {
      return {
        scenario,
        baseline: before,
        current: after,
        rpsChange: undefined,
        p99Change: undefined,
        verdict: before === undefined ? 'new' : 'not measured',
      };
    }
    const rpsChange = after.rps / before.rps - 1;
    const p99Change = after.p99Ms / before.p99Ms - 1;
    const regressed = -rpsChange > LIMITS.throughputLoss || p99Change > LIMITS.p99Growth;
    return {
      scenario,
      baseline: before,
      current: after,
      rpsChange,
      p99Change,
      verdict: REFERENCE_ROWS.has(scenario) ? 'reference' : regressed ? 'REGRESSED' : 'ok',
    };
  });
}

const signed = (change: number | undefined): string =>
  change === undefined ? '-' : `${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)} %`;

/** The table of deltas: scenario, RPS and p99 before and after, their changes, the verdict. */
export function formatDeltas(deltas: readonly Delta[]): string {
  const columns = ['scenario', 'base RPS', 'RPS', 'Δ RPS', 'base p99 ms', 'p99 ms', 'Δ p99', 'verdict'];
  const rows = deltas.map((d) => [
    d.scenario,
    d.baseline?.rps.toFixed(0) ?? '-',
    d.current?.rps.toFixed(0) ?? '-',
    signed(d.rpsChange),
    d.baseline?.p99Ms.toFixed(2) ?? '-',
    d.current?.p99Ms.toFixed(2) ?? '-',
    signed(d.p99Change),
    d.verdict,
  ]);
  const widths = columns.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === 0 || i === 7 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export interface CheckOutcome {
  readonly exitCode: number;
  readonly output: string;
}

/**
 * `npm run bench:check [results.json]`: the newest results (or the file given) against load/baseline.json.
 * Exit 0 when no scenario regressed, 1 with the table when one did, 64 on a missing or invalid file.
 */
export function benchCheck(
  args: readonly string[],
  options: { resultsDir?: string; baseline?: string; cwd?: string } = {},
): CheckOutcome {
  const baselinePath = options.baseline ?? BASELINE_FILE;
  let currentPath: string;
  let deltas: Delta[];
  try {
    if (args.length > 1)
      throw new ResultsFileError(`expected at most one results file, got ${args.length}: ${args.join(' ')}`);
    // npm runs the script in load/; a path is meant from where the person typed it (npm's INIT_CWD)
    currentPath =
      args[0] === undefined ? newestResults(options.resultsDir) : resolve(options.cwd ?? process.cwd(), args[0]);
    const current = readResults(currentPath);
    deltas = compare(current, readResults(baselinePath));
    if (!deltas.some((delta) => delta.rpsChange !== undefined)) {
      throw new ResultsFileError(
        `${currentPath} and ${baselinePath} share no scenario; measure the baseline's scenarios (BENCH_SCENARIOS)`,
      );
    }
  } catch (error) {
    if (!(error instanceof ResultsFileError)) throw error;
    return { exitCode: EXIT_BAD_INPUT, output: `error: ${error.message}\n` };
  }
  const regressed = deltas.filter((delta) => delta.verdict === 'REGRESSED').map((delta) => delta.scenario);
  const shown = (path: string): string => relative(options.cwd ?? process.cwd(), path) || path;
  const verdict =
    regressed.length === 0
      ? `no regression beyond ${LIMITS.throughputLoss * 100} % throughput or ${LIMITS.p99Growth * 100} % p99`
      : `REGRESSED: ${regressed.join(', ')} (more than ${LIMITS.throughputLoss * 100} % throughput lost or p99 up more than ${LIMITS.p99Growth * 100} %)`;
  return {
    exitCode: regressed.length === 0 ? 0 : EXIT_REGRESSED,
    output: `${shown(currentPath)} against ${shown(baselinePath)}\n\n${formatDeltas(deltas)}\n\n${verdict}\n`,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { exitCode, output } = benchCheck(process.argv.slice(2), { cwd: process.env.INIT_CWD ?? process.cwd() });
  (exitCode === EXIT_BAD_INPUT ? process.stderr : process.stdout).write(output);
  process.exit(exitCode);
}
