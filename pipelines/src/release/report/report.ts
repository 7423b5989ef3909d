import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { canaryMatchers, forCanary, SLO_ANALYSIS_QUERIES, versionLatencyQuantileQuery } from '@slipway/monitoring/slo';
import type { ReleaseRecord, StageRecord, VersionSeries } from '../release-record.js';
import { type ChartBand, type ChartUnit, pointCount, renderTimeSeriesChart } from './charts.js';
import { escapeHtml, page, table } from './html.js';
import { prometheusBaseUrl, queryRange } from './prometheus.js';

export interface ReportOptions {
  /** Overrides the record's `prometheusUrl`; without either the report has no charts and says so. */
  readonly prometheusUrl?: string;
  readonly outDir: string;
  /** The end of the charts' span for a release still running; now by default. */
  readonly now?: Date;
}

/** One chart of the report and what it drew. */
export interface ReportChart {
  readonly title: string;
  /** Per version (`canary`, `stable`), the points drawn. */
  readonly points: Readonly<Record<string, number>>;
}

export interface WrittenReport {
  readonly json: string;
  readonly html: string;
  readonly charts: readonly ReportChart[];
  /** Why there are no charts, when there are none. */
  readonly chartsOmitted?: string;
}

/** Margin drawn before the release starts and after it ends, so the charts show the stable baseline too. */
const MARGIN_MS = 60_000;
/** At most this many points per series: enough to see a stage, few enough for a light page. */
const MAX_POINTS = 240;

interface ChartDefinition {
  readonly title: string;
  readonly description: string;
  readonly unit: ChartUnit;
  readonly query: (version: VersionSeries) => string;
  readonly transform?: (value: number) => number;
  readonly threshold?: { readonly label: string; readonly value: number };
}

/** The canary-versus-stable charts: the SLO model's own queries, on each version's series. */
const CHARTS: readonly ChartDefinition[] = [
  {
    title: 'Server error ratio: canary vs stable',
    description:
      'Share of 5xx answers of each version: one minus the availability SLO query the gates run (monitoring/src/slo.ts), on each version’s series.',
    unit: 'percentunit',
    query: (v) => forCanary(SLO_ANALYSIS_QUERIES.availability, v.namespace, v.podTemplateHash),
    transform: (good) => 1 - good,
    threshold: { label: 'SLO budget', value: 1 - SLO_ANALYSIS_QUERIES.availability.threshold },
  },
  {
    title: 'p99 latency: canary vs stable',
    description: '99th percentile response time of each version, from the request duration histogram.',
    unit: 's',
    query: (v) => versionLatencyQuantileQuery(0.99, canaryMatchers(v.namespace, v.podTemplateHash)),
  },
];

const time = (iso: string | undefined): string => (iso === undefined ? '—' : escapeHtml(iso.replace('T', ' ')));
const code = (text: string): string => `<code>${escapeHtml(text)}</code>`;
const verdict = (word: string): string => `<span class="${escapeHtml(word)}">${escapeHtml(word)}</span>`;

function stageSeconds(stage: StageRecord): string {
  if (stage.finishedAt === undefined) return '—';
  return ((Date.parse(stage.finishedAt) - Date.parse(stage.startedAt)) / 1000).toFixed(1);
}

function stagesSection(record: ReleaseRecord): string {
  if (record.stages.length === 0) return '<p class="note">No stage ran.</p>';
  const stages = table(
    ['stage', 'weight', 'started', 'weight applied', 'finished', 'seconds', 'gates'],
    record.stages.map((stage) => [
      String(stage.index),
      `${stage.weight}%`,
      time(stage.startedAt),
      time(stage.weightAppliedAt),
      time(stage.finishedAt),
      stageSeconds(stage),
      stage.gates.length === 0
        ? '—'
        : stage.gates.map((gate) => `${escapeHtml(gate.name)}: ${verdict(gate.verdict)}`).join('<br>'),
    ]),
  );
  const gates = record.stages.flatMap((stage) =>
    stage.gates.map((gate) => [
      String(stage.index),
      `${escapeHtml(gate.kind)} ${escapeHtml(gate.name)}`,
      verdict(gate.verdict),
      Object.entries(gate.numbers)
        .map(([name, value]) => `${escapeHtml(name)} = ${escapeHtml(String(value))}`)
        .join('<br>'),
      escapeHtml(gate.detail),
      `${time(gate.startedAt)} → ${time(gate.finishedAt)}`,
    ]),
  );
  return `${stages}\n<h3>Gates</h3>\n${
    gates.length === 0
      ? '<p class="note">No gate ran.</p>'
      : table(['stage', 'gate', 'verdict', 'numbers', 'detail', 'ran'], gates)
  }`;
}

