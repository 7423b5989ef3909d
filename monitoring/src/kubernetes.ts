import { stringify } from 'yaml';

import { alertmanagerConfig, DEFAULT_ALERTMANAGER_OPTIONS } from './alertmanager.js';
import type { AlertmanagerOptions } from './alertmanager.js';
import { DEFAULT_RUNBOOK_BASE_URL, SERVICE } from './config.js';
import { renderDashboards } from './dashboards/index.js';
import { DEFAULT_LOKI_OPTIONS, lokiConfig, lokiRuleGroups } from './loki.js';
import type { LokiOptions } from './loki.js';
import { ruleGroups } from './rules.js';

/**
 * The generated artefacts as Kubernetes objects, plain data for infra to hand to Pulumi
 * (`new k8s.apiextensions.CustomResource(name, prometheusRule(...))`, `new k8s.core.v1.ConfigMap(name, ...)`).
 */
export interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

export interface ObjectOptions {
  readonly namespace: string;
  /** Added to every object's labels. */
  readonly labels?: Readonly<Record<string, string>>;
}

const partOf = (options: ObjectOptions): Record<string, string> => ({
  'app.kubernetes.io/part-of': 'slipway',
  'app.kubernetes.io/managed-by': 'slipway-monitoring',
  ...options.labels,
});

/** The recording and alerting rules as one PrometheusRule (the Prometheus operator loads it). */
export function prometheusRule(options: ObjectOptions & { readonly runbookBaseUrl?: string }): KubernetesObject {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: SERVICE, namespace: options.namespace, labels: partOf(options) },
    spec: { groups: ruleGroups(options.runbookBaseUrl ?? DEFAULT_RUNBOOK_BASE_URL) },
  };
}

/** One ConfigMap per dashboard, labelled for the Grafana sidecar (kube-prometheus-stack: `grafana_dashboard`). */
export function dashboardConfigMaps(options: ObjectOptions & { readonly sidecarLabel?: string }): KubernetesObject[] {
  const sidecarLabel = options.sidecarLabel ?? 'grafana_dashboard';
  return [...renderDashboards()].map(([uid, dashboard]) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: `dashboard-${uid}`,
      namespace: options.namespace,
      labels: { ...partOf(options), [sidecarLabel]: '1' },
    },
    data: { [`${uid}.json`]: `${JSON.stringify(dashboard, null, 2)}\n` },
  }));
}

/** The Alertmanager config as the Secret `alertmanagerSpec.configSecret` names; it holds paths, not secrets. */
export function alertmanagerConfigSecret(
  options: ObjectOptions & { readonly name: string; readonly alertmanager?: AlertmanagerOptions },
): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: options.name, namespace: options.namespace, labels: partOf(options) },
    type: 'Opaque',
    stringData: {
      'alertmanager.yaml': stringify(alertmanagerConfig(options.alertmanager ?? DEFAULT_ALERTMANAGER_OPTIONS), {
        lineWidth: 0,
      }),
    },
  };
}

/** Loki's config and its ruler's rules, as one ConfigMap to mount at /etc/loki. */
export function lokiConfigMap(
  options: ObjectOptions & { readonly name: string; readonly loki?: LokiOptions; readonly runbookBaseUrl?: string },
): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: options.name, namespace: options.namespace, labels: partOf(options) },
    data: {
      'config.yaml': stringify(lokiConfig(options.loki ?? DEFAULT_LOKI_OPTIONS), { lineWidth: 0 }),
      'rules.yaml': stringify(lokiRuleGroups(options.runbookBaseUrl ?? DEFAULT_RUNBOOK_BASE_URL), { lineWidth: 0 }),
    },
  };
}
