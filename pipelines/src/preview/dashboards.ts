import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { clusterOnlyReason, releaseOnlyReason } from '@slipway/monitoring/cluster-only';
import { GENERATED_DIR } from '@slipway/monitoring/generate';
import { EXIT, ReleaseError } from '../release/errors.js';
import { type ChartSeries, formatValue, pointCount, renderTimeSeriesChart } from '../release/report/charts.js';
import { escapeHtml, page, table } from '../release/report/html.js';
import { queryRange, scrapeIntervalSeconds } from '../release/report/prometheus.js';

/** The generated Grafana dashboards (monitoring/generated/dashboards). */
export const DASHBOARDS_DIR = join(GENERATED_DIR, 'dashboards');

/**
 * What a panel showed against this Prometheus; `no-release`: no data because its metrics exist locally only once a
 * release has run (monitoring/src/cluster-only.ts RELEASE_ONLY), unlike `cluster-only`, which never has data here.
 */
export type PanelStatus = 'data' | 'no-data' | 'no-release' | 'cluster-only' | 'error';

export interface TargetResult {
  readonly expr: string;
  /** The query as sent, variables substituted. */
  readonly query: string;
  readonly series: number;
  readonly points: number;
  readonly clusterOnly?: string;
  readonly releaseOnly?: string;
  readonly error?: string;
}

export interface PanelResult {
  readonly dashboard: string;
  readonly title: string;
  readonly status: PanelStatus;
  /** Why: the cluster-only reason, the empty queries, or Prometheus's error. */
  readonly detail: string;
  readonly targets: readonly TargetResult[];
}

export interface PreviewOptions {
  readonly prometheusUrl: string;
  /** How far back the charts reach, in seconds. */
  readonly rangeSeconds: number;
  readonly dashboardsDir?: string;
  readonly now?: Date;
  /** Called once per dashboard, for progress lines. */
  readonly onDashboard?: (title: string, panels: number) => void;
}

export interface Preview {
  readonly html: string;
  readonly panels: readonly PanelResult[];
}

interface GrafanaTarget {
  readonly expr?: string;
  readonly legendFormat?: string;
}
interface GrafanaPanel {
  readonly type: string;
  readonly title?: string;
  readonly description?: string;
  readonly targets?: readonly GrafanaTarget[];
  readonly fieldConfig?: {
    readonly defaults?: { readonly unit?: string; readonly min?: number; readonly max?: number };
  };
  readonly panels?: readonly GrafanaPanel[];
}
interface GrafanaVariable {
  readonly name: string;
  readonly type: string;
  readonly includeAll?: boolean;
  readonly allValue?: string | null;
  readonly current?: { readonly value?: string | readonly string[] } | null;
}
interface GrafanaDashboard {
  readonly uid: string;
  readonly title: string;
  readonly panels?: readonly GrafanaPanel[];
  readonly templating?: { readonly list?: readonly GrafanaVariable[] };
}

const POINTS_PER_SERIES = 120;

/** Reads every dashboard JSON in `dir`, in file name order. */
export function readDashboards(dir: string = DASHBOARDS_DIR): GrafanaDashboard[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((name) => name.endsWith('.json'));
  } catch (error) {
    throw new ReleaseError(`no dashboards folder at ${dir}`, 'run npm run generate -w monitoring', EXIT.usage, {
      cause: error,
    });
  }
  return files.sort().map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as GrafanaDashboard);
}

/**
 * The value a dashboard variable takes in the preview: `All` (its allValue, else `.*`) for multi-value query
 * variables, as a viewer who picked nothing sees it; otherwise its saved current value.
 */
function variableValues(dashboard: GrafanaDashboard): Map<string, string> {
  const values = new Map<string, string>();
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type === 'datasource') continue;
    if (variable.includeAll === true) values.set(variable.name, variable.allValue ?? '.*');
    else {
      const current = variable.current?.value;
      values.set(variable.name, Array.isArray(current) ? current.join('|') : String(current ?? ''));
    }
  }
  return values;
}

