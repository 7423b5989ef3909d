import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';

import { ArgoMetrics, CONTROLLER_NAMESPACE, type AnalysisPhase } from '../../release/canary/argo-metrics.js';
import { listRecords } from '../../release/canary/store.js';
import type { GateVerdict, ReleaseRecord } from '../../release/release-record.js';
import type { ServiceDefinition } from '../supervisor.js';
import { EXTRA_JOBS, writeJobTargets } from './prometheus.js';
import { httpProbe, tsxProcess } from './local-service.js';

/** Argo Rollouts' defaults (spec.analysis.successfulRunHistoryLimit / unsuccessfulRunHistoryLimit): runs it keeps. */
export const RUN_HISTORY_LIMIT = 5;

const PHASE: Readonly<Record<GateVerdict, AnalysisPhase>> = {
  passed: 'Successful',
  failed: 'Failed',
  inconclusive: 'Inconclusive',
};

export interface RecordedRun {
  readonly namespace: string;
  readonly name: string;
  readonly phase: AnalysisPhase;
  readonly metrics: Readonly<Record<string, AnalysisPhase>>;
}

/**
 * The AnalysisRuns of finished releases, newest first, as the controller keeps them after a rollout (up to the
 * history limits); a running release's runs are the executor's own to export.
 */
export function recordedRuns(records: readonly ReleaseRecord[]): RecordedRun[] {
  const runs: RecordedRun[] = [];
  for (const record of [...records].reverse()) {
    if (record.outcome === 'running') continue;
    for (const stage of [...record.stages].reverse()) {
      if (stage.gates.length === 0) continue;
      const metrics = Object.fromEntries(stage.gates.map((gate) => [gate.name, PHASE[gate.verdict]]));
      const phases = Object.values(metrics);
      const phase = phases.includes('Failed')
        ? 'Failed'
        : phases.includes('Inconclusive')
          ? 'Inconclusive'
          : 'Successful';
      runs.push({
        namespace: record.canary.namespace,
        name: `erp-api-${record.canary.podTemplateHash}-${String(stage.index)}`,
        phase,
        metrics,
      });
    }
  }
  const successful = runs.filter((run) => run.phase === 'Successful').slice(0, RUN_HISTORY_LIMIT);
  const unsuccessful = runs.filter((run) => run.phase !== 'Successful').slice(0, RUN_HISTORY_LIMIT);
  return runs.filter((run) => successful.includes(run) || unsuccessful.includes(run));
}

/** Serves /metrics: `analysis_run_info` and `analysis_run_metric_phase` of the recorded runs of `scope`, read per scrape. */
export function argoHistoryServer(scope: string): Server {
  return createServer((request, response) => {
    if (request.url === '/-/ready') {
      response.writeHead(200).end('ready\n');
      return;
    }
    if (request.url !== '/metrics') {
      response.writeHead(404).end('GET /metrics\n');
      return;
    }
    const metrics = new ArgoMetrics('', 'erp-api');
    // the Rollout's own phase comes from the executor while it runs; history holds AnalysisRuns only
    metrics.clearRollout();
    for (const run of recordedRuns(listRecords(scope)))
      metrics.setAnalysisRun(run.name, run.phase, run.metrics, run.namespace);
    void metrics.registry.metrics().then((text) => {
      response.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text);
    });
  });
}

export interface ArgoRolloutsOptions {
  readonly scope: string;
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
  /** Prometheus's file-discovery folder: the service registers itself under the controller's job there. */
  readonly targetsDir: string;
}

/**
 * The Argo Rollouts controller's metrics between releases: the AnalysisRuns it keeps for history, from the release
 * records, so the CanaryAnalysisFailed alert and the Release dashboard see a finished release as in the cluster.
 */
export function argoRolloutsService(options: ArgoRolloutsOptions): ServiceDefinition {
  const { host, port } = options;
  const url = `http://${host}:${String(port)}`;
  return {
    name: 'argo-rollouts',
    host,
    port,
    portEnv: options.portEnv,
    url,
    ...tsxProcess(import.meta.url, [options.scope, host, String(port)]),
    env: { SLIPWAY_SCOPE: options.scope },
    stopSignal: 'SIGTERM',
    prepare(): Promise<void> {
      writeJobTargets(
        options.targetsDir,
        EXTRA_JOBS[0],
        [{ address: `${host}:${String(port)}`, labels: { namespace: CONTROLLER_NAMESPACE } }],
        'history',
      );
      return Promise.resolve();
    },
    probe: httpProbe(url, '/-/ready'),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [scope = 'platform', host = '127.0.0.1', port = ''] = process.argv.slice(2);
  const server = argoHistoryServer(scope);
  server.listen({ host, port: Number(port) });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => server.close(() => process.exit(0)));
}
