import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';

import { DEFAULT_RUNBOOK_BASE_URL, runbookUrl } from '../src/config.js';
import type { PromtoolTestFile } from '../src/promtool-tests.js';
import { ALERTS } from '../src/rules.js';
import { GENERATED } from './support/paths.js';
import { runTool, runToolAsync } from './support/tools.js';

describe('Prometheus rules (promtool)', () => {
  test('promtool check rules accepts the generated rules file', () => {
    const result = runTool('promtool', ['check', 'rules', join(GENERATED, 'rules.yaml')]);
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  test('every alert has a promtool case that fires it and one where it stays quiet', () => {
    for (const alert of ALERTS) {
      const checks = alert.tests.flatMap((testCase) => testCase.checks);
      expect(
        checks.some((check) => check.alerts.length > 0),
        `${alert.name} has no firing check`,
      ).toBe(true);
      // Watchdog fires always by design; there is no series under which it may stay quiet.
      if (alert.name === 'Watchdog') continue;
      expect(
        checks.some((check) => check.alerts.length === 0),
        `${alert.name} has no quiet check`,
      ).toBe(true);
    }
  });

  test('every severity an alert has is fired and pinned in its tests', () => {
    for (const alert of ALERTS) {
      const fired = new Set(
        alert.tests.flatMap((t) =>
          t.checks.flatMap((c) => c.alerts.map((a) => a.severity ?? alert.rules[0]?.severity)),
        ),
      );
      for (const rule of alert.rules) expect(fired, `${alert.name} ${rule.severity}`).toContain(rule.severity);
    }
  });

  test('each generated test file pins severity, service and the runbook_url of every expected alert', () => {
    for (const alert of ALERTS) {
      const file = parse(readFileSync(join(GENERATED, 'tests', `${alert.name}.test.yaml`), 'utf8')) as PromtoolTestFile;
      const expected = file.tests.flatMap((t) => t.alert_rule_test.flatMap((r) => r.exp_alerts));
      expect(expected.length).toBeGreaterThan(0);
      for (const alertExpectation of expected) {
        expect(alertExpectation.exp_labels.severity).toMatch(/^(critical|warning|info|none)$/);
        expect(alertExpectation.exp_labels.service).toBe('erp-api');
        expect(alertExpectation.exp_annotations.runbook_url).toBe(runbookUrl(alert.name, DEFAULT_RUNBOOK_BASE_URL));
        expect(alertExpectation.exp_annotations.summary).not.toContain('{{');
      }
    }
  });

  test.concurrent.each(ALERTS.map((alert) => alert.name))(
    'promtool test rules: %s fires and stays quiet as specified',
    async (name) => {
      const result = await runToolAsync('promtool', ['test', 'rules', `${name}.test.yaml`], join(GENERATED, 'tests'));
      expect(result.output, result.output).toContain('SUCCESS');
      expect(result.status, result.output).toBe(0);
    },
    60_000,
  );

  test('a burn-rate test asserts: a steady 1% error rate pages, a short 5% blip does not', () => {
    const burn = ALERTS.find((alert) => alert.name === 'ErrorBudgetBurn');
    const steady = burn?.tests.find((t) => t.name.includes('steady 1%'));
    const blip = burn?.tests.find((t) => t.name.includes('blip'));
    expect(steady?.checks.some((c) => c.alerts.some((a) => a.severity === 'critical'))).toBe(true);
    expect(blip?.checks.length).toBeGreaterThanOrEqual(3);
    expect(blip?.checks.every((c) => c.alerts.length === 0)).toBe(true);
  });
});
