import { SERVICE } from '../config.js';
import { DASHBOARD_SELECTOR as APP, RATE_WINDOW as W } from './common.js';
import type { DashboardSpec } from './common.js';

/** Stable and canary pods differ by this label (the pod's rollouts-pod-template-hash). */
const VERSION = 'rollouts_pod_template_hash';
const requests = `http_requests_total{${APP}}`;

export const release: DashboardSpec = {
  uid: 'erp-api-release',
  title: 'erp-api / Release',
  description:
    'A canary next to the stable version: error ratio, p99 latency and traffic share per pod template hash, and the Argo Rollouts analysis results.',
  rows: [
    {
      title: 'Stable and canary',
      panels: [
        {
          title: 'Server error ratio by version',
          description: `Share of 5xx answers per pod template hash; during a canary one hash is stable, the other the canary. The analysis fails the canary below 99.9% good.`,
          unit: 'percentunit',
          min: 0,
          queries: [
            {
              expr: `(sum by (${VERSION}) (rate(http_requests_total{${APP},status=~"5.."}[${W}])) or 0 * sum by (${VERSION}) (rate(${requests}[${W}]))) / sum by (${VERSION}) (rate(${requests}[${W}]))`,
              legend: '{{' + VERSION + '}}',
            },
          ],
        },
        {
          title: 'p99 latency by version',
          description: '99th percentile response time per pod template hash.',
          unit: 's',
          queries: [
            {
              expr: `histogram_quantile(0.99, sum by (le, ${VERSION}) (rate(http_request_duration_seconds_bucket{${APP}}[${W}])))`,
              legend: '{{' + VERSION + '}}',
            },
          ],
        },
        {
          title: 'Canary weight (traffic share by version)',
          description:
            'Share of requests each pod template hash answered: the weight the canary actually gets, as the ingress splits traffic.',
          unit: 'percentunit',
          max: 1,
          stacked: true,
          queries: [
            {
              expr: `sum by (${VERSION}) (rate(${requests}[${W}])) / scalar(sum(rate(${requests}[${W}])))`,
              legend: '{{' + VERSION + '}}',
            },
          ],
        },
        {
          title: 'Current canary weight',
          description:
            'Traffic share of the hash with the smallest share right now: the canary while a rollout runs, 100% when one version serves all.',
          unit: 'percentunit',
          kind: 'stat',
          max: 1,
          queries: [
            {
              expr: `min(sum by (${VERSION}) (rate(${requests}[${W}])) / scalar(sum(rate(${requests}[${W}]))))`,
              legend: 'canary',
            },
          ],
        },
      ],
    },
    {
      title: 'Argo Rollouts',
      panels: [
        {
          title: 'Analysis results',
          description: 'Phase of each metric of each AnalysisRun of erp-api (Successful, Failed, Error, Inconclusive).',
          unit: 'short',
          queries: [
            {
              expr: `max by (name, metric, phase) (analysis_run_metric_phase{name=~"${SERVICE}-.*"} == 1)`,
              legend: '{{name}} {{metric}}: {{phase}}',
            },
          ],
        },
        {
          title: 'Rollout phase',
          description:
            'Phase of the erp-api Rollout: Progressing during a canary, Paused between steps, Degraded after an abort.',
          unit: 'short',
          queries: [{ expr: `max by (phase) (rollout_info{name="${SERVICE}"} == 1)`, legend: '{{phase}}' }],
        },
      ],
    },
  ],
};
