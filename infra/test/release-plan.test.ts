import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, test } from 'vitest';

import { GATE_EXIT } from '@slipway/load/gate';
import { SCENARIOS } from '@slipway/load/scenarios/index';
import { CANARY_SELECTOR, LATENCY_THRESHOLD_SECONDS, SLO_ANALYSIS_QUERIES, SLOS } from '@slipway/monitoring/slo';
import { GATE_IMAGE_ENTRY, GATE_SCENARIO, planProblems, RELEASE_PLAN } from '@slipway/pipelines/release/plan';
import { loadMonitoringSources } from '../src/monitoring-sources.js';
import { defaultReleaseInputs } from '../src/program.js';
import { canaryQuery, canarySteps, sloConditions } from '../src/rollout.js';
import { stagesFromSteps } from './support/checks.js';

describe('the release plan', () => {
  test('is valid: weights rise to 100', () => {
    expect(planProblems(RELEASE_PLAN)).toEqual([]);
    expect(RELEASE_PLAN.stages.map((stage) => stage.weight)).toEqual([10, 25, 50, 100]);
  });

  test('refuses plans that cannot run, saying why', () => {
    expect(
      planProblems({
        name: 'bad',
        stages: [
          { weight: 50, pauseSeconds: 1.5, gates: [] },
          { weight: 20, pauseSeconds: 0, gates: [] },
        ],
      }),
    ).toEqual([
      'stage 1 pauses 1.5 s: use a whole number of seconds, 0 or more',
      'stage 2 has weight 20, not above the previous 50: weights must rise',
      'the last stage has weight 20: end with weight 100 so the canary is promoted',
    ]);
  });

  test('renders into Argo steps that read back as the same plan', () => {
    expect(stagesFromSteps(canarySteps('erp-api', RELEASE_PLAN, 'http://canary'))).toEqual(RELEASE_PLAN.stages);
  });

  test('every gated stage checks both SLOs and the load gate', () => {
    for (const stage of RELEASE_PLAN.stages.filter((s) => s.weight < 100))
      expect(stage.gates).toEqual([
        { kind: 'load', scenario: 'gate' },
        { kind: 'slo', slo: 'availability' },
        { kind: 'slo', slo: 'latency' },
      ]);
  });

  test('SLO checks pass at the objective and fail below it; no data is inconclusive', () => {
    // Both SLIs are good-request ratios now: the latency check counts requests under 500 ms, not a quantile.
    expect(sloConditions(SLO_ANALYSIS_QUERIES.availability)).toEqual({
      successCondition: 'len(result) > 0 && result[0] >= 0.999',
      failureCondition: 'len(result) > 0 && result[0] < 0.999',
    });
    expect(sloConditions(SLO_ANALYSIS_QUERIES.latency)).toEqual({
      successCondition: 'len(result) > 0 && result[0] >= 0.99',
      failureCondition: 'len(result) > 0 && result[0] < 0.99',
    });
    expect(sloConditions({ ...SLO_ANALYSIS_QUERIES.latency, comparison: 'atMost', threshold: 0.5 })).toEqual({
      successCondition: 'len(result) > 0 && result[0] <= 0.5',
      failureCondition: 'len(result) > 0 && result[0] > 0.5',
    });
  });

  test("canary queries select the canary's own series in the app namespace, every place monitoring marks", () => {
    for (const query of Object.values(SLO_ANALYSIS_QUERIES)) {
      const rendered = canaryQuery(query, 'erp');
      expect(rendered).not.toContain(CANARY_SELECTOR);
      expect(rendered.split('namespace="erp",rollouts_pod_template_hash="{{args.canary-hash}}"').length).toBe(
        query.query.split(CANARY_SELECTOR).length,
      );
      expect(query.query.split(CANARY_SELECTOR).length).toBeGreaterThan(1);
    }
  });
});

describe('monitoring/ feeds the release and the cluster', () => {
  test('canary SLO queries come from monitoring/ SLO definitions', () => {
    const inputs = defaultReleaseInputs(loadMonitoringSources());
    expect(inputs.sloQueries).toBe(SLO_ANALYSIS_QUERIES);
    expect(Object.values(inputs.sloQueries).map((query) => [query.slo, query.source, query.comparison])).toEqual([
      ['availability', 'monitoring', 'atLeast'],
      ['latency', 'monitoring', 'atLeast'],
    ]);
    // Thresholds are the whole API's objectives.
    for (const query of Object.values(inputs.sloQueries)) {
      const slo = SLOS.find((candidate) => candidate.routeGroup === 'api' && candidate.sli === query.slo);
      expect(query.threshold).toBe(slo?.objective);
    }
    expect(SLO_ANALYSIS_QUERIES.latency.query).toContain(`le="${LATENCY_THRESHOLD_SECONDS}"`);
  });

  test('a missing generated file is an error naming it and the command that makes it, not a placeholder', () => {
    expect(() => loadMonitoringSources(join(fileURLToPath(new URL('.', import.meta.url)), 'no-such-dir'))).toThrow(
      /no-such-dir\/rules\.json does not exist: run `npm run generate -w monitoring`/,
    );
  });

  test('PrometheusRules, dashboards, Alertmanager config and Loki rules come from monitoring/generated/', () => {
    // The stack tests (dev, staging, prod) check the objects built from these, file by file.
    const sources = loadMonitoringSources();
    expect(sources.ruleGroups.length).toBeGreaterThan(1);
    expect(sources.dashboards.length).toBeGreaterThan(1);
    expect(sources.alertmanagerConfigs.prod).toContain('routing_key_file');
    expect(sources.alertmanagerConfigs.dev).not.toContain('routing_key_file');
    expect(sources.lokiRules).toContain('AuditIntegrityFailure');
  });
});

describe('the load gate', () => {
  const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

  test('runs load/src/scenarios/canary-gate.ts through the bundled gate in the gate image, with its exit codes', () => {
    expect(defaultReleaseInputs(loadMonitoringSources()).gateScenario).toBe(GATE_SCENARIO);
    expect(GATE_SCENARIO).toMatchObject({
      source: 'load',
      scenario: 'canary-gate',
      repositoryPath: 'load/src/scenarios/canary-gate.ts',
      entryPath: 'load/src/cli.ts',
      command: ['node', GATE_IMAGE_ENTRY, 'canary-gate'],
      targetUrlVariable: 'TARGET_URL',
      stableUrlVariable: 'STABLE_URL',
      exitCodes: { passed: GATE_EXIT.pass, thresholdsFailed: GATE_EXIT.fail, inconclusive: GATE_EXIT.inconclusive },
    });
    expect(Object.keys(SCENARIOS)).toContain(GATE_SCENARIO.scenario);
    for (const path of [GATE_SCENARIO.repositoryPath, GATE_SCENARIO.entryPath])
      expect(existsSync(join(repoRoot, path))).toBe(true);
  });

  test('reads the canary, the stable version and its time limit from the variables the runner sets', () => {
    const cli = readFileSync(join(repoRoot, GATE_SCENARIO.entryPath), 'utf8');
    for (const variable of [
      GATE_SCENARIO.targetUrlVariable,
      GATE_SCENARIO.stableUrlVariable,
      GATE_SCENARIO.timeoutVariable,
    ])
      expect(cli).toContain(`process.env.${variable}`);
  });

  test('finishes its default run (30 s) well inside the timeout', () => {
    const gate = SCENARIOS['canary-gate']({});
    expect(gate.flows[0]?.arrival).toEqual({ model: 'constant', rate: 20, durationMs: 30_000 });
    expect(GATE_SCENARIO.timeoutSeconds).toBeGreaterThanOrEqual(120);
  });
});
