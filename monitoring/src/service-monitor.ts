import {
  APP_JOB,
  APP_JOB_LABEL,
  METRICS_PORT,
  METRICS_SERVICE_LABEL,
  POD_TARGET_LABELS,
  WORKER_JOB,
} from './config.js';

/**
 * The app's ServiceMonitor, and the scrape relabelling prometheus-operator generates from it. Infra deploys the
 * spec; the promtool fixtures and the live Prometheus test take their labels from the same relabelling, so a
 * query can only select what the cluster's Prometheus really attaches.
 */

export interface ServiceMonitorSpec {
  /** Label of the Service whose value becomes `job`; without it the operator uses the Service's name. */
  readonly jobLabel?: string;
  readonly namespaceSelector: { readonly matchNames: readonly string[] };
  readonly selector: { readonly matchLabels: Readonly<Record<string, string>> };
  readonly podTargetLabels: readonly string[];
  readonly endpoints: readonly { readonly port: string; readonly path: string; readonly interval: string }[];
}

/**
 * The ServiceMonitor spec of erp-api's metrics Service. `serviceLabels` are the labels every app Service carries;
 * `APP_JOB_LABEL` among them must hold `APP_JOB`, or every query selects nothing.
 */
export function appServiceMonitorSpec(
  appNamespace: string,
  serviceLabels: Readonly<Record<string, string>>,
): ServiceMonitorSpec {
  if (serviceLabels[APP_JOB_LABEL] !== APP_JOB)
    throw new Error(
      `the app's Service labels ${JSON.stringify(serviceLabels)} do not set ${APP_JOB_LABEL}=${APP_JOB}: every query selects job="${APP_JOB}", so label the Services with it`,
    );
  return {
    jobLabel: APP_JOB_LABEL,
    namespaceSelector: { matchNames: [appNamespace] },
    selector: { matchLabels: { ...serviceLabels, ...METRICS_SERVICE_LABEL } },
    podTargetLabels: [...POD_TARGET_LABELS],
    endpoints: [{ port: METRICS_PORT, path: '/metrics', interval: '15s' }],
  };
}

/**
 * The ServiceMonitor spec of the worker's metrics Service: the same relabelling as the app's, so its series carry
 * `job="${WORKER_JOB}"` from the Service's `APP_JOB_LABEL`; `serviceLabels` must set it.
 */
export function workerServiceMonitorSpec(
  appNamespace: string,
  serviceLabels: Readonly<Record<string, string>>,
): ServiceMonitorSpec {
  if (serviceLabels[APP_JOB_LABEL] !== WORKER_JOB)
    throw new Error(
      `the worker's Service labels ${JSON.stringify(serviceLabels)} do not set ${APP_JOB_LABEL}=${WORKER_JOB}: every job-queue query selects job="${WORKER_JOB}", so label the worker's Service with it`,
    );
  return {
    jobLabel: APP_JOB_LABEL,
    namespaceSelector: { matchNames: [appNamespace] },
    selector: { matchLabels: { ...serviceLabels, ...METRICS_SERVICE_LABEL } },
    podTargetLabels: [],
    endpoints: [{ port: METRICS_PORT, path: '/metrics', interval: '15s' }],
  };
}

/** One `relabel_configs` entry, as Prometheus reads it. */
export interface RelabelConfig {
  readonly action?: 'replace' | 'keep' | 'drop';
  readonly source_labels?: readonly string[];
  readonly separator?: string;
  readonly regex?: string;
  readonly replacement?: string;
  readonly target_label?: string;
}

/** How Prometheus's Kubernetes discovery turns a label name into a meta label suffix. */
export function sanitizeLabelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

/**
 * The relabelling prometheus-operator writes for endpoint `index` of a ServiceMonitor (role endpoints), for the
 * fields this repository uses: selector, port, the standard target labels, `jobLabel`, `podTargetLabels`.
 */
