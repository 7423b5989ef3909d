import type { InvoiceRunFindings } from './invoices.js';
import type { RunMetrics } from './metrics.js';
import { median } from './stats.js';

/** A row of the benchmark table: one measurement, the closed model once per target. */
export const BENCH_ROWS = [
  'cached-read',
  'orders',
  'logins',
  'closed-app',
  'closed-express',
  'closed-bare',
  'invoices',
  'soak',
] as const;
export type BenchRow = (typeof BENCH_ROWS)[number];

/** One run of one row, with the app's largest RSS while it ran (the reference server's on its closed row). */
export interface RunRecord {
  readonly row: BenchRow;
  /** 1-based, in the order the runs of this row happened. */
  readonly run: number;
  readonly startedAt: string;
  readonly metrics: RunMetrics;
  readonly maxRssMb: number | undefined;
  /** Soak only: RSS growth from its first fifth to its last (see rss.ts rssGrowth), 0.05 is 5 %. */
  readonly rssGrowth?: number | undefined;
  /** Invoices only: the bulk, the latency measurement and the CPU per invoice (see invoices.ts). */
  readonly invoices?: InvoiceRunFindings | undefined;
}

/** What the table shows for one row: medians over its runs, errors and drops over all of them. */
export interface RowSummary {
  readonly row: BenchRow;
  readonly runs: number;
  readonly medianRps: number;
  readonly medianP50Ms: number;
  readonly medianP99Ms: number;
  /** Failed requests / all checked requests, summed over the runs. */
  readonly errorRate: number;
  readonly failed: number;
  /** Requests the open model asked for and the generator did not send, over all runs. */
  readonly unsent: number;
  /** Median CPU of the load generator (this process and Vegeta), in % of one core. */
  readonly generatorCpuPercent: number;
  /** Median of the runs' lengths, in seconds. */
  readonly seconds: number;
  readonly maxRssMb: number | undefined;
  readonly rssGrowth: number | undefined;
}

export function summarise(row: BenchRow, records: readonly RunRecord[]): RowSummary | undefined {
  const own = records.filter((record) => record.row === row);
  if (own.length === 0) return undefined;
  const metrics = own.map((record) => record.metrics);
  const failed = metrics.reduce((sum, m) => sum + m.failed, 0);
  const checked = metrics.reduce((sum, m) => sum + m.checked, 0);
  const rss = own.flatMap((record) => (record.maxRssMb === undefined ? [] : [record.maxRssMb]));
  const growth = own.flatMap((record) => (record.rssGrowth === undefined ? [] : [record.rssGrowth]));
  return {
    row,
    runs: own.length,
    medianRps: median(metrics.map((m) => m.rps)),
    medianP50Ms: median(metrics.map((m) => m.p50Ms)),
    medianP99Ms: median(metrics.map((m) => m.p99Ms)),
    errorRate: checked === 0 ? 0 : failed / checked,
    failed,
    unsent: metrics.reduce((sum, m) => sum + m.unsent, 0),
    generatorCpuPercent: median(metrics.map((m) => m.generatorCpuPercent)),
    seconds: median(metrics.map((m) => m.testRunDurationMs / 1000)),
    maxRssMb: rss.length === 0 ? undefined : Math.max(...rss),
    rssGrowth: growth.length === 0 ? undefined : Math.max(...growth),
  };
}

/** One condition of a target: a name a person reads and whether the measured value meets it. */
export interface Condition {
  readonly name: string;
  readonly met: boolean;
  /** The measured value, as shown in a miss. */
  readonly measured: string;
}

export interface Judgement {
  readonly row: BenchRow;
  readonly target: string;
  readonly conditions: readonly Condition[];
  readonly pass: boolean;
}

/** The targets: rates, run lengths and limits each row is judged by. */
export const TARGETS = {
  cachedRead: { rps: 1500, seconds: 60, p99Ms: 50, rssMb: 250 },
  orders: { rps: 200, p99Ms: 150 },
  logins: { rps: 50, p99Ms: 300 },
  /** Invoice PDFs stored per second by 2 workers, and enqueue → PDF stored p99 at half that rate. */
  invoices: { rps: 100, p99Ms: 2000 },
  /** The app's closed-model throughput on the cached read, as a share of the Express 5 one-route server's. */
  appToExpressRps: 0.6,
  soakRssGrowth: 0.05,
  /** The generator's CPU per 1000 requests per second, in % of one core: CPU the targets need on a small machine. */
  generatorCpuPer1000Rps: 25,
} as const;
/** An open model's achieved rate trails its target by its first second of ramp-up and the last iterations' drain. */
const RATE_SLACK = 0.98;

const ms = (value: number): string => `${value.toFixed(1)} ms`;
const percent = (value: number): string => `${(value * 100).toFixed(2)} %`;
const perSecond = (value: number): string => `${value.toFixed(0)}/s`;

function heldRate(summary: RowSummary, rps: number): Condition {
  return { name: `≥ ${rps}/s`, met: summary.medianRps >= rps * RATE_SLACK, measured: perSecond(summary.medianRps) };
}

function p99Under(summary: RowSummary, limitMs: number): Condition {
  return { name: `p99 < ${limitMs} ms`, met: summary.medianP99Ms < limitMs, measured: ms(summary.medianP99Ms) };
}

function judgement(row: BenchRow, conditions: Condition[]): Judgement {
  return {
    row,
    target: conditions.map((condition) => condition.name).join(', '),
    conditions,
    pass: conditions.every((condition) => condition.met),
  };
}

