import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  AnnotationQueryBuilder,
  DashboardBuilder,
  DashboardLinkBuilder,
  DashboardLinkType,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableType,
} from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dashboard, Threshold } from '@grafana/grafana-foundation-sdk/dashboard';

import { APP_SELECTOR, SERVICE } from '../config.js';
import { TRACING_DATASOURCE_UID } from '../loki.js';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** The dashboard variable every panel and query reads its Prometheus data source from. */
export const DATASOURCE_VARIABLE = 'datasource';
const DATASOURCE = { type: 'prometheus', uid: `\${${DATASOURCE_VARIABLE}}` };

/** The variables that narrow every app query to one namespace (stack) and instance (pod), `All` by default. */
export const SCOPE_VARIABLES = ['namespace', 'instance'] as const;

/** Matchers of every app query on a dashboard: the job, then the namespace and instance the viewer picked. */
export const DASHBOARD_SELECTOR = [APP_SELECTOR, ...SCOPE_VARIABLES.map((name) => `${name}=~"$${name}"`)].join(',');

/**
 * Deploys drawn on every dashboard: a region while Argo Rollouts reports the erp-api Rollout Progressing (its
 * `rollout_info{namespace, name, strategy, traffic_router, phase}` gauge, controller/metrics/prommetrics.go). The chart's
 * ServiceMonitor keeps the controller's own namespace in `namespace`, so the Rollout's is `exported_namespace`.
 */
export const DEPLOY_ANNOTATION = {
  name: 'Deploys',
  expr: `max by (exported_namespace, name) (rollout_info{name="${SERVICE}",exported_namespace=~"$namespace",phase="Progressing"} == 1)`,
} as const;

export interface Query {
  readonly expr: string;
  readonly legend: string;
}

export interface PanelSpec {
  readonly title: string;
  /** Shown as the panel's (i) tooltip: what the numbers mean and what to do about them. */
  readonly description: string;
  /** A Grafana unit id: reqps, s, percentunit, bytes, short, ops… */
  readonly unit: string;
  readonly queries: readonly Query[];
  /** stat shows the latest value big; timeseries (default) shows history. */
  readonly kind?: 'timeseries' | 'stat';
  /** Width in grid columns (of 24); 12 unless set. */
  readonly width?: number;
  readonly min?: number;
  readonly max?: number;
  readonly stacked?: boolean;
  /** Colour steps, the first with `value: null` (the base); drawn as lines on time series. */
  readonly thresholds?: readonly Threshold[];
  /** A panel link to the traces of the panel's time range in Grafana Explore (Jaeger), narrowed by these. */
  readonly traces?: TraceSearch;
}

/** What a panel's trace link searches for, as Grafana's Jaeger data source takes it. */
export interface TraceSearch {
  /** Only traces at least this long, such as 500ms. */
  readonly minDuration?: string;
  /** Span attributes in logfmt, such as http.response.status_code=500. */
  readonly tags?: string;
}

/** Grafana fills these in a panel link with the panel's time range, in epoch milliseconds. */
const TIME_RANGE_TOKENS = { from: '${__from}', to: '${__to}' } as const;

/**
 * The Explore URL of a Jaeger search for erp-api over the panel's time range. Encoded like Grafana's own Explore links,
 * except the time-range tokens, which Grafana replaces in the link before it opens it.
 */
export function traceSearchUrl(search: TraceSearch): string {
  const pane = {
    datasource: TRACING_DATASOURCE_UID,
    queries: [
      {
        refId: 'A',
        datasource: { type: 'jaeger', uid: TRACING_DATASOURCE_UID },
        queryType: 'search',
        service: SERVICE,
        ...(search.minDuration === undefined ? {} : { minDuration: search.minDuration }),
        ...(search.tags === undefined ? {} : { tags: search.tags }),
        limit: 20,
      },
    ],
    range: { from: 'FROM_TOKEN', to: 'TO_TOKEN' },
  };
  const panes = encodeURIComponent(JSON.stringify({ traces: pane }))
    .replace('FROM_TOKEN', TIME_RANGE_TOKENS.from)
    .replace('TO_TOKEN', TIME_RANGE_TOKENS.to);
  return `/explore?schemaVersion=1&panes=${panes}&orgId=1`;
}

function traceLink(search: TraceSearch): DashboardLinkBuilder {
  return new DashboardLinkBuilder('Traces of this time range (Jaeger)')
    .type(DashboardLinkType.Link)
    .url(traceSearchUrl(search))
    .tooltip('Opens the erp-api traces of the time range in view, in Explore with the Jaeger data source')
    .targetBlank(true);
}

export interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

export interface DashboardSpec {
  /** Also the file name under generated/dashboards/ and the ConfigMap name. */
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly rows: readonly RowSpec[];
}

