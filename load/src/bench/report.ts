import type { RunMetrics } from './k6-summary.js';
import { median } from './stats.js';

export type TargetName = 'app' | 'bare';

/** One k6 run against one target, with the target's largest RSS while it ran. */
export interface RunRecord {
  readonly target: TargetName;
  /** 1-based, in the order the runs of this target happened. */
  readonly run: number;
  readonly startedAt: string;
  readonly metrics: RunMetrics;
  readonly maxRssMb: number | undefined;
}

/** What the table shows for one target: medians over its runs, errors over all of them. */
export interface TargetSummary {
  readonly target: TargetName;
  readonly runs: number;
  readonly medianRps: number;
  readonly medianP50Ms: number;
  readonly medianP99Ms: number;
  /** Failed requests / all checked requests, summed over the runs. */
  readonly errorRate: number;
  readonly maxRssMb: number | undefined;
}

export function summarise(target: TargetName, records: readonly RunRecord[]): TargetSummary {
  const own = records.filter((record) => record.target === target);
  const metrics = own.map((record) => record.metrics);
  const failed = metrics.reduce((sum, m) => sum + m.failed, 0);
  const checked = metrics.reduce((sum, m) => sum + m.checked, 0);
  const rss = own.flatMap((record) => (record.maxRssMb === undefined ? [] : [record.maxRssMb]));
  return {
    target,
    runs: own.length,
    medianRps: median(metrics.map((m) => m.rps)),
    medianP50Ms: median(metrics.map((m) => m.p50Ms)),
    medianP99Ms: median(metrics.map((m) => m.p99Ms)),
    errorRate: checked === 0 ? 0 : failed / checked,
    maxRssMb: rss.length === 0 ? undefined : Math.max(...rss),
  };
}

/** How far the app is from the bare server: below 1 for throughput and above 1 for latency mean slower. */
export interface Ratio {
  readonly rps: number;
  readonly p99: number;
}

export function appToBare(app: TargetSummary, bare: TargetSummary): Ratio {
  return { rps: app.medianRps / bare.medianRps, p99: app.medianP99Ms / bare.medianP99Ms };
}

const COLUMNS = ['target', 'runs', 'median RPS', 'median p50 ms', 'median p99 ms', 'error rate', 'max app RSS MB'];

/** The comparison table: target left-aligned, numbers right-aligned, two spaces between columns. */
export function formatTable(summaries: readonly TargetSummary[]): string {
  const rows = summaries.map((s) => [
    s.target,
    String(s.runs),
    s.medianRps.toFixed(0),
    s.medianP50Ms.toFixed(2),
    s.medianP99Ms.toFixed(2),
    `${(s.errorRate * 100).toFixed(2)} %`,
    // only the app's memory is sampled for the table; the bare server is the throughput reference
    s.target === 'app' && s.maxRssMb !== undefined ? s.maxRssMb.toFixed(1) : '-',
  ]);
  const widths = COLUMNS.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatRatio(ratio: Ratio): string {
  return `app/bare: median RPS ${ratio.rps.toFixed(2)}x, median p99 ${ratio.p99.toFixed(2)}x`;
}
