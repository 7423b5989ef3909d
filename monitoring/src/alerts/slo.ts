import { appSeries, edgeSeries } from '../fixtures.js';
import {
  BASE_WINDOW,
  BUDGET_REMAINING_RECORD,
  DERIVED_WINDOWS,
  BURN_RATE_WINDOWS,
  ERROR_RATIO_WINDOWS,
  MIN_REQUESTS_PER_SECOND,
  SLOS,
  decimal,
  errorBudget,
  errorRatioQuery,
  errorRatioRecord,
  requestRateQuery,
  sloLabels,
  sloSeries,
} from '../slo.js';
import { GROUPS, requests } from './common.js';
import type { AlertDefinition, AlertRuleDefinition, RecordingRule } from '../rules.js';
import type { ServiceLevelObjective } from '../slo.js';

/** Alerts of the group: SLOs: recording rules and burn-rate alerts. */

/** The mean of the SLO's 5m error ratio over `window`; it follows the 5m record in the same group. */
function derivedErrorRatio(slo: ServiceLevelObjective, window: string): string {
  const base = sloSeries(slo, errorRatioRecord(BASE_WINDOW));
  return `sum_over_time(${base}[${window}]) / count_over_time(${base}[${window}])`;
}

export function sloRecordingRules(slo: ServiceLevelObjective): RecordingRule[] {
  const labels = sloLabels(slo);
  return [
    ...ERROR_RATIO_WINDOWS.map((window) => ({
      record: errorRatioRecord(window),
      expr: DERIVED_WINDOWS.includes(window) ? derivedErrorRatio(slo, window) : errorRatioQuery(slo, window),
      labels,
    })),
    {
      record: BUDGET_REMAINING_RECORD,
      expr: `1 - ${sloSeries(slo, errorRatioRecord('30d'))} / ${errorBudget(slo)}`,
      labels,
    },
  ];
}

export const RECORDING_RULES: readonly RecordingRule[] = SLOS.flatMap(sloRecordingRules);

/** `1h` → `1 h`, as the alert text writes a window. */
const spaced = (window: string): string => window.replace(/^(\d+)/, '$1 ');

function burnRateRule(slo: ServiceLevelObjective, severity: 'critical' | 'warning'): AlertRuleDefinition {
  const pairs = BURN_RATE_WINDOWS.filter((window) => window.severity === severity);
  const expr = pairs
    .map((pair) => {
      const threshold = decimal(pair.burnRate * errorBudget(slo));
      // The traffic floor on the short window: a few failures among a trickle of requests is not an incident.
      return (
        `(${sloSeries(slo, errorRatioRecord(pair.longWindow))} > ${threshold}` +
        ` and ${sloSeries(slo, errorRatioRecord(pair.shortWindow))} > ${threshold}` +
        ` and on () ${requestRateQuery(slo, pair.shortWindow)} > ${MIN_REQUESTS_PER_SECOND})`
      );
    })
    .join(' or ');
  const page = severity === 'critical';
  const factors = pairs.map((pair) => pair.burnRate);
  return {
    expr,
    for: page ? '2m' : '15m',
    severity,
    labels: { slo: slo.name },
    summary: page ? 'An SLO is burning its error budget fast' : 'An SLO is burning its error budget steadily',
    // Built from the same windows and factors as the expression, so the text cannot drift from it.
    description:
      `SLO {{ $labels.slo }}: {{ $value | humanizePercentage }} of requests were bad over the last ${pairs.map((pair) => spaced(pair.longWindow)).join(' or ')},` +
      ` ${Math.min(...factors)} to ${Math.max(...factors)} times the rate its ${slo.windowDays}-day error budget allows;` +
      ` at this pace the budget is gone within ${decimal(slo.windowDays / Math.min(...factors))} days.`,
  };
}

const burnLabels = (slo: string, sli: string, group: string): Record<string, string> => ({
  slo,
  sli,
  route_group: group,
});

