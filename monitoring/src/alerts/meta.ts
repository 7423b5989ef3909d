import { GROUPS } from './common.js';
import type { AlertDefinition } from '../rules.js';

/** Alerts of the group: Meta. */

export const watchdog: AlertDefinition = {
  name: 'Watchdog',
  group: GROUPS.meta,
  rules: [
    {
      expr: 'vector(1)',
      severity: 'none',
      summary: 'Always firing: proves the alerting pipeline works',
      description:
        'This alert always fires (value {{ $value }}). If the receiver stops getting it, Prometheus, Alertmanager or the path between them is broken.',
    },
  ],
  tests: [
    {
      name: 'fires with no input at all',
      series: [],
      checks: [
        {
          at: '1m',
          alerts: [
            {
              description:
                'This alert always fires (value 1). If the receiver stops getting it, Prometheus, Alertmanager or the path between them is broken.',
            },
          ],
        },
      ],
    },
  ],
};
