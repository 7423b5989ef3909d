import { describe, expect, test } from 'vitest';

import { CLUSTER_ONLY, clusterOnlyReason, RELEASE_ONLY, releaseOnlyReason } from '../src/cluster-only.js';
import { EXTERNAL_METRICS } from '../src/external-metrics.js';
import { BUDGET_REMAINING_RECORD, EDGE_AVAILABILITY, errorRatioRecord, SLOS, sloSeries } from '../src/slo.js';

describe('the cluster-only list', () => {
  test('names only metrics from outside the app, each with a reason', () => {
    const external = new Set(EXTERNAL_METRICS.map((metric) => metric.name));
    for (const entry of [...CLUSTER_ONLY, ...RELEASE_ONLY]) {
      expect(entry.reason).not.toBe('');
      for (const metric of entry.metrics)
        expect(external.has(metric), `${metric} is not an external metric`).toBe(true);
    }
  });

  test('follows recorded series to what their rules read: the edge SLO is cluster-only, the app SLOs are not', () => {
    expect(clusterOnlyReason(`${sloSeries(EDGE_AVAILABILITY, errorRatioRecord('3d'))} / 0.001`)).toContain(
      'ingress-nginx',
    );
    for (const slo of SLOS.filter((candidate) => candidate.source === 'app'))
      expect(clusterOnlyReason(sloSeries(slo, errorRatioRecord('1d'))), slo.name).toBeUndefined();
    // Mixed sources (every SLO's budget): the app's part returns data locally.
    expect(clusterOnlyReason(`${BUDGET_REMAINING_RECORD}{service="erp-api"}`)).toBeUndefined();
    // the local release executor and the platform's argo-rollouts service export Argo's metrics: not cluster-only
    expect(clusterOnlyReason('max by (phase) (rollout_info{name="erp-api"} == 1)')).toBeUndefined();
    expect(releaseOnlyReason('max by (phase) (rollout_info{name="erp-api"} == 1)')).toContain('Argo Rollouts');
    expect(releaseOnlyReason('sum(rate(http_requests_total{job="erp-api"}[1m]))')).toBeUndefined();
    expect(clusterOnlyReason('sum(rate(http_requests_total{job="erp-api"}[1m]))')).toBeUndefined();
  });
});