/** Grafana's substitution of `$name`, `${name}` and `[[name]]`, built-in interval variables included. */
export function substitute(expr: string, values: ReadonlyMap<string, string>): string {
  return expr.replace(/\$\{(\w+)\}|\[\[(\w+)\]\]|\$(\w+)/g, (whole, a?: string, b?: string, c?: string) => {
    const name = a ?? b ?? c ?? '';
    return values.get(name) ?? whole;
  });
}

/** Fills a legend format (`{{route}}`) from a series' labels. */
function legend(format: string | undefined, labels: Readonly<Record<string, string>>, fallback: string): string {
  if (format === undefined || format === '' || format === '__auto') return fallback;
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_whole, name: string) => labels[name] ?? '');
}

function panelsOf(dashboard: GrafanaDashboard): GrafanaPanel[] {
  return (dashboard.panels ?? []).flatMap((panel) => (panel.type === 'row' ? [...(panel.panels ?? [])] : [panel]));
}

/** Queries every panel of every generated dashboard over the last `rangeSeconds` and renders one page. */
export async function previewDashboards(options: PreviewOptions): Promise<Preview> {
  const now = (options.now ?? new Date()).getTime();
  const start = now - options.rangeSeconds * 1000;
  const step = Math.max(1, Math.ceil(options.rangeSeconds / POINTS_PER_SERIES));
  const scrape = await scrapeIntervalSeconds(options.prometheusUrl);
  // Grafana's $__rate_interval: at least four scrapes, and at least one step plus one scrape.
  const rateInterval = Math.max(step + scrape, 4 * scrape);
  const builtins: [string, string][] = [
    ['__rate_interval', `${rateInterval}s`],
    ['__interval', `${step}s`],
    ['__range', `${options.rangeSeconds}s`],
  ];

  const results: PanelResult[] = [];
  const sections: string[] = [];
  for (const dashboard of readDashboards(options.dashboardsDir)) {
    const values = new Map([...variableValues(dashboard), ...builtins]);
    const panels = panelsOf(dashboard);
    options.onDashboard?.(dashboard.title, panels.length);
    const figures: string[] = [];
    const listed: string[][] = [];
    for (const panel of panels) {
      const title = panel.title ?? '(untitled)';
      const targets: TargetResult[] = [];
      const series: ChartSeries[] = [];
      for (const target of panel.targets ?? []) {
        if (target.expr === undefined) continue;
        const query = substitute(target.expr, values);
        const clusterOnly = clusterOnlyReason(target.expr);
        const releaseOnly = releaseOnlyReason(target.expr);
        try {
          const found = await queryRange(options.prometheusUrl, { expr: query, start, end: now, stepSeconds: step });
          const drawn = found.map((one) => ({
            name: legend(target.legendFormat, one.labels, query.slice(0, 40)),
            points: one.points,
          }));
          series.push(...drawn);
          targets.push({
            expr: target.expr,
            query,
            series: found.length,
            points: pointCount(drawn),
            ...(clusterOnly === undefined ? {} : { clusterOnly }),
            ...(releaseOnly === undefined ? {} : { releaseOnly }),
          });
        } catch (error) {
          if (!(error instanceof ReleaseError) || error.exitCode === EXIT.missing) throw error;
          targets.push({ expr: target.expr, query, series: 0, points: 0, error: error.message });
        }
      }
      const result = judge(dashboard.title, title, targets);
      results.push(result);
      if (result.status === 'cluster-only' || result.status === 'no-release') {
        listed.push([
          escapeHtml(title),
          `<span class="${result.status}">${result.status}</span>`,
          escapeHtml(result.detail),
        ]);
        continue;
      }
      const defaults = panel.fieldConfig?.defaults ?? {};
      const unit = defaults.unit ?? 'short';
      const svg = renderTimeSeriesChart({
        title,
        unit,
        series,
        from: start,
        to: now,
        ...(defaults.min === undefined ? {} : { min: defaults.min }),
        ...(defaults.max === undefined || unit !== 'percentunit' ? {} : { max: defaults.max }),
        width: 620,
        height: 260,
      });
      const latest = series
        .map((one) => [one.name, one.points.findLast(([, value]) => value !== null)?.[1]] as const)
        .filter((entry): entry is readonly [string, number] => typeof entry[1] === 'number')
        .slice(0, 6)
        .map(([name, value]) => `${escapeHtml(name)}: ${escapeHtml(formatValue(value, unit))}`)
        .join(' · ');
      figures.push(
        `<figure class="chart" data-status="${result.status}" data-title="${escapeHtml(title)}">${svg}<figcaption><span class="${result.status}">${result.status}</span>${
          panel.type === 'stat' ? ` (stat panel; latest: ${latest === '' ? '—' : latest})` : ''
        } ${escapeHtml(result.detail)}<br>${targets.map((t) => `<code>${escapeHtml(t.query)}</code>`).join('<br>')}</figcaption></figure>`,
      );
    }
    sections.push(
      `<h2>${escapeHtml(dashboard.title)}</h2>\n<div class="charts">${figures.join('\n')}</div>${
        listed.length === 0
          ? ''
          : `\n<h3>Panels without data here: cluster-only, or until a release runs</h3>\n${table(['panel', 'status', 'why'], listed)}`
      }`,
    );
  }

  const count = (status: PanelStatus): number => results.filter((r) => r.status === status).length;
  const summary = table(
    ['dashboard', 'panel', 'status', 'detail'],
    results.map((r) => [
      escapeHtml(r.dashboard),
      escapeHtml(r.title),
      `<span class="${r.status}">${r.status}</span>`,
      escapeHtml(r.detail),
    ]),
  );
  const body = [
    '<h1>Dashboard preview</h1>',
    `<p>Every panel of the generated dashboards (monitoring/generated/dashboards) queried from ${escapeHtml(options.prometheusUrl)} over the last ${options.rangeSeconds} s, step ${step} s; <code>$__rate_interval</code> = ${rateInterval}s (scrape interval ${scrape} s); <code>$namespace</code> and <code>$instance</code> are All. ${results.length} panels: ${count('data')} with data, ${count('no-data')} without, ${count('error')} refused, ${count('no-release')} without data until a release runs, ${count('cluster-only')} cluster-only (monitoring/src/cluster-only.ts).</p>`,
    summary,
    ...sections,
  ].join('\n');
  return { html: page('Dashboard preview', body), panels: results };
}