function evidenceSection(record: ReleaseRecord): string {
  const evidence = record.evidence;
  if (evidence === undefined)
    return '<p class="note">The record holds no evidence (the release stopped before verify).</p>';
  return table(
    ['what', 'value'],
    [
      ['image', code(evidence.image)],
      ['digest', code(evidence.digest)],
      ['signer identity', code(evidence.signerIdentity)],
      ['SBOM', `${escapeHtml(evidence.sbom.format)}, ${evidence.sbom.packages} packages`],
      ['scan', `${verdict(evidence.scan.verdict)}, ${evidence.scan.findings} findings`],
      [
        'scan exceptions',
        evidence.scan.exceptions.length === 0 ? 'none' : evidence.scan.exceptions.map(escapeHtml).join('<br>'),
      ],
    ],
  );
}

function timingsSection(record: ReleaseRecord): string {
  const t = record.timings;
  const row = (name: string, value: number | undefined, unit: string): string[] => [
    name,
    value === undefined ? '— (not reached)' : `${value} ${unit}`,
  ];
  return table(
    ['measure', 'value'],
    [
      row('deploy to promotion or rollback', t.totalSeconds, 's'),
      row('canary taking traffic to a failed verdict', t.failedVerdictAfterTrafficSeconds, 's'),
      row('failed verdict to all traffic on stable', t.rollbackSeconds, 's'),
      row('requests dropped while weights moved', t.droppedRequests, 'requests'),
    ],
  );
}

function versionsSection(record: ReleaseRecord): string {
  const rows = [['canary', record.canary] as const, ...(record.stable ? [['stable', record.stable] as const] : [])];
  return table(
    ['version', 'digest', 'namespace', 'rollouts_pod_template_hash'],
    rows.map(([name, v]) => [name, code(v.digest), escapeHtml(v.namespace), code(v.podTemplateHash)]),
  );
}

/** Where the charts span: a minute before the release to a minute after it ended (or now). */
function chartSpan(record: ReleaseRecord, now: Date): { start: number; end: number; stepSeconds: number } {
  const start = Date.parse(record.startedAt) - MARGIN_MS;
  const end = Math.min(Date.parse(record.finishedAt ?? now.toISOString()) + MARGIN_MS, now.getTime());
  const stepSeconds = Math.max(1, Math.ceil((end - start) / 1000 / MAX_POINTS));
  return { start, end: Math.max(end, start + 1000), stepSeconds };
}

function stageBands(record: ReleaseRecord, end: number): ChartBand[] {
  return record.stages.map((stage) => ({
    label: `${stage.weight}%`,
    from: Date.parse(stage.weightAppliedAt ?? stage.startedAt),
    to: stage.finishedAt === undefined ? end : Date.parse(stage.finishedAt),
  }));
}

