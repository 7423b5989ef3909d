import { DASHBOARD_SELECTOR as APP, RATE_WINDOW as W } from './common.js';
import type { DashboardSpec } from './common.js';

const attempts = `auth_login_attempts_total{${APP}}`;

export const authentication: DashboardSpec = {
  uid: 'erp-api-authentication',
  title: 'erp-api / Authentication',
  description: 'Sign-in attempts and their results, lockouts, access-token checks and rate-limit refusals.',
  rows: [
    {
      title: 'Sign-in',
      panels: [
        {
          title: 'Sign-in attempts by result',
          description: 'Sign-in attempts per second: success, failure (wrong credentials), locked, rate_limited.',
          unit: 'reqps',
          stacked: true,
          queries: [{ expr: `sum by (result) (rate(${attempts}[${W}]))`, legend: '{{result}}' }],
        },
        {
          title: 'Sign-in failure ratio',
          description: 'Share of sign-in attempts that failed. HighAuthFailureRate warns above 30%.',
          unit: 'percentunit',
          max: 1,
          queries: [
            {
              expr: `sum(rate(auth_login_attempts_total{${APP},result="failure"}[${W}])) / sum(rate(${attempts}[${W}]))`,
              legend: 'failure ratio',
            },
          ],
        },
        {
          title: 'Account lockouts',
          description:
            'Accounts locked for everyone, and addresses shut out of one account, per interval. AccountLockoutSpike warns above 10 account lockouts in 15 minutes, SignInLockoutBurst above 20 address lockouts.',
          unit: 'short',
          queries: [
            { expr: `sum(increase(auth_lockouts_total{${APP}}[${W}]))`, legend: 'lockouts' },
            { expr: `sum(increase(auth_address_lockouts_total{${APP}}[${W}]))`, legend: 'address lockouts' },
          ],
        },
      ],
    },
    {
      title: 'Tokens and rate limits',
      panels: [
        {
          title: 'Token validations by result',
          description: 'Access-token checks per second: valid, invalid, expired, revoked.',
          unit: 'ops',
          stacked: true,
          queries: [
            { expr: `sum by (result) (rate(auth_token_validations_total{${APP}}[${W}]))`, legend: '{{result}}' },
          ],
        },
        {
          title: 'Rate-limit blocks by limiter',
          description: 'Requests refused with 429 per second: general (per client IP) and login (per account and IP).',
          unit: 'reqps',
          queries: [{ expr: `sum by (limiter) (rate(rate_limit_blocks_total{${APP}}[${W}]))`, legend: '{{limiter}}' }],
        },
      ],
    },
  ],
};
