/**
 * What the scheduler has and what we ask of it: allocatable CPU and memory per node type, the pods EKS runs on every
 * cluster, and where each chart keeps the requests and replicas we set explicitly (the capacity check reads them back
 * from the rendered Helm values, so a chart left at its defaults fails it).
 */
import type { ChartName } from './charts.js';

/** CPU in millicores and memory in MiB. */
export interface Amount {
  readonly cpu: number;
  readonly memory: number;
}

/** Requests and a memory limit for a chart's container, in Kubernetes quantities. */
export function chartResources(cpu: string, memory: string) {
  return { requests: { cpu, memory }, limits: { memory } };
}

/** vCPUs, memory in GiB and the VPC CNI's pod limit (without prefix delegation) of the node types we approve. */
const NODE_TYPES: Readonly<Record<string, { vcpus: number; memoryGiB: number; maxPods: number }>> = {
  't3.medium': { vcpus: 2, memoryGiB: 4, maxPods: 17 },
  't3.large': { vcpus: 2, memoryGiB: 8, maxPods: 35 },
  't3a.large': { vcpus: 2, memoryGiB: 8, maxPods: 35 },
  'm6i.large': { vcpus: 2, memoryGiB: 8, maxPods: 29 },
  'm7i.large': { vcpus: 2, memoryGiB: 8, maxPods: 29 },
  'm6i.xlarge': { vcpus: 4, memoryGiB: 16, maxPods: 58 },
  'm7i.xlarge': { vcpus: 4, memoryGiB: 16, maxPods: 58 },
  'm7i.2xlarge': { vcpus: 8, memoryGiB: 32, maxPods: 58 },
};

/**
 * What the kubelet of the EKS AMI leaves to pods: memory minus 11 MiB per pod + 255 MiB (kube-reserved), 100 MiB
 * (eviction) and 5% the kernel and hypervisor keep from the nominal size; CPU minus 6% of the first core, 1% of the
 * second, 0.5% of the third and fourth, 0.25% of the rest.
 */
export function allocatable(instanceType: string): Amount & { readonly pods: number } {
  const node = NODE_TYPES[instanceType];
  if (node === undefined)
    throw new Error(
      `no allocatable figures for node type ${instanceType}: add it to NODE_TYPES in infra/src/capacity.ts`,
    );
  const cores = Array.from({ length: node.vcpus }, (_, index) => index);
  const reservedCpu = cores.reduce((sum, core) => sum + (core === 0 ? 60 : core === 1 ? 10 : core < 4 ? 5 : 2.5), 0);
  const memory = Math.floor(node.memoryGiB * 1024 * 0.95) - (11 * node.maxPods + 255) - 100;
  return { cpu: node.vcpus * 1000 - reservedCpu, memory, pods: node.maxPods };
}

/** Pods EKS itself runs: per node (aws-node, kube-proxy, EBS CSI node) and per cluster (CoreDNS, EBS CSI controller). */
export const EKS_SYSTEM_PODS: readonly {
  readonly name: string;
  readonly perNode: boolean;
  readonly count: number;
  readonly requests: Amount;
}[] = [
  { name: 'aws-node', perNode: true, count: 1, requests: { cpu: 25, memory: 0 } },
  { name: 'kube-proxy', perNode: true, count: 1, requests: { cpu: 100, memory: 0 } },
  { name: 'ebs-csi-node', perNode: true, count: 1, requests: { cpu: 30, memory: 120 } },
  { name: 'coredns', perNode: false, count: 2, requests: { cpu: 100, memory: 70 } },
  { name: 'ebs-csi-controller', perNode: false, count: 2, requests: { cpu: 60, memory: 240 } },
];

/** One workload of a chart: where its container resources and its replica count live in the values. */
export interface ChartWorkload {
  readonly name: string;
  readonly resources: readonly string[];
  /** A path to the replica count, a fixed count, or one per node (a DaemonSet). */
  readonly replicas: readonly string[] | number | 'perNode';
  /** Where the chart's on/off switch is, for workloads the chart starts unless told not to. */
  readonly enabled?: readonly string[];
}