function generatorCpu(summary: RowSummary, rps: number): Condition {
  const limit = (TARGETS.generatorCpuPer1000Rps * rps) / 1000;
  return {
    name: `generator ≤ ${limit.toFixed(limit < 10 ? 1 : 0)} % CPU`,
    met: summary.generatorCpuPercent <= limit,
    measured: `${summary.generatorCpuPercent.toFixed(1)} % of one core`,
  };
}

/** The row's target with each condition met or missed; undefined for rows with no target of their own. */
export function judge(summary: RowSummary, express?: RowSummary): Judgement | undefined {
  switch (summary.row) {
    case 'cached-read': {
      const t = TARGETS.cachedRead;
      return judgement(summary.row, [
        heldRate(summary, t.rps),
        { name: `for ${t.seconds} s`, met: summary.seconds >= t.seconds, measured: `${summary.seconds.toFixed(0)} s` },
        p99Under(summary, t.p99Ms),
        { name: '0 failed', met: summary.failed === 0, measured: `${summary.failed} failed` },
        {
          name: `RSS < ${t.rssMb} MB`,
          met: summary.maxRssMb !== undefined && summary.maxRssMb < t.rssMb,
          measured: summary.maxRssMb === undefined ? 'not sampled' : `${summary.maxRssMb.toFixed(0)} MB`,
        },
        generatorCpu(summary, t.rps),
      ]);
    }
    case 'orders':
      return judgement(summary.row, [
        heldRate(summary, TARGETS.orders.rps),
        p99Under(summary, TARGETS.orders.p99Ms),
        { name: '0 errors', met: summary.failed === 0, measured: `${summary.failed} failed` },
      ]);
    case 'logins':
      return judgement(summary.row, [heldRate(summary, TARGETS.logins.rps), p99Under(summary, TARGETS.logins.p99Ms)]);
    case 'invoices': {
      const t = TARGETS.invoices;
      return judgement(summary.row, [
        {
          name: `≥ ${t.rps} invoices/s`,
          met: summary.medianRps >= t.rps,
          measured: `${summary.medianRps.toFixed(1)}/s`,
        },
        {
          name: `p99 < ${t.p99Ms / 1000} s at half`,
          met: summary.medianP99Ms < t.p99Ms,
          measured: ms(summary.medianP99Ms),
        },
        { name: '0 lost', met: summary.failed === 0, measured: `${summary.failed} refused or never stored` },
      ]);
    }
    case 'closed-app': {
      if (express === undefined) return undefined;
      const share = summary.medianRps / express.medianRps;
      return judgement(summary.row, [
        {
          name: `≥ ${TARGETS.appToExpressRps * 100} % of Express RPS`,
          met: share >= TARGETS.appToExpressRps,
          measured: `${(share * 100).toFixed(1)} % of Express`,
        },
      ]);
    }
    case 'soak':
      return judgement(summary.row, [
        {
          name: `RSS growth ≤ ${TARGETS.soakRssGrowth * 100} %`,
          met: summary.rssGrowth !== undefined && summary.rssGrowth <= TARGETS.soakRssGrowth,
          measured: summary.rssGrowth === undefined ? 'too few samples' : percent(summary.rssGrowth),
        },
      ]);
    case 'closed-express':
    case 'closed-bare':
      return undefined;
  }
}

/** How far the app is from a reference server on the closed cached read: below 1 for throughput means slower. */
export interface Ratio {
  readonly reference: BenchRow;
  readonly rps: number;
  readonly p99: number;
}

export function ratioOf(app: RowSummary, reference: RowSummary): Ratio {
  return {
    reference: reference.row,
    rps: app.medianRps / reference.medianRps,
    p99: app.medianP99Ms / reference.medianP99Ms,
  };
}

const COLUMNS = [
  'scenario',
  'runs',
  'RPS',
  'p50 ms',
  'p99 ms',
  'errors',
  'unsent',
  'gen CPU %',
  'RSS MB',
  'target',
  'result',
];

/** The benchmark table: text left-aligned, numbers right-aligned, two spaces between columns. */
export function formatTable(rows: readonly { summary: RowSummary; judgement: Judgement | undefined }[]): string {
  const cells = rows.map(({ summary: s, judgement: j }) => [
    s.row,
    String(s.runs),
    s.medianRps.toFixed(0),
    s.medianP50Ms.toFixed(2),
    s.medianP99Ms.toFixed(2),
    `${(s.errorRate * 100).toFixed(2)} %`,
    String(s.unsent),
    s.generatorCpuPercent.toFixed(1),
    s.maxRssMb === undefined ? '-' : s.maxRssMb.toFixed(1),
    j?.target ?? '-',
    j === undefined ? '-' : j.pass ? 'pass' : 'MISS',
  ]);
  const leftAligned = new Set([0, 9, 10]);
  const widths = COLUMNS.map((title, i) => Math.max(title.length, ...cells.map((row) => (row[i] ?? '').length)));
  const line = (values: readonly string[]): string =>
    values
      .map((cell, i) => (leftAligned.has(i) ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** One line per missed condition, e.g. "cached-read: p99 < 50 ms missed (61.2 ms)". */
export function formatMisses(judgements: readonly Judgement[]): string[] {
  return judgements.flatMap((j) =>
    j.conditions.filter((c) => !c.met).map((c) => `${j.row}: ${c.name} missed (${c.measured})`),
  );
}

export function formatRatio(ratio: Ratio): string {
  return `app/${ratio.reference.replace(/^closed-/, '')} (closed model, cached read): median RPS ${ratio.rps.toFixed(2)}x, median p99 ${ratio.p99.toFixed(2)}x`;
}
