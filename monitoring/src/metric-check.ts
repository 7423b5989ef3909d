import { TARGET_LABELS } from './config.js';
import type { ExternalMetric } from './external-metrics.js';
import { analyzePromql } from './promql.js';
import type { LabelMatcher } from './promql.js';

/** The shape of an entry of the app's metric catalogue (app/src/observability/metric-catalogue.ts). */
export interface CatalogueMetric {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly labelNames: readonly string[];
  readonly labelValues?: Readonly<Record<string, readonly string[]>>;
  readonly buckets?: readonly number[];
}

/** A series name a query may select, with the labels it carries and the values of closed labels. */
export interface KnownSeries {
  readonly name: string;
  readonly labels: ReadonlySet<string>;
  readonly values: Readonly<Record<string, readonly string[]>>;
  /** Where it comes from, for error messages: `app catalogue`, an exporter, or `recording rule`. */
  readonly source: string;
}

/** A recorded series: its name and the labels the rule gives it. */
export interface RecordedSeries {
  readonly record: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** How prom-client writes a bucket bound into `le` (JavaScript's number formatting, `+Inf` for the last). */
export function leValue(bound: number): string {
  return bound === Infinity ? '+Inf' : String(bound);
}

/** Every series name a query may use, from the app's catalogue, the external list and the recording rules. */
export function knownSeries(
  catalogue: readonly CatalogueMetric[],
  externals: readonly ExternalMetric[],
  recorded: readonly RecordedSeries[],
): Map<string, KnownSeries> {
  const known = new Map<string, KnownSeries>();
  const add = (series: KnownSeries): void => {
    const existing = known.get(series.name);
    if (existing === undefined) {
      known.set(series.name, series);
      return;
    }
    // Several recording rules may write one name with different label values: merge them.
    const values: Record<string, string[]> = {};
    for (const [label, list] of [...Object.entries(existing.values), ...Object.entries(series.values)])
      values[label] = [...new Set([...(values[label] ?? []), ...list])];
    known.set(series.name, {
      ...existing,
      labels: new Set([...existing.labels, ...series.labels]),
      values,
    });
  };
  for (const metric of catalogue) {
    const labels = new Set([...metric.labelNames, ...TARGET_LABELS]);
    const values = metric.labelValues ?? {};
    const source = 'app catalogue';
    if (metric.type !== 'histogram') {
      add({ name: metric.name, labels, values, source });
      continue;
    }
    const le = [...(metric.buckets ?? []).map(leValue), '+Inf'];
    add({ name: `${metric.name}_bucket`, labels: new Set([...labels, 'le']), values: { ...values, le }, source });
    add({ name: `${metric.name}_sum`, labels, values, source });
    add({ name: `${metric.name}_count`, labels, values, source });
  }
  for (const metric of externals)
    add({
      name: metric.name,
      labels: new Set(metric.labelNames),
      values: metric.labelValues ?? {},
      source: metric.source,
    });
  for (const rule of recorded) {
    const values: Record<string, string[]> = {};
    for (const [label, value] of Object.entries(rule.labels)) values[label] = [value];
    add({ name: rule.record, labels: new Set(Object.keys(rule.labels)), values, source: 'recording rule' });
  }
  return known;
}

function valueProblem(matcher: LabelMatcher, allowed: readonly string[]): string | undefined {
  const { label, operator, value } = matcher;
  if (operator === '=' || operator === '!=') {
    if (allowed.includes(value)) return undefined;
    return `${label}${operator}"${value}" uses a value ${label} never takes (it takes ${allowed.join(', ')})`;
  }
  let pattern: RegExp;
  try {
    // Prometheus anchors label regexes at both ends; RE2 and JavaScript agree on the syntax used here.
    pattern = new RegExp(`^(?:${value})$`);
  } catch {
    return `${label}${operator}"${value}" is not a valid regular expression`;
  }
  if (allowed.some((candidate) => pattern.test(candidate))) return undefined;
  return `${label}${operator}"${value}" matches none of the values ${label} takes (${allowed.join(', ')})`;
}

/**
 * Problems of one PromQL expression against the known series: syntax errors, unknown metric names, selectors
 * without a metric name, labels a series does not carry (in matchers and in by/on clauses), and values a closed
 * label never takes. Empty when the query is sound.
 */
export function queryProblems(expr: string, known: ReadonlyMap<string, KnownSeries>): string[] {
  const analysis = analyzePromql(expr);
  const problems = [...analysis.syntaxErrors];
  for (const selector of analysis.selectors) {
    if (selector.metric === undefined) {
      problems.push(`${selector.text} selects no metric by name: name one, so it can be checked`);
      continue;
    }
    const series = known.get(selector.metric);
    if (series === undefined) {
      problems.push(
        `${selector.metric} is neither in the app's metric catalogue, the external metrics nor a recording rule: add it to the catalogue (app) or to monitoring/src/external-metrics.ts, or fix the name`,
      );
      continue;
    }
    for (const matcher of selector.matchers) {
      if (!series.labels.has(matcher.label)) {
        problems.push(
          `${selector.metric} has no label ${matcher.label} (it has ${[...series.labels].join(', ')}; from ${series.source})`,
        );
        continue;
      }
      const allowed = series.values[matcher.label];
      const problem = allowed === undefined ? undefined : valueProblem(matcher, allowed);
      if (problem !== undefined) problems.push(`${selector.metric}: ${problem}`);
    }
  }
  for (const grouping of analysis.groupings) {
    const available = new Set<string>();
    for (const selector of grouping.selectors)
      for (const label of known.get(selector.metric ?? '')?.labels ?? []) available.add(label);
    for (const label of grouping.labels)
      if (!available.has(label))
        problems.push(
          `"${grouping.clause}" names label ${label}, which none of ${grouping.selectors.map((s) => s.metric ?? s.text).join(', ')} carries`,
        );
  }
  return problems;
}

/** The metric names an expression selects, for cross-references (which metrics are in use). */
export function metricsIn(expr: string): string[] {
  return analyzePromql(expr)
    .selectors.map((selector) => selector.metric)
    .filter((name): name is string => name !== undefined);
}
