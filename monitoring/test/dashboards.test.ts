import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import { DASHBOARDS, DEPLOY_ANNOTATION } from '../src/dashboards/index.js';
import { TRACING_DATASOURCE_UID } from '../src/loki.js';
import { NOT_A_CACHE } from '../src/rules.js';
import { SLOS } from '../src/slo.js';
import { dashboardSchemaErrors } from './support/grafana-schema.js';
import { GENERATED } from './support/paths.js';

interface GeneratedPanel {
  readonly title?: string;
  readonly links?: readonly { readonly title?: string; readonly url?: string }[];
  readonly fieldConfig?: { readonly defaults?: { readonly thresholds?: { readonly steps?: readonly unknown[] } } };
  readonly targets?: readonly { readonly expr?: string }[];
}

const generated = DASHBOARDS.map(
  (dashboard) =>
    JSON.parse(readFileSync(join(GENERATED, 'dashboards', `${dashboard.uid}.json`), 'utf8')) as {
      uid: string;
      panels: GeneratedPanel[];
      templating: { list: { name: string; query?: unknown }[] };
      annotations: { list: { name: string; enable: boolean; target?: { expr?: string } }[] };
    },
);
const panels = generated.flatMap((dashboard) => dashboard.panels.map((panel) => ({ uid: dashboard.uid, panel })));

describe('dashboards', () => {
  test("the latency and error panels link their time range to the traces in Jaeger, through Grafana's Explore", () => {
    const overview = panels.filter(({ uid }) => uid === 'erp-api-overview').map(({ panel }) => panel);
    const searchOf = (title: string): unknown => {
      const url = overview.find((panel) => panel.title === title)?.links?.[0]?.url ?? '';
      expect(url.startsWith('/explore?schemaVersion=1&panes='), title).toBe(true);
      // Grafana replaces the tokens with the panel's range before it opens the link; they must survive encoding
      const panes = new URL(
        url.replace('${__from}', '1700000000000').replace('${__to}', '1700003600000'),
        'http://g',
      ).searchParams.get('panes');
      return JSON.parse(panes ?? '{}') as unknown;
    };
    const pane = (extra: Record<string, string>) => ({
      traces: {
        datasource: TRACING_DATASOURCE_UID,
        queries: [
          {
            refId: 'A',
            datasource: { type: 'jaeger', uid: TRACING_DATASOURCE_UID },
            queryType: 'search',
            service: 'erp-api',
            ...extra,
            limit: 20,
          },
        ],
        range: { from: '1700000000000', to: '1700003600000' },
      },
    });
    expect(searchOf('p99 latency by route')).toEqual(pane({ minDuration: '500ms' }));
    expect(searchOf('Server error ratio by route')).toEqual(pane({ tags: 'http.response.status_code=500' }));
  });

  test('every dashboard lets the viewer pick the namespace and the instance, and every app query honours both', () => {
    for (const dashboard of generated)
      expect(dashboard.templating.list.map((variable) => variable.name)).toEqual(
        expect.arrayContaining(['datasource', 'namespace', 'instance']),
      );
    const unscoped = panels.flatMap(({ uid, panel }) =>
      (panel.targets ?? [])
        .map((target) => target.expr ?? '')
        .filter((expr) => expr.includes('job="erp-api"') && !expr.includes('namespace=~"$namespace"'))
        .map((expr) => `${uid} / ${panel.title ?? '?'}: ${expr}`),
    );
    expect(unscoped).toEqual([]);
  });

  test('every dashboard shows deploys from the Rollout phase Argo Rollouts exports, in the picked namespaces', () => {
    for (const dashboard of generated) {
      const deploys = dashboard.annotations.list.find((annotation) => annotation.name === 'Deploys');
      expect(deploys?.enable, dashboard.uid).toBe(true);
      expect(deploys?.target?.expr, dashboard.uid).toBe(DEPLOY_ANNOTATION.expr);
    }
    expect(DEPLOY_ANNOTATION.expr).toContain('exported_namespace=~"$namespace"');
  });

  test('each SLO has a burn-rate panel with the alert thresholds drawn', () => {
    for (const slo of SLOS) {
      const panel = panels.find(({ panel: p }) => p.title === `SLO ${slo.name}: burn rate`)?.panel;
      expect(panel, slo.name).toBeDefined();
      expect(panel?.fieldConfig?.defaults?.thresholds?.steps?.length).toBe(3);
    }
  });

  test('the budget and error-ratio panels carry thresholds', () => {
    for (const title of ['Error budget left (30 days)', 'Server error ratio by route']) {
      const panel = panels.find(({ panel: p }) => p.title === title)?.panel;
      expect(panel?.fieldConfig?.defaults?.thresholds?.steps?.length, title).toBeGreaterThan(1);
    }
  });

  test('the cache hit ratio leaves out what is not a cache (the revocation list)', () => {
    const panel = panels.find(({ panel: p }) => p.title?.toLowerCase().includes('hit ratio') === true)?.panel;
    for (const target of panel?.targets ?? []) expect(target.expr).toContain(`cache!~"${NOT_A_CACHE.join('|')}"`);
    expect(panel?.targets?.length).toBeGreaterThan(0);
  });

  test('every generated dashboard is a valid @grafana/schema Dashboard, and the check rejects an unknown panel field or a wrong type', () => {
    const files = Object.fromEntries(
      DASHBOARDS.map((dashboard) => [
        `${dashboard.uid}.json`,
        JSON.parse(readFileSync(join(GENERATED, 'dashboards', `${dashboard.uid}.json`), 'utf8')) as unknown,
      ]),
    );
    const first = generated[0];
    expect(first).toBeDefined();
    const [panel, ...rest] = first?.panels ?? [];
    const broken = {
      'unknown panel field': { ...first, panels: [{ ...panel, targetz: [] }, ...rest] },
      'wrong field type': { ...first, panels: [{ ...panel, gridPos: { h: '8', w: 12, x: 0, y: 0 } }, ...rest] },
    };
    const errors = dashboardSchemaErrors({ ...files, ...broken });
    expect(
      errors.filter((error) => !error.startsWith('unknown panel field') && !error.startsWith('wrong field type')),
    ).toEqual([]);
    expect(errors.some((error) => error.startsWith('unknown panel field') && error.includes('targetz'))).toBe(true);
    expect(
      errors.some(
        (error) =>
          error.startsWith('wrong field type') && error.includes("'string' is not assignable to type 'number'"),
      ),
    ).toBe(true);
  }, 60_000);
});
