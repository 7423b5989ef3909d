import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';

import { METRIC_CATALOGUE } from '@slipway/app/observability/metric-catalogue';
import { DEFAULT_RUNBOOK_BASE_URL, runbookBaseUrl, runbookUrl } from '../src/config.js';
import { EXTERNAL_METRICS } from '../src/external-metrics.js';
import { analyzeLogql, LOG_ALERTS } from '../src/loki.js';
import { knownSeries, queryProblems } from '../src/metric-check.js';
import type { PrometheusRuleGroup } from '../src/rules.js';
import { ALERTS, RECORDING_RULES } from '../src/rules.js';
import { GENERATED, RUNBOOKS_DIR } from './support/paths.js';
import {
  commandProblems,
  inlinePromql,
  meaningQuery,
  pageSeverities,
  PROCEDURES,
  runbookProblems,
} from './support/runbooks.js';

const ALERT_NAMES = [...ALERTS.map((alert) => alert.name), ...LOG_ALERTS.map((alert) => alert.name)];
const scratch: string[] = [];

afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

describe('runbooks', () => {
  test('every alert has its page with Meaning, Impact, Diagnosis, Mitigation, Escalation; every page names an alert or procedure', () => {
    expect(runbookProblems(RUNBOOKS_DIR, ALERT_NAMES)).toEqual([]);
  });

  test('every runbook_url in the generated Prometheus and Loki rules points at a page that exists', () => {
    const files = ['rules.yaml', 'loki/rules.yaml'];
    const urls = files.flatMap((file) =>
      (parse(readFileSync(join(GENERATED, file), 'utf8')) as { groups: PrometheusRuleGroup[] }).groups.flatMap(
        (group) =>
          group.rules.flatMap((rule) =>
            'alert' in rule ? [{ alert: rule.alert, url: rule.annotations.runbook_url }] : [],
          ),
      ),
    );
    expect(urls.length).toBeGreaterThan(ALERT_NAMES.length);
    for (const { alert, url } of urls) {
      expect(url).toBe(runbookUrl(alert, DEFAULT_RUNBOOK_BASE_URL));
      const page = url.slice(DEFAULT_RUNBOOK_BASE_URL.length + 1);
      expect(() => readFileSync(join(RUNBOOKS_DIR, page)), `${alert} → ${url}`).not.toThrow();
    }
  });

  test('the procedures exist: deploy, rollback, disaster recovery, incident response, secret rotation', () => {
    for (const page of PROCEDURES) expect(() => readFileSync(join(RUNBOOKS_DIR, `${page}.md`))).not.toThrow();
    const dr = readFileSync(join(RUNBOOKS_DIR, 'disaster-recovery.md'), 'utf8');
    expect(dr).toMatch(/RTO[^\n]*4 h/);
    expect(dr).toMatch(/RPO[^\n]*1 h/);
    expect(dr).toContain('pg_restore');
    const incident = readFileSync(join(RUNBOOKS_DIR, 'incident-response.md'), 'utf8');
    for (const level of ['P0', 'P1', 'P2', 'P3']) expect(incident).toContain(level);
  });

  test('deleting a runbook page makes the check fail, naming the page and its alert', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-runbooks-'));
    scratch.push(dir);
    cpSync(RUNBOOKS_DIR, dir, { recursive: true });
    rmSync(join(dir, 'DatabaseDown.md'));
    const problems = runbookProblems(dir, ALERT_NAMES);
    expect(problems).toContain(
      'runbooks/DatabaseDown.md is missing: alert DatabaseDown links to it; write it (see runbooks/README.md)',
    );
    // The pages that link to it are reported too, and nothing else.
    expect(problems.every((problem) => problem.includes('DatabaseDown.md'))).toBe(true);
  });

  test('every PromQL block in a runbook parses and uses known metrics; every LogQL block parses', () => {
    const known = knownSeries(METRIC_CATALOGUE, EXTERNAL_METRICS, RECORDING_RULES);
    const problems: string[] = [];
    let blocks = 0;
    for (const page of readdirSync(RUNBOOKS_DIR).filter((file) => file.endsWith('.md'))) {
      const text = readFileSync(join(RUNBOOKS_DIR, page), 'utf8');
      for (const [, language, body = ''] of text.matchAll(/```(promql|logql)\n([\s\S]*?)```/g)) {
        blocks += 1;
        const query = body
          .split('\n')
          .map((line) => line.trim())
          .join(' ')
          .trim();
        const found = language === 'promql' ? queryProblems(query, known) : [...analyzeLogql(query).syntaxErrors];
        problems.push(...found.map((problem) => `${page}: ${problem}`));
      }
    }
    expect(blocks).toBeGreaterThan(40);
    expect(problems).toEqual([]);
  });

  test('every inline PromQL selector in a runbook names a known metric with known labels', () => {
    const known = knownSeries(METRIC_CATALOGUE, EXTERNAL_METRICS, RECORDING_RULES);
    const problems = readdirSync(RUNBOOKS_DIR)
      .filter((file) => file.endsWith('.md'))
      .flatMap((page) =>
        inlinePromql(readFileSync(join(RUNBOOKS_DIR, page), 'utf8')).flatMap((query) =>
          queryProblems(query, known).map((problem) => `${page}: ${problem}`),
        ),
      );
    expect(problems).toEqual([]);
  });

  test("each alert's page quotes the alert's own expression and names its severities", () => {
    const problems: string[] = [];
    const pages: { name: string; severities: string[]; exprs: string[]; language: 'promql' | 'logql' }[] = [
      ...ALERTS.map((alert) => ({
        name: alert.name,
        severities: [...new Set(alert.rules.map((rule) => rule.severity))].sort(),
        exprs: alert.rules.map((rule) => rule.expr),
        language: 'promql' as const,
      })),
      ...LOG_ALERTS.map((alert) => ({
        name: alert.name,
        severities: [alert.severity],
        exprs: [alert.expr],
        language: 'logql' as const,
      })),
    ];
    for (const page of pages) {
      const text = readFileSync(join(RUNBOOKS_DIR, `${page.name}.md`), 'utf8');
      const severities = pageSeverities(text);
      if (JSON.stringify(severities) !== JSON.stringify(page.severities))
        problems.push(`${page.name}.md says ${severities.join(', ')}; the alert is ${page.severities.join(', ')}`);
      // An alert with one rule per SLO is explained by its pattern, not quoted rule by rule.
      if (page.exprs.length > 1) continue;
      const quoted = meaningQuery(text, page.language);
      if (quoted !== page.exprs[0])
        problems.push(`${page.name}.md quotes ${String(quoted)} under Meaning; the alert is ${page.exprs[0] ?? ''}`);
    }
    expect(problems).toEqual([]);
  });

  test('no runbook command is one the cluster would refuse or its autoscaler undo', () => {
    // README.md states these rules and holds no procedure.
    const problems = readdirSync(RUNBOOKS_DIR)
      .filter((file) => file.endsWith('.md') && file !== 'README.md')
      .flatMap((page) => commandProblems(page, readFileSync(join(RUNBOOKS_DIR, page), 'utf8')));
    expect(problems).toEqual([]);
    // The check can fail: the command this repository once shipped in DatabaseDown.md.
    expect(
      commandProblems(
        'x.md',
        'kubectl run psql-check -n erp --rm -it --image=postgres:16 --env="DATABASE_URL=$(kubectl get secret erp-api-runtime -n erp)"',
      ),
    ).toHaveLength(3);
    expect(commandProblems('x.md', 'kubectl scale rollout erp-api -n erp --replicas=5')).toHaveLength(1);
  });

  test('RUNBOOK_BASE_URL moves the links; a value that is not an http(s) URL is refused with what to do', () => {
    expect(runbookBaseUrl({})).toBe(DEFAULT_RUNBOOK_BASE_URL);
    expect(runbookBaseUrl({ RUNBOOK_BASE_URL: 'https://wiki.example.com/runbooks/' })).toBe(
      'https://wiki.example.com/runbooks',
    );
    expect(() => runbookBaseUrl({ RUNBOOK_BASE_URL: 'runbooks' })).toThrow(/RUNBOOK_BASE_URL="runbooks" is not a URL/);
    expect(() => runbookBaseUrl({ RUNBOOK_BASE_URL: 'ftp://x/runbooks' })).toThrow(/uses ftp:/);
  });
});
