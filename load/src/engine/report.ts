import type { ScenarioSummary } from './run.js';

const ms = (value: number): string => value.toFixed(2);
const percent = (value: number): string => `${(value * 100).toFixed(3)} %`;

function statuses(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts)
    .map(([status, count]) => `${status === '0' ? 'no answer' : status}: ${count}`)
    .join(', ');
}

/** The summary as Markdown: the scenario's numbers, one row per endpoint, and every threshold with its value. */
export function summaryMarkdown(summary: ScenarioSummary): string {
  const lines = [
    `### \`${summary.scenario}\` against ${summary.targetUrl}`,
    '',
    '| endpoint | requests | achieved /s | p50 ms | p90 ms | p95 ms | p99 ms | max ms | failed | statuses |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    `| **all** | ${summary.requests} | ${summary.achievedRate.toFixed(1)} | ${ms(summary.p50Ms)} | ${ms(summary.p90Ms)} | ${ms(summary.p95Ms)} | ${ms(summary.p99Ms)} | ${ms(summary.maxMs)} | ${percent(summary.errorRate)} | ${statuses(summary.statuses)} |`,
    ...Object.entries(summary.endpoints).map(
      ([name, e]) =>
        `| ${name} | ${e.requests} | ${e.achievedRate.toFixed(1)} | ${ms(e.p50Ms)} | ${ms(e.p90Ms)} | ${ms(e.p95Ms)} | ${ms(e.p99Ms)} | ${ms(e.maxMs)} | ${percent(e.errorRate)} | ${statuses(e.statuses)} |`,
    ),
    '',
    `Sent ${summary.requests} of ${summary.requestedRequests} requests asked for (${(summary.achievedShare * 100).toFixed(1)} %); the generator used ${summary.generatorCpuPercent.toFixed(1)} % of one core.`,
  ];
  if (summary.findingsLine !== undefined) lines.push('', summary.findingsLine);
  const thresholds = Object.entries(summary.thresholds);
  if (thresholds.length > 0) {
    lines.push('', '| metric | threshold | measured | result |', '| --- | --- | ---: | --- |');
    for (const [metric, { rules }] of thresholds) {
      for (const [rule, result] of Object.entries(rules)) {
        lines.push(
          `| \`${metric}\` | \`${rule}\` | ${Number(result.value.toPrecision(6))} | ${result.passed ? 'passed' : 'FAILED'} |`,
        );
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

/** One line for a terminal. */
export function summaryLine(summary: ScenarioSummary): string {
  const failed = Object.entries(summary.thresholds)
    .filter(([, result]) => !result.passed)
    .map(([metric]) => metric);
  return `${summary.scenario}: ${summary.requests} requests, ${summary.achievedRate.toFixed(1)}/s (${(summary.achievedShare * 100).toFixed(1)} % of asked), p99 ${summary.p99Ms.toFixed(2)} ms, ${percent(summary.errorRate)} failed; thresholds ${failed.length === 0 ? 'passed' : `FAILED: ${failed.join(', ')}`}`;
}
