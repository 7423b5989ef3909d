import { SLOS, type ServiceLevelObjective } from '@slipway/monitoring/slo';
import type { Thresholds } from './model.js';

/**
 * Thresholds: `metric` or `metric{tag:value}` with rules such as `rate<0.001` or `p(99)<500`. The metrics a rule may
 * name are the ones below; a rule on anything else is an error before a request is sent, never a silent pass.
 */
export const METRICS = {
  /** Share of requests that failed: a 5xx answer or no answer at all (as the availability SLO counts). */
  http_req_failed: ['rate'],
  /** Time from sending a request to reading its whole answer, in milliseconds. */
  http_req_duration: ['avg', 'min', 'med', 'max', 'p(N)'],
  /** Requests answered, counted. */
  http_reqs: ['count', 'rate'],
  /** Share of requests whose status was the one its request kind expects. */
  checks: ['rate'],
  /** Requests sent over requests asked for by the open model (1: on schedule). */
  achieved_rate: ['share'],
} as const;
export type MetricName = keyof typeof METRICS;

/** Tags a threshold may select by. */
const TAGS = ['endpoint', 'flow', 'phase', 'scenario'] as const;
export type TagName = (typeof TAGS)[number];

export class ThresholdError extends Error {
  override readonly name = 'ThresholdError';
}

export type Operator = '<' | '<=' | '>' | '>=' | '==' | '!=';

export interface ThresholdRule {
  /** As written, e.g. `p(99)<500`. */
  readonly text: string;
  readonly metric: MetricName;
  readonly tag?: { readonly name: TagName; readonly value: string };
  readonly aggregate: string;
  /** For p(N): N. */
  readonly percentile?: number;
  readonly operator: Operator;
  readonly bound: number;
}

/** Every rule of `thresholds`, parsed; the first unknown metric, tag or malformed rule throws with what to do. */
export function parseThresholds(thresholds: Thresholds): ThresholdRule[] {
  const known = Object.keys(METRICS).join(', ');
  return Object.entries(thresholds).flatMap(([key, rules]) => {
    const match = /^([a-z_]+)(?:\{([a-z_]+):([^}]+)\})?$/.exec(key);
    if (!match) throw new ThresholdError(`threshold key ${JSON.stringify(key)} is not "metric" or "metric{tag:value}"`);
    const [, metric = '', tagName, tagValue] = match;
    if (!(metric in METRICS)) {
      throw new ThresholdError(`threshold on ${JSON.stringify(metric)}: no such metric; use one of ${known}`);
    }
    if (tagName !== undefined && !(TAGS as readonly string[]).includes(tagName)) {
      throw new ThresholdError(
        `threshold ${JSON.stringify(key)} selects by tag ${JSON.stringify(tagName)}; use one of ${TAGS.join(', ')}`,
      );
    }
    return rules.map((text) => {
      const rule =
        /^(avg|min|med|max|count|rate|share|p\((\d{1,2}(?:\.\d+)?)\))\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)$/.exec(
          text.trim(),
        );
      const allowed: readonly string[] = METRICS[metric as MetricName];
      const aggregate = rule?.[2] === undefined ? (rule?.[1] ?? '') : 'p(N)';
      if (!rule || !allowed.includes(aggregate)) {
        throw new ThresholdError(
          `threshold ${JSON.stringify(text)} on ${key} is not valid: use ${allowed.join(' or ')} then one of < <= > >= == != and a number, e.g. ${metric === 'http_req_duration' ? 'p(99)<500' : `${allowed[0] ?? 'rate'}<0.001`}`,
        );
      }
      return {
        text,
        metric: metric as MetricName,
        ...(tagName === undefined || tagValue === undefined
          ? {}
          : { tag: { name: tagName as TagName, value: tagValue } }),
        aggregate: rule[2] === undefined ? (rule[1] ?? '') : 'p',
        ...(rule[2] === undefined ? {} : { percentile: Number(rule[2]) }),
        operator: rule[3] as Operator,
        bound: Number(rule[4]),
      };
    });
  });
}

export function compare(value: number, operator: Operator, bound: number): boolean {
  switch (operator) {
    case '<':
      return value < bound;
    case '<=':
      return value <= bound;
    case '>':
      return value > bound;
    case '>=':
      return value >= bound;
    case '==':
      return value === bound;
    case '!=':
      return value !== bound;
  }
}

/** Rounds away binary noise (1 - 0.999 = 0.0010000000000000009) so rule text stays readable. */
function decimal(value: number): number {
  return Number(value.toPrecision(12));
}

function apiSlo(sli: ServiceLevelObjective['sli']): ServiceLevelObjective {
  const slo = SLOS.find((candidate) => candidate.routeGroup === 'api' && candidate.sli === sli);
  if (slo === undefined)
    throw new ThresholdError(`monitoring defines no api ${sli} SLO: add it to SLOS in monitoring/src/slo.ts`);
  return slo;
}

/**
 * The API's SLOs as thresholds: availability as the share of failed requests (5xx or no answer) below the error
 * budget, latency as the objective's percentile below the SLO's bound (99.9 % → rate<0.001; 99 % under 500 ms →
 * p(99)<500).
 */
export function sloThresholds(): Thresholds {
  const availability = apiSlo('availability');
  const latency = apiSlo('latency');
  if (latency.latencyThresholdSeconds === undefined) {
    throw new ThresholdError(`SLO ${latency.name} has no latencyThresholdSeconds: set it in monitoring/src/slo.ts`);
  }
  return {
    http_req_failed: [`rate<${decimal(1 - availability.objective)}`],
    http_req_duration: [`p(${decimal(latency.objective * 100)})<${decimal(latency.latencyThresholdSeconds * 1000)}`],
  };
}

/** The latency SLO's bound in milliseconds (the gate allows a canary a fifth of it over the stable version). */
export function sloLatencyBoundMs(): number {
  return decimal((apiSlo('latency').latencyThresholdSeconds ?? 0) * 1000);
}