export const errorBudgetBurn: AlertDefinition = {
  name: 'ErrorBudgetBurn',
  group: GROUPS.burn,
  rules: SLOS.flatMap((slo) => [burnRateRule(slo, 'critical'), burnRateRule(slo, 'warning')]),
  tests: [
    {
      name: 'a steady 1% error rate against the 99.9% availability SLO pages (and opens a ticket)',
      series: [requests('200', '0+990x120'), requests('500', '0+10x120')],
      checks: [
        {
          at: '1h',
          alerts: [
            {
              severity: 'critical',
              labels: burnLabels('api-availability', 'availability', 'api'),
              description:
                'SLO api-availability: 1% of requests were bad over the last 1 h or 6 h, 6 to 14.4 times the rate its 30-day error budget allows; at this pace the budget is gone within 5 days.',
            },
            {
              severity: 'warning',
              labels: burnLabels('api-availability', 'availability', 'api'),
              description:
                'SLO api-availability: 1% of requests were bad over the last 1 d or 3 d, 1 to 3 times the rate its 30-day error budget allows; at this pace the budget is gone within 30 days.',
            },
          ],
        },
      ],
    },
    {
      name: 'a steady 5% error rate at 2 requests a second, above the traffic floor, pages and opens a ticket',
      // At 3 h the ticket's 2 h short window is full of the steady rate (rate() over a half-empty window reads low).
      series: [requests('200', '0+114x240'), requests('500', '0+6x240')],
      checks: [
        {
          at: '3h',
          alerts: [
            {
              severity: 'critical',
              labels: burnLabels('api-availability', 'availability', 'api'),
              description:
                'SLO api-availability: 5% of requests were bad over the last 1 h or 6 h, 6 to 14.4 times the rate its 30-day error budget allows; at this pace the budget is gone within 5 days.',
            },
            {
              severity: 'warning',
              labels: burnLabels('api-availability', 'availability', 'api'),
              description:
                'SLO api-availability: 5% of requests were bad over the last 1 d or 3 d, 1 to 3 times the rate its 30-day error budget allows; at this pace the budget is gone within 30 days.',
            },
          ],
        },
      ],
    },
    {
      name: 'the same 5% at 40 requests a minute (2 failures), below the traffic floor, neither pages nor opens a ticket',
      series: [requests('200', '0+38x240'), requests('500', '0+2x240')],
      checks: [
        { at: '1h', alerts: [] },
        { at: '3h', alerts: [] },
      ],
    },
    {
      name: 'a 5-minute blip of 5% errors after 6 quiet hours neither pages nor opens a ticket',
      // 1000 requests a minute; from minute 360 to 365 50 of them fail, then none again.
      series: [requests('200', '0+1000x360 360000+950x5 364750+1000x60'), requests('500', '0x360 0+50x5 250x60')],
      checks: [
        { at: '363m', alerts: [] },
        { at: '366m', alerts: [] },
        { at: '375m', alerts: [] },
        { at: '400m', alerts: [] },
      ],
    },
    {
      name: 'every pod unready: the ingress answers 503, the app counts nothing, the edge SLO pages',
      series: [{ series: edgeSeries('503'), values: '0+1000x30' }],
      checks: [
        {
          at: '10m',
          alerts: [
            {
              severity: 'critical',
              labels: burnLabels('edge-availability', 'availability', 'api'),
              description:
                'SLO edge-availability: 100% of requests were bad over the last 1 h or 6 h, 6 to 14.4 times the rate its 30-day error budget allows; at this pace the budget is gone within 5 days.',
            },
          ],
        },
      ],
    },
    {
      name: 'slow answers on the orders routes burn the orders latency budget, not availability',
      series: [
        {
          series: appSeries('http_request_duration_seconds_bucket', {
            method: 'GET',
            route: '/api/v1/orders/:id',
            status: '200',
            le: '0.5',
          }),
          values: '0+900x120',
        },
        {
          series: appSeries('http_request_duration_seconds_bucket', {
            method: 'GET',
            route: '/api/v1/orders/:id',
            status: '200',
            le: '+Inf',
          }),
          values: '0+1000x120',
        },
        {
          series: appSeries('http_request_duration_seconds_count', {
            method: 'GET',
            route: '/api/v1/orders/:id',
            status: '200',
          }),
          values: '0+1000x120',
        },
      ],
      checks: [
        {
          at: '1h',
          alerts: ['api', 'orders'].flatMap((group) => [
            {
              severity: 'critical' as const,
              labels: burnLabels(`${group}-latency`, 'latency', group),
              description: `SLO ${group}-latency: 10% of requests were bad over the last 1 h or 6 h, 6 to 14.4 times the rate its 30-day error budget allows; at this pace the budget is gone within 5 days.`,
            },
            {
              severity: 'warning' as const,
              labels: burnLabels(`${group}-latency`, 'latency', group),
              description: `SLO ${group}-latency: 10% of requests were bad over the last 1 d or 3 d, 1 to 3 times the rate its 30-day error budget allows; at this pace the budget is gone within 30 days.`,
            },
          ]),
        },
      ],
    },
  ],
};