function target(query: Query, index: number): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder()
    .expr(query.expr)
    .legendFormat(query.legend)
    .refId(String.fromCharCode(65 + index))
    .datasource(DATASOURCE);
}

/** The builder calls every kind of panel takes alike. */
interface PanelHead<P> {
  title(title: string): P;
  description(description: string): P;
  unit(unit: string): P;
  datasource(datasource: typeof DATASOURCE): P;
  span(span: number): P;
  height(height: number): P;
}

/** A panel's title, description, unit and data source, and its size: `spec.width` or `width` columns, `height` rows. */
function panelHead<P extends PanelHead<P>>(panel: P, spec: PanelSpec, width: number, height: number): P {
  return panel
    .title(spec.title)
    .description(spec.description)
    .unit(spec.unit)
    .datasource(DATASOURCE)
    .span(spec.width ?? width)
    .height(height);
}

function timeseriesPanel(spec: PanelSpec): timeseries.PanelBuilder {
  const panel = panelHead(new timeseries.PanelBuilder(), spec, 12, 8)
    .lineWidth(1)
    .fillOpacity(spec.stacked === true ? 30 : 10)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Right)
        .calcs(['lastNotNull', 'max']),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending),
    )
    .targets(spec.queries.map(target));
  if (spec.stacked === true) panel.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  if (spec.thresholds !== undefined)
    panel
      .thresholds(thresholdsOf(spec.thresholds))
      .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed));
  if (spec.min !== undefined) panel.min(spec.min);
  if (spec.max !== undefined) panel.max(spec.max);
  if (spec.traces !== undefined) panel.links([traceLink(spec.traces)]);
  return panel;
}

function statPanel(spec: PanelSpec): stat.PanelBuilder {
  const panel = panelHead(new stat.PanelBuilder(), spec, 6, 5)
    .graphMode(common.BigValueGraphMode.Area)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .targets(spec.queries.map(target));
  if (spec.min !== undefined) panel.min(spec.min);
  if (spec.max !== undefined) panel.max(spec.max);
  if (spec.thresholds !== undefined) panel.thresholds(thresholdsOf(spec.thresholds));
  return panel;
}

function thresholdsOf(steps: readonly Threshold[]): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([...steps]);
}

/** Builds a dashboard with the Grafana Foundation SDK: a Prometheus data source variable, then rows of panels. */
export function buildDashboard(spec: DashboardSpec): object {
  // The classic JSON model: Grafana's sidecar provisions it as is; dashboard v2 needs the kubernetesDashboards flag.
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  const builder = new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags(['erp-api', 'slipway', 'generated'])
    .refresh('30s')
    .time({ from: 'now-3h', to: 'now' })
    .timezone('utc')
    .tooltip(DashboardCursorSync.Crosshair)
    .readonly()
    .annotation(
      new AnnotationQueryBuilder()
        .name(DEPLOY_ANNOTATION.name)
        .datasource(DATASOURCE)
        .enable(true)
        .iconColor('blue')
        .target(new prometheus.DataqueryBuilder().expr(DEPLOY_ANNOTATION.expr).refId('Anno').interval('60s')),
    )
    .withVariable(
      new DatasourceVariableBuilder(DATASOURCE_VARIABLE)
        .label('Prometheus')
        .description('The Prometheus every panel of this dashboard queries.')
        .type('prometheus'),
    );
  for (const name of SCOPE_VARIABLES)
    builder.withVariable(
      new QueryVariableBuilder(name)
        .label(name)
        .description(`Narrows every erp-api panel to one or more ${name}s; All by default.`)
        .datasource(DATASOURCE)
        .query(`label_values(up{${APP_SELECTOR}}, ${name})`)
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .multi(true)
        .includeAll(true)
        .allValue('.*'),
    );
  for (const row of spec.rows) {
    builder.withRow(new RowBuilder(row.title));
    for (const panel of row.panels)
      builder.withPanel(panel.kind === 'stat' ? statPanel(panel) : timeseriesPanel(panel));
  }
  return withoutIntervalFields(builder.build());
}

/** The SDK gives every variable the interval variable's auto fields, which no other variable type has. */
// eslint-disable-next-line @typescript-eslint/no-deprecated
function withoutIntervalFields(dashboard: Dashboard): object {
  const list = (dashboard.templating.list ?? []).map((variable) =>
    Object.fromEntries(
      Object.entries(variable).filter(
        ([key]) => variable.type === VariableType.Interval || !['auto', 'auto_min', 'auto_count'].includes(key),
      ),
    ),
  );
  return { ...dashboard, templating: { ...dashboard.templating, list } };
}

/** `$__rate_interval` lets Grafana pick a window of at least four scrapes at any zoom. */
export const RATE_WINDOW = '$__rate_interval';
