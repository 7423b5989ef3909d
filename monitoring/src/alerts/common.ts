import { APP_SELECTOR } from '../config.js';
import { appSeries } from '../fixtures.js';
import type { TestSeries } from '../rules.js';

/** Names of the rule groups: one per SLO for its records, then alerts by area (one file each under alerts/). */
export const GROUPS = {
  slo: 'erp-api-slo-recording',
  burn: 'erp-api-slo-burn-rate',
  service: 'erp-api-service',
  dependencies: 'erp-api-dependencies',
  security: 'erp-api-security',
  backups: 'erp-api-backups',
  delivery: 'erp-api-delivery',
  jobs: 'erp-api-jobs',
  meta: 'erp-api-meta',
} as const;

/** Matcher every app query starts with. */
export const APP = APP_SELECTOR;
export const APP_UP = `up{${APP}}`;
export const rate = (selector: string, window: string): string => `rate(${selector}[${window}])`;

/** Requests of the fixture pod in promtool's notation, `perMinute` in its expanding notation. */
export const requests = (status: string, perMinute: string, route = '/api/v1/products'): TestSeries => ({
  series: appSeries('http_requests_total', { method: 'GET', route, status }),
  values: perMinute,
});
