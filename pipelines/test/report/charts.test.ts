import { describe, expect, test } from 'vitest';

import { formatValue, renderTimeSeriesChart } from '../../src/release/report/charts.js';

const now = Date.parse('2026-12-04T12:00:00Z');

describe('ECharts SVG charts', () => {
  test('draws one symbol per data point and none for a gap', () => {
    const svg = renderTimeSeriesChart({
      title: 'points',
      unit: 's',
      series: [
        {
          name: 'a',
          points: [
            [now - 30_000, 0.1],
            [now - 20_000, null],
            [now - 10_000, 0.2],
          ],
        },
      ],
      from: now - 60_000,
      to: now,
    });
    const symbols = [...svg.matchAll(/<path[^>]*ecmeta_ssr_type="chart"[^>]*>/g)].filter(
      (match) => !match[0].includes('ecmeta_silent') && match[0].includes('ecmeta_data_index'),
    );
    expect(symbols).toHaveLength(2);
  });

  test('a threshold of 0.1% sits halfway up a 0 to 0.2% axis (ECharts rounds marker values unless told not to)', () => {
    const height = 280;
    const svg = renderTimeSeriesChart({
      title: 'budget',
      unit: 'percentunit',
      min: 0,
      max: 0.002,
      height,
      series: [
        {
          name: 'a',
          points: [
            [now - 30_000, 0],
            [now - 10_000, 0],
          ],
        },
      ],
      from: now - 60_000,
      to: now,
      thresholds: [{ label: 'SLO budget', value: 0.001 }],
    });
    const line = /<path d="M[\d.]+ ([\d.]+)L[\d.]+ [\d.]+"[^>]*stroke-dasharray[^>]*ecmeta_silent="true"/.exec(svg);
    // The plot spans from the grid's top (40) to its bottom (height - 56).
    const middle = (40 + (height - 56)) / 2;
    expect(Math.abs(Number(line?.[1]) - middle)).toBeLessThan(2);
    expect(svg).toContain('SLO budget');
  });

  test('formats values in the dashboards’ units', () => {
    expect(formatValue(0.0012, 'percentunit')).toBe('0.12%');
    expect(formatValue(0.25, 's')).toBe('250 ms');
    expect(formatValue(2.5, 's')).toBe('2.5 s');
    expect(formatValue(3 * 1024 * 1024, 'bytes')).toBe('3 MiB');
    expect(formatValue(12.345, 'reqps')).toBe('12.3 req/s');
  });
});
