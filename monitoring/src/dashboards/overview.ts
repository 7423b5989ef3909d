import { BUDGET_REMAINING_RECORD, BURN_RATE_WINDOWS, errorBudget, errorRatioRecord, SLOS, sloSeries } from '../slo.js';
import type { ServiceLevelObjective } from '../slo.js';
import type { PanelSpec } from './common.js';
import { DASHBOARD_SELECTOR as APP, RATE_WINDOW as W } from './common.js';
import type { DashboardSpec } from './common.js';

const requests = `http_requests_total{${APP}}`;

const pageBurnRate = Math.min(...BURN_RATE_WINDOWS.filter((w) => w.severity === 'critical').map((w) => w.burnRate));
const ticketBurnRate = Math.min(...BURN_RATE_WINDOWS.filter((w) => w.severity === 'warning').map((w) => w.burnRate));

/** One SLO's burn rate over the alert windows: 1 spends the budget exactly in 30 days; the lines are the alerts'. */
function burnRatePanel(slo: ServiceLevelObjective): PanelSpec {
  const windows = [...new Set(BURN_RATE_WINDOWS.flatMap((w) => [w.shortWindow, w.longWindow]))];
  return {
    title: `SLO ${slo.name}: burn rate`,
    description: `${slo.description}. Error ratio divided by the budget (${errorBudget(slo)}); ErrorBudgetBurn opens a ticket from ${ticketBurnRate} and pages from ${pageBurnRate} when a long and a short window agree.`,
    unit: 'short',
    width: 8,
    min: 0,
    thresholds: [
      { value: null, color: 'green' },
      { value: ticketBurnRate, color: 'orange' },
      { value: pageBurnRate, color: 'red' },
    ],
    queries: windows.map((window) => ({
      expr: `${sloSeries(slo, errorRatioRecord(window))} / ${errorBudget(slo)}`,
      legend: window,
    })),
  };
}
const errors = `http_requests_total{${APP},status=~"5.."}`;

export const overview: DashboardSpec = {
  uid: 'erp-api-overview',
  title: 'erp-api / Overview',
  description: 'Rate, errors and duration per route, load, instances and what is left of each SLO error budget.',
  rows: [
    {
      title: 'Service level',
      panels: [
        {
          title: 'Error budget left (30 days)',
          description:
            'Share of each SLO 30-day error budget not yet spent; 0% or below means the SLO is missed. From the slo:error_budget_remaining:ratio recording rule.',
          unit: 'percentunit',
          kind: 'stat',
          width: 12,
          max: 1,
          thresholds: [
            { value: null, color: 'red' },
            { value: 0, color: 'orange' },
            { value: 0.25, color: 'green' },
          ],
          queries: [{ expr: `${BUDGET_REMAINING_RECORD}{service="erp-api"}`, legend: '{{slo}}' }],
        },
        {
          title: 'Instances up',
          description:
            'erp-api instances Prometheus scraped successfully on its last try. Fewer than the replica count: see InstanceDown.',
          unit: 'short',
          kind: 'stat',
          queries: [{ expr: `sum(up{${APP}})`, legend: 'up' }],
        },
        {
          title: 'Requests in flight',
          description: 'Requests being served right now, over all instances; a rising plateau means requests pile up.',
          unit: 'short',
          kind: 'stat',
          queries: [{ expr: `sum(http_requests_in_flight{${APP}})`, legend: 'in flight' }],
        },
      ],
    },
    { title: 'Burn rate per SLO', panels: SLOS.map(burnRatePanel) },
    {
      title: 'Rate, errors, duration per route',
      panels: [
        {
          title: 'Requests per second by route',
          description: 'Requests answered per second, by matched route pattern (unmatched: no route matched).',
          unit: 'reqps',
          stacked: true,
          queries: [{ expr: `sum by (route) (rate(${requests}[${W}]))`, legend: '{{route}}' }],
        },
        {
          title: 'Requests per second by status',
          description: 'Requests answered per second, by HTTP status code.',
          unit: 'reqps',
          stacked: true,
          queries: [{ expr: `sum by (status) (rate(${requests}[${W}]))`, legend: '{{status}}' }],
        },
        {
          title: 'Server error ratio by route',
          description:
            'Share of requests answered with a 5xx, by route. The availability SLO allows 0.1% over 30 days; HighErrorRate pages above 5%. The panel link lists the traces of requests answered 500 in the time range.',
          unit: 'percentunit',
          min: 0,
          traces: { tags: 'http.response.status_code=500' },
          thresholds: [
            { value: null, color: 'green' },
            { value: 0.001, color: 'orange' },
            { value: 0.05, color: 'red' },
          ],
          queries: [
            {
              expr: `(sum by (route) (rate(${errors}[${W}])) or 0 * sum by (route) (rate(${requests}[${W}]))) / sum by (route) (rate(${requests}[${W}]))`,
              legend: '{{route}}',
            },
          ],
        },
        {
          title: 'p99 latency by route',
          description:
            '99th percentile of response time, by route, interpolated within histogram buckets. HighLatencyP99 warns above 1 s. The panel link lists the traces over 500 ms of the time range.',
          unit: 's',
          traces: { minDuration: '500ms' },
          queries: [
            {
              expr: `histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{${APP}}[${W}])))`,
              legend: '{{route}}',
            },
          ],
        },
        {
          title: 'Latency percentiles',
          description: 'Median, 95th and 99th percentile response time over all routes.',
          unit: 's',
          queries: [0.5, 0.95, 0.99].map((quantile) => ({
            expr: `histogram_quantile(${quantile}, sum by (le) (rate(http_request_duration_seconds_bucket{${APP}}[${W}])))`,
            legend: `p${quantile * 100}`,
          })),
        },
        {
          title: 'Requests under 500 ms',
          description: 'Share of requests answered in under 500 ms, the latency SLO (99% over 30 days).',
          unit: 'percentunit',
          max: 1,
          queries: [
            {
              expr: `sum(rate(http_request_duration_seconds_bucket{${APP},le="0.5"}[${W}])) / sum(rate(http_request_duration_seconds_count{${APP}}[${W}]))`,
              legend: 'under 500 ms',
            },
          ],
        },
      ],
    },
    {
      title: 'Process',
      panels: [
        {
          title: 'Event loop lag p99 by instance',
          description: 'How late the Node.js event loop runs callbacks; above 100 ms every request waits.',
          unit: 's',
          queries: [{ expr: `nodejs_eventloop_lag_p99_seconds{${APP}}`, legend: '{{instance}}' }],
        },
        {
          title: 'Resident memory by instance',
          description: 'Memory each instance holds; compare with the container limit.',
          unit: 'bytes',
          queries: [{ expr: `process_resident_memory_bytes{${APP}}`, legend: '{{instance}}' }],
        },
      ],
    },
  ],
};