function judge(dashboard: string, title: string, targets: readonly TargetResult[]): PanelResult {
  const base = { dashboard, title, targets };
  const failed = targets.filter((t) => t.error !== undefined);
  if (failed.length > 0) return { ...base, status: 'error', detail: failed.map((t) => t.error).join('; ') };
  const local = targets.filter((t) => t.clusterOnly === undefined);
  if (targets.length > 0 && local.length === 0)
    return { ...base, status: 'cluster-only', detail: [...new Set(targets.map((t) => t.clusterOnly))].join('; ') };
  const empty = local.filter((t) => t.points === 0);
  if (empty.length > 0 && empty.every((t) => t.releaseOnly !== undefined))
    return {
      ...base,
      status: 'no-release',
      detail: `no release has run on this platform: ${[...new Set(empty.map((t) => t.releaseOnly))].join('; ')}`,
    };
  if (local.length === 0 || empty.length > 0)
    return {
      ...base,
      status: 'no-data',
      detail: `no data from ${empty.length === 0 ? 'a panel without queries' : empty.map((t) => t.query).join(' ; ')}`,
    };
  const partly = targets.length - local.length;
  return {
    ...base,
    status: 'data',
    detail: partly === 0 ? '' : `${partly} of ${targets.length} queries are cluster-only`,
  };
}
