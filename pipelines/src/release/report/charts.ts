import * as echarts from 'echarts';

/**
 * Time-series charts rendered to SVG on the server by Apache ECharts (its SSR renderer): the release report and the
 * dashboard preview embed the SVG as is, so the pages need no script and load nothing.
 */

/** Grafana's unit ids the dashboards use; anything else is printed as a plain number. */
export type ChartUnit = 'percentunit' | 's' | 'reqps' | 'ops' | 'bytes' | 'short' | (string & {});

export interface ChartSeries {
  readonly name: string;
  readonly points: readonly (readonly [number, number | null])[];
}

/** A band on the time axis, such as one stage of a release at its weight. */
export interface ChartBand {
  readonly label: string;
  readonly from: number;
  readonly to: number;
}

export interface TimeSeriesChart {
  readonly title: string;
  readonly unit: ChartUnit;
  readonly series: readonly ChartSeries[];
  /** Epoch ms of the axis ends; the data's own range when absent. */
  readonly from?: number;
  readonly to?: number;
  readonly min?: number;
  readonly max?: number;
  /** Horizontal lines, such as an SLO threshold. */
  readonly thresholds?: readonly { readonly label: string; readonly value: number }[];
  readonly bands?: readonly ChartBand[];
  readonly width?: number;
  readonly height?: number;
}

/** A value in the chart's unit, for axis labels and tables. */
export function formatValue(value: number, unit: ChartUnit): string {
  if (!Number.isFinite(value)) return String(value);
  const short = (n: number): string => Number(n.toPrecision(3)).toString();
  switch (unit) {
    case 'percentunit':
      return `${short(value * 100)}%`;
    case 's':
      return Math.abs(value) < 1 && value !== 0 ? `${short(value * 1000)} ms` : `${short(value)} s`;
    case 'reqps':
      return `${short(value)} req/s`;
    case 'ops':
      return `${short(value)} ops/s`;
    case 'bytes': {
      const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let scaled = value;
      let index = 0;
      while (Math.abs(scaled) >= 1024 && index < units.length - 1) {
        scaled /= 1024;
        index += 1;
      }
      return `${short(scaled)} ${units[index] ?? 'B'}`;
    }
    default:
      return short(value);
  }
}

/** Points drawn in a chart: finite values of every series. */
export function pointCount(series: readonly ChartSeries[]): number {
  return series.reduce((sum, one) => sum + one.points.filter(([, value]) => value !== null).length, 0);
}

/** Renders one chart to a standalone SVG document fragment; every data point is drawn as a symbol. */
export function renderTimeSeriesChart(chart: TimeSeriesChart): string {
  const width = chart.width ?? 640;
  const height = chart.height ?? 280;
  const instance = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    const bands = (chart.bands ?? []).map((band) => [{ name: band.label, xAxis: band.from }, { xAxis: band.to }]);
    const thresholds = (chart.thresholds ?? []).map((threshold) => ({
      name: threshold.label,
      yAxis: threshold.value,
    }));
    instance.setOption({
      animation: false,
      useUTC: true,
      textStyle: { fontFamily: 'DejaVu Sans, sans-serif' },
      title: { text: chart.title, left: 8, top: 4, textStyle: { fontSize: 13, fontWeight: 'bold' } },
      legend: { bottom: 0, type: 'plain', textStyle: { fontSize: 11 } },
      grid: { left: 72, right: 24, top: 40, bottom: 56 },
      xAxis: {
        type: 'time',
        ...(chart.from === undefined ? {} : { min: chart.from }),
        ...(chart.to === undefined ? {} : { max: chart.to }),
        axisLabel: { hideOverlap: true, formatter: '{HH}:{mm}:{ss}', fontSize: 10 },
      },
      yAxis: {
        type: 'value',
        ...(chart.min === undefined ? {} : { min: chart.min }),
        ...(chart.max === undefined ? {} : { max: chart.max }),
        axisLabel: { formatter: (value: number) => formatValue(value, chart.unit), fontSize: 10 },
      },
      series: chart.series.map((one, index) => ({
        type: 'line',
        name: one.name,
        data: one.points.map(([at, value]) => [at, value]),
        showSymbol: true,
        showAllSymbol: true,
        symbolSize: 3,
        connectNulls: false,
        lineStyle: { width: 1.5 },
        ...(index === 0 && bands.length > 0
          ? {
              markArea: {
                silent: true,
                itemStyle: {
                  color: 'rgba(80, 120, 200, 0.06)',
                  borderColor: 'rgba(80, 120, 200, 0.4)',
                  borderWidth: 1,
                },
                label: { position: 'insideTop', fontSize: 10, color: '#345' },
                data: bands,
              },
            }
          : {}),
        ...(index === 0 && thresholds.length > 0
          ? {
              markLine: {
                silent: true,
                symbol: 'none',
                // ECharts rounds marker values to 2 decimals by default, which puts a 0.1% budget at 0.
                precision: 10,
                lineStyle: { type: 'dashed', color: '#c33' },
                label: { formatter: '{b}', fontSize: 10 },
                data: thresholds,
              },
            }
          : {}),
      })),
    });
    return instance.renderToSVGString();
  } finally {
    instance.dispose();
  }
}