/** Every long-running workload each chart starts with our values (caches, canaries and gateways switched off). */
export const CHART_WORKLOADS: Readonly<Record<ChartName, readonly ChartWorkload[]>> = {
  argoRollouts: [{ name: 'controller', resources: ['controller', 'resources'], replicas: ['controller', 'replicas'] }],
  kyverno: [
    {
      name: 'admission-controller',
      resources: ['admissionController', 'container', 'resources'],
      replicas: ['admissionController', 'replicas'],
    },
    {
      name: 'background-controller',
      resources: ['backgroundController', 'resources'],
      replicas: ['backgroundController', 'replicas'],
    },
    {
      name: 'cleanup-controller',
      resources: ['cleanupController', 'resources'],
      replicas: ['cleanupController', 'replicas'],
    },
    {
      name: 'reports-controller',
      resources: ['reportsController', 'resources'],
      replicas: ['reportsController', 'replicas'],
    },
  ],
  ingressNginx: [
    { name: 'controller', resources: ['controller', 'resources'], replicas: ['controller', 'replicaCount'] },
  ],
  certManager: [
    { name: 'controller', resources: ['resources'], replicas: 1 },
    { name: 'webhook', resources: ['webhook', 'resources'], replicas: 1 },
    { name: 'cainjector', resources: ['cainjector', 'resources'], replicas: 1 },
  ],
  kubePrometheusStack: [
    { name: 'prometheus', resources: ['prometheus', 'prometheusSpec', 'resources'], replicas: 1 },
    { name: 'alertmanager', resources: ['alertmanager', 'alertmanagerSpec', 'resources'], replicas: 1 },
    { name: 'grafana', resources: ['grafana', 'resources'], replicas: 1 },
    { name: 'grafana-sidecar', resources: ['grafana', 'sidecar', 'resources'], replicas: 1 },
    { name: 'operator', resources: ['prometheusOperator', 'resources'], replicas: 1 },
    // The operator adds this reloader to the Prometheus and the Alertmanager pod.
    {
      name: 'config-reloader',
      resources: ['prometheusOperator', 'prometheusConfigReloader', 'resources'],
      replicas: 2,
    },
    { name: 'kube-state-metrics', resources: ['kube-state-metrics', 'resources'], replicas: 1 },
    { name: 'node-exporter', resources: ['prometheus-node-exporter', 'resources'], replicas: 'perNode' },
  ],
  pushgateway: [{ name: 'pushgateway', resources: ['resources'], replicas: ['replicaCount'] }],
  loki: [
    { name: 'single-binary', resources: ['singleBinary', 'resources'], replicas: ['singleBinary', 'replicas'] },
    { name: 'rules-sidecar', resources: ['sidecar', 'resources'], replicas: ['singleBinary', 'replicas'] },
    // On by default in chart 6.x; the chunks cache alone asks for about 9.8 GiB.
    { name: 'chunks-cache', resources: ['chunksCache', 'resources'], replicas: 1, enabled: ['chunksCache', 'enabled'] },
    {
      name: 'results-cache',
      resources: ['resultsCache', 'resources'],
      replicas: 1,
      enabled: ['resultsCache', 'enabled'],
    },
    { name: 'canary', resources: ['lokiCanary', 'resources'], replicas: 'perNode', enabled: ['lokiCanary', 'enabled'] },
    {
      name: 'gateway',
      resources: ['gateway', 'resources'],
      replicas: ['gateway', 'replicas'],
      enabled: ['gateway', 'enabled'],
    },
  ],
  jaeger: [{ name: 'jaeger', resources: ['jaeger', 'resources'], replicas: ['jaeger', 'replicas'] }],
  metricsServer: [{ name: 'metrics-server', resources: ['resources'], replicas: ['replicas'] }],
  clusterAutoscaler: [{ name: 'cluster-autoscaler', resources: ['resources'], replicas: ['replicaCount'] }],
  keda: [
    { name: 'operator', resources: ['resources', 'operator'], replicas: ['operator', 'replicaCount'] },
    {
      name: 'metrics-apiserver',
      resources: ['resources', 'metricServer'],
      replicas: ['metricsServer', 'replicaCount'],
    },
    {
      name: 'admission-webhooks',
      resources: ['resources', 'webhooks'],
      replicas: ['webhooks', 'replicaCount'],
      enabled: ['webhooks', 'enabled'],
    },
  ],
  alloy: [
    { name: 'alloy', resources: ['alloy', 'resources'], replicas: 'perNode' },
    { name: 'config-reloader', resources: ['configReloader', 'resources'], replicas: 'perNode' },
  ],
};

/** `250m` → 250, `1` → 1000; `512Mi` → 512, `1Gi` → 1024. Anything else is refused by name. */
export function parseQuantity(kind: 'cpu' | 'memory', value: unknown): number {
  const text = String(value);
  const cpu = /^(\d+(?:\.\d+)?)(m?)$/.exec(text);
  if (kind === 'cpu' && cpu !== null) return Number(cpu[1]) * (cpu[2] === 'm' ? 1 : 1000);
  const memory = /^(\d+)(Mi|Gi)$/.exec(text);
  if (kind === 'memory' && memory !== null) return Number(memory[1]) * (memory[2] === 'Gi' ? 1024 : 1);
  throw new Error(
    `${kind} quantity ${JSON.stringify(value)} is not one this check reads: write it as 250m or 1, 512Mi or 2Gi`,
  );
}
