import { createServer, type Server } from 'node:http';

import { Gauge, Registry } from 'prom-client';

/**
 * The Argo Rollouts controller's metrics the monitoring queries read (controller/metrics: `rollout_info`,
 * `analysis_run_info`, `analysis_run_metric_phase`), exported by the local executor with the same names and labels,
 * so the Release dashboard and the CanaryAnalysisFailed alert see local releases. `namespace` is the Rollout's; the
 * scrape job adds the controller's, which turns this one into `exported_namespace` as in the cluster.
 */
export const ROLLOUT_PHASES = ['Progressing', 'Paused', 'Healthy', 'Degraded'] as const;
export const ANALYSIS_PHASES = ['Pending', 'Running', 'Successful', 'Failed', 'Error', 'Inconclusive'] as const;
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number];
export type AnalysisPhase = (typeof ANALYSIS_PHASES)[number];

/** The namespace label the controller's own ServiceMonitor target carries (what makes the Rollout's `exported_`). */
export const CONTROLLER_NAMESPACE = 'argo-rollouts';

export class ArgoMetrics {
  readonly registry = new Registry();
  private readonly rollout = new Gauge({
    name: 'rollout_info',
    help: 'Information about rollout.',
    labelNames: ['namespace', 'name', 'strategy', 'traffic_router', 'phase'],
    registers: [this.registry],
  });
  private readonly analysisRun = new Gauge({
    name: 'analysis_run_info',
    help: 'Information about analysis run.',
    labelNames: ['namespace', 'name', 'phase'],
    registers: [this.registry],
  });
  private readonly metricPhase = new Gauge({
    name: 'analysis_run_metric_phase',
    help: 'Information on the duration of a specific metric in the Analysis Run',
    labelNames: ['namespace', 'name', 'metric', 'type', 'phase'],
    registers: [this.registry],
  });
  private server: Server | undefined;

  constructor(
    private readonly namespace: string,
    private readonly name: string,
  ) {
    this.setRollout('Progressing');
  }

  /** One series per phase, 1 on the current one, as the controller exports it. */
  setRollout(phase: RolloutPhase): void {
    for (const candidate of ROLLOUT_PHASES) {
      this.rollout.set(
        { namespace: this.namespace, name: this.name, strategy: 'canary', traffic_router: 'Nginx', phase: candidate },
        candidate === phase ? 1 : 0,
      );
    }
  }

  /** No Rollout series: for an exporter of AnalysisRuns only (the platform's history of finished releases). */
  clearRollout(): void {
    this.rollout.reset();
  }

  /** An AnalysisRun (one per stage) and the phase of each of its metrics. */
  setAnalysisRun(
    run: string,
    phase: AnalysisPhase,
    metrics: Readonly<Record<string, AnalysisPhase>>,
    namespace = this.namespace,
  ): void {
    for (const candidate of ANALYSIS_PHASES) {
      this.analysisRun.set({ namespace, name: run, phase: candidate }, candidate === phase ? 1 : 0);
      for (const [metric, metricPhase] of Object.entries(metrics)) {
        this.metricPhase.set(
          {
            namespace,
            name: run,
            metric,
            type: metric === 'gate' ? 'Job' : 'Prometheus',
            phase: candidate,
          },
          candidate === metricPhase ? 1 : 0,
        );
      }
    }
  }

  /** Serves /metrics on host:port (0: a free port); resolves with the address. */
  listen(host: string, port = 0): Promise<string> {
    this.server = createServer((request, response) => {
      if (request.url !== '/metrics') {
        response.writeHead(404).end('GET /metrics\n');
        return;
      }
      void this.registry.metrics().then((text) => {
        response.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text);
      });
    });
    const server = this.server;
    return new Promise((resolve) => {
      server.listen({ host, port }, () => {
        const address = server.address();
        resolve(`${host}:${String(typeof address === 'object' && address ? address.port : port)}`);
      });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
