import { SERVICE } from '../config.js';
import { GROUPS } from './common.js';
import type { AlertDefinition, TestSeries } from '../rules.js';

/** How long after a canary analysis failed its alert stays firing. */
const CANARY_FAILURE_NEWS = '15m';

/** Alerts of the group: Delivery: the canary analysis of Argo Rollouts. */

const analysisRun = (phase: string, values: string): TestSeries => ({
  series: `analysis_run_info{job="argo-rollouts-metrics",namespace="erp",name="erp-api-7f9c6d5b8-3",phase="${phase}"}`,
  values,
});

const failedRunDescription = (name: string, namespace: string, phase: string): string =>
  `AnalysisRun ${name} in namespace ${namespace} ended ${phase}: Argo Rollouts aborted the canary and sent all traffic back to the stable version.`;

/** The alert the tests expect at `at` of the analysis run of {@link analysisRun} that failed. */
const failedRunFiring = (at: string) => ({
  at,
  alerts: [
    {
      labels: { namespace: 'erp', name: 'erp-api-7f9c6d5b8-3', phase: 'Failed' },
      description: failedRunDescription('erp-api-7f9c6d5b8-3', 'erp', 'Failed'),
    },
  ],
});

export const canaryAnalysisFailed: AlertDefinition = {
  name: 'CanaryAnalysisFailed',
  group: GROUPS.delivery,
  rules: [
    {
      // The AnalysisRun object and its series outlive the failure; only the first 15 minutes are news.
      expr:
        `max by (namespace, name, phase) (analysis_run_info{name=~"${SERVICE}-.*",phase=~"Failed|Error"}) > 0` +
        ` unless max by (namespace, name, phase) (analysis_run_info{name=~"${SERVICE}-.*",phase=~"Failed|Error"} offset ${CANARY_FAILURE_NEWS}) > 0`,
      severity: 'warning',
      summary: 'A canary analysis failed and the release was rolled back',
      description: failedRunDescription('{{ $labels.name }}', '{{ $labels.namespace }}', '{{ $labels.phase }}'),
    },
  ],
  tests: [
    {
      name: 'an analysis run fails',
      series: [analysisRun('Running', '1 1 0x5'), analysisRun('Failed', '0 0 1x5')],
      checks: [failedRunFiring('3m')],
    },
    {
      name: 'the failed run is kept for history: the alert resolves after 15 minutes',
      series: [analysisRun('Running', '1 1 0x40'), analysisRun('Failed', '0 0 1x40')],
      checks: [failedRunFiring('10m'), { at: '20m', alerts: [] }, { at: '40m', alerts: [] }],
    },
    {
      name: 'an analysis run succeeds',
      series: [analysisRun('Running', '1 1 0x5'), analysisRun('Successful', '0 0 1x5')],
      checks: [{ at: '3m', alerts: [] }],
    },
  ],
};
