import type { MetricDefinition } from './metric-catalogue.js';

/** One gauge value to push, by its catalogue definition. */
export interface PushedValue {
  readonly metric: MetricDefinition;
  readonly value: number;
}

/** The Pushgateway refused or could not be reached; the message names the URL and the status. */
export class PushError extends Error {
  override readonly name = 'PushError';
}

function escapeLabel(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
}

/** The values in Prometheus' text exposition format (0.0.4), with HELP and TYPE from the catalogue. */
export function exposition(values: readonly PushedValue[]): string {
  return values
    .map(
      ({ metric, value }) =>
        `# HELP ${metric.name} ${metric.help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}\n# TYPE ${metric.name} ${metric.type}\n${metric.name} ${String(value)}\n`,
    )
    .join('');
}

/**
 * Replaces the group `job`/`namespace` on the Pushgateway at `baseUrl` with `values` (HTTP PUT, so a metric left out
 * disappears). The grouping labels become the series' labels, since Prometheus scrapes it with honor_labels.
 * @throws {PushError} when the Pushgateway does not answer 200/202 within `timeoutMs`.
 */
export async function pushMetrics(
  baseUrl: string,
  grouping: { readonly job: string; readonly namespace: string },
  values: readonly PushedValue[],
  timeoutMs = 10_000,
): Promise<void> {
  const path = `/metrics/job/${encodeURIComponent(grouping.job)}/namespace/${encodeURIComponent(grouping.namespace)}`;
  const url = `${baseUrl.replace(/\/+$/, '')}${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain; version=0.0.4' },
      body: exposition(values),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new PushError(
      `could not push metrics to ${url}: ${(error as Error).message}; check PUSHGATEWAY_URL and that the Pushgateway is up`,
      { cause: error },
    );
  }
  if (response.status !== 200 && response.status !== 202) {
    const body = (await response.text().catch(() => '')).slice(0, 300);
    throw new PushError(`the Pushgateway at ${url} answered ${response.status}: ${body}`);
  }
}

/** Labels every pushed series of `grouping` carries; `escapeLabel` keeps a namespace with odd characters valid. */
export function groupingSelector(grouping: { readonly job: string; readonly namespace: string }): string {
  return `job="${escapeLabel(grouping.job)}",namespace="${escapeLabel(grouping.namespace)}"`;
}
