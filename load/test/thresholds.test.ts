import { describe, expect, test } from 'vitest';

import { AVAILABILITY_OBJECTIVE, LATENCY_OBJECTIVE, LATENCY_THRESHOLD_SECONDS } from '@slipway/monitoring/slo';
import { phasesOf } from '../src/engine/model.js';
import { percentile, ResultStore } from '../src/engine/results.js';
import { evaluateThresholds } from '../src/engine/run.js';
import { parseThresholds, sloThresholds, ThresholdError } from '../src/engine/thresholds.js';
import { timestampMs } from '../src/engine/vegeta.js';

describe('thresholds from monitoring’s SLOs', () => {
  test('availability is the error budget, latency the objective’s percentile under the bound', () => {
    expect(sloThresholds()).toEqual({ http_req_failed: ['rate<0.001'], http_req_duration: ['p(99)<500'] });
    expect([AVAILABILITY_OBJECTIVE, LATENCY_OBJECTIVE, LATENCY_THRESHOLD_SECONDS]).toEqual([0.999, 0.99, 0.5]);
  });

  test.each([
    [{ http_req_duraton: ['p(99)<500'] }, 'threshold on "http_req_duraton": no such metric; use one of'],
    [
      { 'http_req_failed{route:x}': ['rate<0.1'] },
      'selects by tag "route"; use one of endpoint, flow, phase, scenario',
    ],
    [{ http_req_failed: ['p(99)<500'] }, 'threshold "p(99)<500" on http_req_failed is not valid: use rate then one of'],
    [{ http_req_duration: ['p99 < 500'] }, 'threshold "p99 < 500" on http_req_duration is not valid'],
  ])('%j is refused: %s', (thresholds, message) => {
    expect(() => parseThresholds(thresholds)).toThrow(ThresholdError);
    expect(() => parseThresholds(thresholds)).toThrow(message);
  });

  test('rules are judged on the selected requests, with the measured value kept', () => {
    const store = new ResultStore(0);
    const add = (endpoint: string, latencyMs: number, status: number): void =>
      store.add({ sentAtMs: 10, latencyMs, status, endpoint, flow: 'f', phase: 'p', expectedStatus: 200, error: '' });
    for (let i = 0; i < 99; i++) add('read', 10, 200);
    add('write', 900, 503);
    const rules = parseThresholds({
      http_req_failed: ['rate<0.001'],
      'http_req_duration{endpoint:read}': ['p(99)<500', 'max<=10'],
      checks: ['rate>0.98'],
    });
    expect(evaluateThresholds(rules, store, 100)).toEqual({
      http_req_failed: { passed: false, rules: { 'rate<0.001': { passed: false, value: 0.01 } } },
      'http_req_duration{endpoint:read}': {
        passed: true,
        rules: { 'p(99)<500': { passed: true, value: 10 }, 'max<=10': { passed: true, value: 10 } },
      },
      checks: { passed: true, rules: { 'rate>0.98': { passed: true, value: 0.99 } } },
    });
    expect(store.stats().statuses).toEqual({ '200': 99, '503': 1 });
  });
});

describe('arrival models as constant-rate phases', () => {
  test('steps rise by the step rate; a ramp goes in one-second slices at each slice’s middle rate', () => {
    expect(
      phasesOf({
        name: 's',
        mix: [],
        arrival: { model: 'steps', startRate: 10, stepRate: 5, steps: 3, stepMs: 2000 },
      }).map((phase) => [phase.label, phase.rate, phase.durationMs]),
    ).toEqual([
      ['step-0', 10, 2000],
      ['step-1', 15, 2000],
      ['step-2', 20, 2000],
    ]);
    const ramp = phasesOf({
      name: 'r',
      mix: [],
      arrival: {
        model: 'ramp',
        startRate: 10,
        stages: [
          { rate: 10, durationMs: 3000, label: 'warm' },
          { rate: 50, durationMs: 2000, label: 'up' },
        ],
      },
    });
    expect(ramp.map((phase) => [phase.label, phase.rate, phase.durationMs])).toEqual([
      ['warm', 10, 3000],
      ['up', 20, 1000],
      ['up', 40, 1000],
    ]);
  });

  test('a closed model is one phase of its workers', () => {
    expect(phasesOf({ name: 'c', mix: [], arrival: { model: 'closed', workers: 4, durationMs: 1000 } })).toEqual([
      { flow: 'c', label: 'c', rate: 0, workers: 4, durationMs: 1000 },
    ]);
  });
});

describe('reading Vegeta’s results', () => {
  test('timestamps keep their sub-millisecond part and their zone', () => {
    expect(timestampMs('2026-12-04T18:52:57.662751051Z')).toBeCloseTo(
      Date.UTC(2026, 11, 4, 18, 52, 57, 662) + 0.751051,
      3,
    );
    expect(timestampMs('2026-12-04T19:52:57+01:00')).toBe(Date.UTC(2026, 11, 4, 18, 52, 57));
    expect(timestampMs('yesterday')).toBeNaN();
  });

  test('percentiles are nearest-rank', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(sorted, 50), percentile(sorted, 99), percentile(sorted, 100)]).toEqual([50, 99, 100]);
    expect(percentile(new Float64Array(), 99)).toBe(0);
  });
});
