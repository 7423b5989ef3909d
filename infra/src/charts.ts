import type * as k8s from '@pulumi/kubernetes';

/** Every Helm chart the platform installs, pinned to one exact version (the policy pack refuses ranges). */
export const CHARTS = {
  argoRollouts: { chart: 'argo-rollouts', version: '2.35.3', repo: 'https://argoproj.github.io/argo-helm' },
  kyverno: { chart: 'kyverno', version: '3.6.2', repo: 'https://kyverno.github.io/kyverno' },
  ingressNginx: { chart: 'ingress-nginx', version: '4.12.1', repo: 'https://kubernetes.github.io/ingress-nginx' },
  certManager: { chart: 'cert-manager', version: 'v1.19.3', repo: 'https://charts.jetstack.io' },
  kubePrometheusStack: {
    chart: 'kube-prometheus-stack',
    version: '75.15.0',
    repo: 'https://prometheus-community.github.io/helm-charts',
  },
  // Apache-2.0; backups and restore drills push their results here, Prometheus scrapes it with honorLabels.
  pushgateway: {
    chart: 'prometheus-pushgateway',
    version: '3.6.1',
    repo: 'https://prometheus-community.github.io/helm-charts',
  },
  loki: { chart: 'loki', version: '6.24.0', repo: 'https://grafana.github.io/helm-charts' },
  alloy: { chart: 'alloy', version: '0.12.0', repo: 'https://grafana.github.io/helm-charts' },
  // Jaeger v2 (Apache-2.0) all in one; Grafana Tempo is AGPL and not used.
  jaeger: { chart: 'jaeger', version: '4.11.1', repo: 'https://jaegertracing.github.io/helm-charts' },
  metricsServer: {
    chart: 'metrics-server',
    version: '3.12.2',
    repo: 'https://kubernetes-sigs.github.io/metrics-server/',
  },
  clusterAutoscaler: {
    chart: 'cluster-autoscaler',
    version: '9.46.6',
    repo: 'https://kubernetes.github.io/autoscaler',
  },
  // Apache-2.0; scales the job worker on queue depth read from Prometheus (2.18 supports Kubernetes 1.31-1.33).
  keda: { chart: 'keda', version: '2.18.3', repo: 'https://kedacore.github.io/charts' },
} as const;

export type ChartName = keyof typeof CHARTS;

/** A Helm release of one pinned chart, installed atomically: every caller gets the same name, version and repo. */
export function pinnedRelease(
  chartName: ChartName,
  args: {
    readonly namespace: string;
    readonly values: Record<string, unknown>;
    readonly timeoutSeconds: number;
    readonly createNamespace?: boolean;
  },
): k8s.helm.v3.ReleaseArgs {
  const pinned = CHARTS[chartName];
  return {
    name: pinned.chart,
    chart: pinned.chart,
    version: pinned.version,
    repositoryOpts: { repo: pinned.repo },
    namespace: args.namespace,
    ...(args.createNamespace === undefined ? {} : { createNamespace: args.createNamespace }),
    atomic: true,
    timeout: args.timeoutSeconds,
    values: args.values,
  };
}