async function chartsSection(
  record: ReleaseRecord,
  prometheusUrl: string,
  now: Date,
): Promise<{ html: string; charts: ReportChart[] }> {
  const span = chartSpan(record, now);
  const versions = [['canary', record.canary] as const, ...(record.stable ? [['stable', record.stable] as const] : [])];
  const figures: string[] = [];
  const charts: ReportChart[] = [];
  for (const definition of CHARTS) {
    const series = [];
    const points: Record<string, number> = {};
    const queries: string[] = [];
    for (const [name, version] of versions) {
      const expr = definition.query(version);
      queries.push(`${name}: ${expr}`);
      const result = await queryRange(prometheusUrl, { expr, ...span });
      const transform = definition.transform ?? ((value: number) => value);
      const drawn = {
        name: `${name} (${version.podTemplateHash})`,
        points: (result[0]?.points ?? []).map(([at, value]) => [at, value === null ? null : transform(value)] as const),
      };
      points[name] = pointCount([drawn]);
      series.push(drawn);
    }
    charts.push({ title: definition.title, points });
    const svg = renderTimeSeriesChart({
      title: definition.title,
      unit: definition.unit,
      series,
      from: span.start,
      to: span.end,
      min: 0,
      // A ratio axis reaches at least twice the threshold, so a flat zero line still shows how far off the budget is.
      ...(definition.threshold === undefined
        ? {}
        : {
            max: Math.max(
              definition.threshold.value * 2,
              ...series.flatMap((s) => s.points.map(([, v]) => (v ?? 0) * 1.2)),
            ),
          }),
      bands: stageBands(record, span.end),
      ...(definition.threshold === undefined ? {} : { thresholds: [definition.threshold] }),
    });
    const empty = Object.entries(points)
      .filter(([, count]) => count === 0)
      .map(([name]) => name);
    figures.push(
      `<figure class="chart" data-title="${escapeHtml(definition.title)}">${svg}<figcaption>${escapeHtml(definition.description)}${
        empty.length === 0 ? '' : ` <span class="no-data">No data for ${escapeHtml(empty.join(', '))}.</span>`
      }<br>step ${span.stepSeconds} s; queries:<br>${queries.map(code).join('<br>')}</figcaption></figure>`,
    );
  }
  return {
    html: `<p class="note">From ${escapeHtml(prometheusUrl)}, ${escapeHtml(new Date(span.start).toISOString())} to ${escapeHtml(new Date(span.end).toISOString())}; shaded bands are the stages at their weights.</p>\n<div class="charts">${figures.join('\n')}</div>`,
    charts,
  };
}

/**
 * Writes `<id>.json` (the record as given) and `<id>.html` (a self-contained page: stages, gates, charts, evidence,
 * timings) into `outDir`. Charts come from Prometheus range queries over the release's span.
 * @throws {ReleaseError} when the Prometheus given does not answer or refuses a query.
 */
export async function writeReleaseReport(record: ReleaseRecord, options: ReportOptions): Promise<WrittenReport> {
  const now = options.now ?? new Date();
  const rawUrl = options.prometheusUrl ?? record.prometheusUrl;
  const prometheusUrl =
    rawUrl === undefined
      ? undefined
      : prometheusBaseUrl(rawUrl, options.prometheusUrl === undefined ? 'the record’s prometheusUrl' : '--prometheus');
  const charts =
    prometheusUrl === undefined
      ? {
          html: '<p class="note">No charts: neither --prometheus nor the record’s prometheusUrl names a Prometheus.</p>',
          charts: [],
        }
      : await chartsSection(record, prometheusUrl, now);

  const title = `Release ${record.id}`;
  const body = [
    `<h1>${escapeHtml(title)}: ${verdict(record.outcome)}</h1>`,
    `<p>Plan ${code(record.plan)}, profile ${code(record.profile)}; ${time(record.startedAt)} → ${time(record.finishedAt)}.${
      record.reason === undefined ? '' : ` Reason: ${escapeHtml(record.reason)}`
    }</p>`,
    versionsSection(record),
    '<h2>Stages</h2>',
    stagesSection(record),
    '<h2>Canary vs stable</h2>',
    charts.html,
    '<h2>Evidence</h2>',
    evidenceSection(record),
    '<h2>Timings</h2>',
    timingsSection(record),
  ].join('\n');

  const outDir = resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  const json = join(outDir, `${record.id}.json`);
  const html = join(outDir, `${record.id}.html`);
  writeFileSync(json, `${JSON.stringify(record, null, 2)}\n`);
  writeFileSync(html, page(title, body));
  return {
    json,
    html,
    charts: charts.charts,
    ...(prometheusUrl === undefined ? { chartsOmitted: 'no Prometheus URL' } : {}),
  };
}
