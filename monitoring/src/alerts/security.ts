import { appSeries } from '../fixtures.js';
import { APP, GROUPS, rate } from './common.js';
import type { AlertDefinition, TestSeries } from '../rules.js';

/** Alerts of the group: Security: sign-in. */

const logins = (result: string, values: string): TestSeries => ({
  series: appSeries('auth_login_attempts_total', { result }),
  values,
});

export const highAuthFailureRate: AlertDefinition = {
  name: 'HighAuthFailureRate',
  group: GROUPS.security,
  rules: [
    {
      expr:
        `sum(${rate(`auth_login_attempts_total{${APP},result="failure"}`, '5m')})` +
        ` / sum(${rate(`auth_login_attempts_total{${APP}}`, '5m')}) > 0.3` +
        ` and sum(${rate(`auth_login_attempts_total{${APP},result="failure"}`, '5m')}) > 0.2`,
      for: '10m',
      severity: 'warning',
      summary: 'Many sign-in attempts fail',
      description:
        '{{ $value | humanizePercentage }} of sign-in attempts failed over the last 5 minutes (threshold 30%, at least 0.2 failures a second).',
    },
  ],
  tests: [
    {
      name: 'half the sign-ins fail, 30 a minute',
      series: [logins('failure', '0+30x30'), logins('success', '0+30x30'), logins('locked', '0x30')],
      checks: [
        {
          at: '20m',
          alerts: [
            {
              description:
                '50% of sign-in attempts failed over the last 5 minutes (threshold 30%, at least 0.2 failures a second).',
            },
          ],
        },
      ],
    },
    {
      name: 'a few mistyped passwords',
      series: [logins('failure', '0+3x30'), logins('success', '0+97x30')],
      checks: [{ at: '20m', alerts: [] }],
    },
    {
      name: 'half fail but there are only two attempts a minute',
      series: [logins('failure', '0+1x30'), logins('success', '0+1x30')],
      checks: [{ at: '20m', alerts: [] }],
    },
  ],
};

export const accountLockoutSpike: AlertDefinition = {
  name: 'AccountLockoutSpike',
  group: GROUPS.security,
  rules: [
    {
      expr: `sum(increase(auth_lockouts_total{${APP}}[15m])) > 10`,
      for: '5m',
      severity: 'warning',
      summary: 'Many accounts are being locked',
      description:
        '{{ $value | humanize }} accounts were locked after failed sign-ins in the last 15 minutes (threshold 10).',
    },
  ],
  tests: [
    {
      name: 'one lockout a minute',
      series: [{ series: appSeries('auth_lockouts_total'), values: '0+1x30' }],
      checks: [
        {
          at: '25m',
          alerts: [
            { description: '15 accounts were locked after failed sign-ins in the last 15 minutes (threshold 10).' },
          ],
        },
      ],
    },
    {
      name: 'one lockout in half an hour',
      series: [{ series: appSeries('auth_lockouts_total'), values: '0x10 1x20' }],
      checks: [{ at: '25m', alerts: [] }],
    },
  ],
};

export const signInLockoutBurst: AlertDefinition = {
  name: 'SignInLockoutBurst',
  group: GROUPS.security,
  rules: [
    {
      expr: `sum(increase(auth_address_lockouts_total{${APP}}[15m])) > 20`,
      for: '5m',
      severity: 'warning',
      summary: 'Many accounts are being locked from the addresses guessing their passwords',
      description:
        '{{ $value | humanize }} addresses were shut out of an account after wrong passwords in a row in the last 15 minutes (threshold 20): password guessing or lockout abuse across many accounts.',
    },
  ],
  tests: [
    {
      name: 'two address lockouts a minute',
      series: [{ series: appSeries('auth_address_lockouts_total'), values: '0+2x30' }],
      checks: [
        {
          at: '25m',
          alerts: [
            {
              description:
                '30 addresses were shut out of an account after wrong passwords in a row in the last 15 minutes (threshold 20): password guessing or lockout abuse across many accounts.',
            },
          ],
        },
      ],
    },
    {
      name: 'a few users mistyping their passwords',
      series: [{ series: appSeries('auth_address_lockouts_total'), values: '0x10 1x10 2x10' }],
      checks: [{ at: '25m', alerts: [] }],
    },
  ],
};