export function operatorRelabelConfigs(spec: ServiceMonitorSpec, index = 0): RelabelConfig[] {
  const endpoint = spec.endpoints[index];
  if (endpoint === undefined)
    throw new Error(`the ServiceMonitor has no endpoint ${index}: it has ${spec.endpoints.length}`);
  const selector = Object.entries(spec.selector.matchLabels).map(([key, value]): RelabelConfig => ({
    action: 'keep',
    source_labels: [
      `__meta_kubernetes_service_label_${sanitizeLabelName(key)}`,
      `__meta_kubernetes_service_labelpresent_${sanitizeLabelName(key)}`,
    ],
    regex: `(${value});true`,
  }));
  const targetKind = [
    '__meta_kubernetes_endpoint_address_target_kind',
    '__meta_kubernetes_endpoint_address_target_name',
  ];
  return [
    ...selector,
    { action: 'keep', source_labels: ['__meta_kubernetes_endpoint_port_name'], regex: endpoint.port },
    { source_labels: targetKind, separator: ';', regex: 'Node;(.*)', replacement: '${1}', target_label: 'node' },
    { source_labels: targetKind, separator: ';', regex: 'Pod;(.*)', replacement: '${1}', target_label: 'pod' },
    { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
    { source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' },
    { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
    { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
    { action: 'drop', source_labels: ['__meta_kubernetes_pod_phase'], regex: '(Failed|Succeeded)' },
    { source_labels: ['__meta_kubernetes_service_name'], target_label: 'job', replacement: '${1}' },
    ...(spec.jobLabel === undefined
      ? []
      : [
          {
            source_labels: [`__meta_kubernetes_service_label_${sanitizeLabelName(spec.jobLabel)}`],
            target_label: 'job',
            regex: '(.+)',
            replacement: '${1}',
          },
        ]),
    ...spec.podTargetLabels.map((label): RelabelConfig => ({
      source_labels: [`__meta_kubernetes_pod_label_${sanitizeLabelName(label)}`],
      target_label: sanitizeLabelName(label),
      regex: '(.+)',
      replacement: '${1}',
    })),
    { target_label: 'endpoint', replacement: endpoint.port },
  ];
}

/** A pod behind a Service, as Kubernetes discovery (role endpoints) describes one of its ports. */
export interface DiscoveredEndpoint {
  readonly address: string;
  readonly namespace: string;
  readonly service: { readonly name: string; readonly labels: Readonly<Record<string, string>> };
  readonly pod: {
    readonly name: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly container: string;
  };
  readonly portName: string;
}

/** The meta labels Prometheus's Kubernetes discovery gives that endpoint, before relabelling. */
export function discoveryLabels(endpoint: DiscoveredEndpoint): Record<string, string> {
  const labels: Record<string, string> = {
    __address__: endpoint.address,
    __meta_kubernetes_namespace: endpoint.namespace,
    __meta_kubernetes_service_name: endpoint.service.name,
    __meta_kubernetes_endpoint_port_name: endpoint.portName,
    __meta_kubernetes_endpoint_address_target_kind: 'Pod',
    __meta_kubernetes_endpoint_address_target_name: endpoint.pod.name,
    __meta_kubernetes_pod_name: endpoint.pod.name,
    __meta_kubernetes_pod_container_name: endpoint.pod.container,
    __meta_kubernetes_pod_phase: 'Running',
  };
  for (const [key, value] of Object.entries(endpoint.service.labels)) {
    labels[`__meta_kubernetes_service_label_${sanitizeLabelName(key)}`] = value;
    labels[`__meta_kubernetes_service_labelpresent_${sanitizeLabelName(key)}`] = 'true';
  }
  for (const [key, value] of Object.entries(endpoint.pod.labels))
    labels[`__meta_kubernetes_pod_label_${sanitizeLabelName(key)}`] = value;
  return labels;
}

/**
 * Applies relabel configs as Prometheus does (replace, keep, drop; anchored regexes) and returns the target's
 * labels without the `__` ones, plus `instance` (the address, unless set); `undefined` when the target is dropped.
 */
export function relabel(
  labels: Readonly<Record<string, string>>,
  configs: readonly RelabelConfig[],
): Record<string, string> | undefined {
  const current: Record<string, string> = { ...labels };
  for (const config of configs) {
    const value = (config.source_labels ?? []).map((name) => current[name] ?? '').join(config.separator ?? ';');
    const match = new RegExp(`^(?:${config.regex ?? '(.*)'})$`).exec(value);
    const action = config.action ?? 'replace';
    if (action === 'keep' && match === null) return undefined;
    if (action === 'drop' && match !== null) return undefined;
    if (action !== 'replace' || match === null || config.target_label === undefined) continue;
    const result = (config.replacement ?? '$1').replace(/\$\{(\d+)\}|\$(\d+)/g, (_all, a?: string, b?: string) => {
      return match[Number(a ?? b)] ?? '';
    });
    if (result === '') Reflect.deleteProperty(current, config.target_label);
    else current[config.target_label] = result;
  }
  const target = Object.fromEntries(Object.entries(current).filter(([name]) => !name.startsWith('__')));
  return { instance: current.__address__ ?? '', ...target };
}
