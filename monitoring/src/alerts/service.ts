import { appSeries, appTarget } from '../fixtures.js';
import { MIN_REQUESTS_PER_SECOND } from '../slo.js';
import { APP, APP_UP, GROUPS, rate, requests } from './common.js';
import type { AlertDefinition, TestSeries } from '../rules.js';

/** Alerts of the group: The service itself. */

const errorRatio = (window: string): string =>
  `sum(${rate(`http_requests_total{${APP},status=~"5.."}`, window)}) / sum(${rate(`http_requests_total{${APP}}`, window)})`;

export const highErrorRate: AlertDefinition = {
  name: 'HighErrorRate',
  group: GROUPS.service,
  rules: [
    {
      expr:
        `${errorRatio('5m')} > 0.05` +
        ` and sum(${rate(`http_requests_total{${APP}}`, '5m')}) > ${MIN_REQUESTS_PER_SECOND}`,
      for: '2m',
      severity: 'critical',
      summary: 'erp-api answers more than 5% of requests with a server error',
      description:
        '{{ $value | humanizePercentage }} of erp-api requests answered with a 5xx status over the last 5 minutes (threshold 5%).',
    },
  ],
  tests: [
    {
      name: '10% of requests fail',
      series: [requests('200', '0+90x20'), requests('500', '0+10x20')],
      checks: [
        { at: '2m', alerts: [] },
        {
          at: '10m',
          alerts: [
            {
              description: '10% of erp-api requests answered with a 5xx status over the last 5 minutes (threshold 5%).',
            },
          ],
        },
      ],
    },
    {
      name: 'half of 20 requests a minute fail: below the traffic floor',
      series: [requests('200', '0+10x20'), requests('500', '0+10x20')],
      checks: [{ at: '10m', alerts: [] }],
    },
    {
      name: '2% of requests fail',
      series: [requests('200', '0+98x20'), requests('500', '0+2x20')],
      checks: [{ at: '10m', alerts: [] }],
    },
  ],
};

const bucket = (le: string, values: string): TestSeries => ({
  series: appSeries('http_request_duration_seconds_bucket', {
    method: 'GET',
    route: '/api/v1/products',
    status: '200',
    le,
  }),
  values,
});

export const highLatencyP99: AlertDefinition = {
  name: 'HighLatencyP99',
  group: GROUPS.service,
  rules: [
    {
      expr: `histogram_quantile(0.99, sum by (le) (${rate(`http_request_duration_seconds_bucket{${APP}}`, '5m')})) > 1`,
      for: '5m',
      severity: 'warning',
      summary: 'erp-api answers slowly: the 99th percentile is above 1 second',
      description:
        'The 99th percentile of erp-api response times is {{ $value | humanizeDuration }} over the last 5 minutes (threshold 1s).',
    },
  ],
  tests: [
    {
      name: '10% of requests take between 1 and 2.5 seconds',
      series: [bucket('0.5', '0+50x20'), bucket('1', '0+90x20'), bucket('2.5', '0+100x20'), bucket('+Inf', '0+100x20')],
      checks: [
        {
          at: '15m',
          alerts: [
            {
              description:
                'The 99th percentile of erp-api response times is 2.35s over the last 5 minutes (threshold 1s).',
            },
          ],
        },
      ],
    },
    {
      name: 'every request is under 500 ms',
      series: [bucket('0.5', '0+100x20'), bucket('1', '0+100x20'), bucket('+Inf', '0+100x20')],
      checks: [{ at: '15m', alerts: [] }],
    },
  ],
};

/** Every label an `up` series of the fixture pod carries: an alert on `up` keeps them all. */
const targetLabels = appTarget(1);

export const instanceDown: AlertDefinition = {
  name: 'InstanceDown',
  group: GROUPS.service,
  rules: [
    {
      expr: `${APP_UP} == 0`,
      for: '5m',
      severity: 'warning',
      summary: 'Prometheus cannot scrape an erp-api instance',
      description:
        'Prometheus has failed to scrape erp-api at {{ $labels.instance }} (namespace {{ $labels.namespace }}) for 5 minutes.',
    },
  ],
  tests: [
    {
      name: 'one instance stops answering',
      series: [{ series: appSeries('up'), values: '1 1 0x10' }],
      checks: [
        { at: '4m', alerts: [] },
        {
          at: '10m',
          alerts: [
            {
              labels: targetLabels,
              description: `Prometheus has failed to scrape erp-api at ${targetLabels.instance} (namespace ${targetLabels.namespace}) for 5 minutes.`,
            },
          ],
        },
      ],
    },
    {
      name: 'the instance answers every scrape',
      series: [{ series: appSeries('up'), values: '1x12' }],
      checks: [{ at: '10m', alerts: [] }],
    },
  ],
};

export const serviceDown: AlertDefinition = {
  name: 'ServiceDown',
  group: GROUPS.service,
  rules: [
    {
      expr: `(sum(${APP_UP}) or vector(0)) == 0`,
      for: '2m',
      severity: 'critical',
      summary: 'No erp-api instance is up',
      description:
        'Prometheus has scraped no erp-api instance successfully for 2 minutes ({{ $value }} up): the API does not answer.',
    },
  ],
  tests: [
    {
      name: 'the only instance is down',
      series: [{ series: appSeries('up'), values: '0x10' }],
      checks: [
        {
          at: '5m',
          alerts: [
            {
              description:
                'Prometheus has scraped no erp-api instance successfully for 2 minutes (0 up): the API does not answer.',
            },
          ],
        },
      ],
    },
    {
      name: 'no erp-api target is known at all',
      series: [{ series: 'up{job="postgres-exporter",instance="10.0.2.4:9187"}', values: '1x10' }],
      checks: [
        {
          at: '5m',
          alerts: [
            {
              description:
                'Prometheus has scraped no erp-api instance successfully for 2 minutes (0 up): the API does not answer.',
            },
          ],
        },
      ],
    },
    {
      name: 'one of two instances is up',
      series: [
        { series: appSeries('up'), values: '0x10' },
        { series: appSeries('up', {}, 2), values: '1x10' },
      ],
      checks: [{ at: '5m', alerts: [] }],
    },
  ],
};
