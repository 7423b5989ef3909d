import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';

import {
  LOKI_SCHEMA_CONFIGS,
  lokiRetentionHelmValues,
  traceDerivedField,
  TRACING_DATASOURCE_UID,
} from '@slipway/monitoring/loki';
import { appServiceMonitorSpec, workerServiceMonitorSpec } from '@slipway/monitoring/service-monitor';
import { chartResources } from '../capacity.js';
import { CHARTS, pinnedRelease, type ChartName } from '../charts.js';
import { JAEGER_QUERY_URL } from './tracing.js';
import {
  HEARTBEAT_URL_SECRET,
  PAGERDUTY_ROUTING_KEY_SECRET,
  SLACK_WEBHOOK_SECRET,
  type MonitoringSources,
} from '../monitoring-sources.js';

export interface ObservabilityArgs {
  readonly provider: k8s.Provider;
  readonly sources: MonitoringSources;
  /** Alertmanager config (YAML) that reads the Slack webhook and PagerDuty key from files, never inline. */
  readonly alertmanagerConfig: string;
  readonly slackWebhookUrl: pulumi.Input<string>;
  /** PagerDuty Events API v2 routing key of the on-call service, which critical alerts page. */
  readonly pagerDutyRoutingKey: pulumi.Input<string>;
  /** The stack's dead man's switch URL: Watchdog pings it every minute. */
  readonly heartbeatUrl: pulumi.Input<string>;
  /** The app's namespace and the label selecting its metrics Service. */
  readonly appNamespace: string;
  readonly appLabels: Readonly<Record<string, string>>;
  /** Labels of the job worker's Services (`app.kubernetes.io/name` is the worker's scrape job). */
  readonly workerLabels: Readonly<Record<string, string>>;
  readonly prometheusRetention: string;
  /** Labels Prometheus adds to every series it sends out (alerts, remote reads): the stack and the cluster. */
  readonly externalLabels: Readonly<Record<'env' | 'cluster', string>>;
}

export const MONITORING_NAMESPACE = 'monitoring';
/** The Pushgateway's Service (and fullname) in the monitoring namespace. */
export const PUSHGATEWAY_SERVICE = 'pushgateway';
export const PUSHGATEWAY_PORT = 9091;
/** Where the backup and restore-drill jobs push (PUSHGATEWAY_URL). */
export const PUSHGATEWAY_URL = `http://${PUSHGATEWAY_SERVICE}.${MONITORING_NAMESPACE}.svc:${PUSHGATEWAY_PORT}`;
/** Service of the Prometheus that kube-prometheus-stack installs; the canary analysis queries it. */
export const PROMETHEUS_ADDRESS = `http://kube-prometheus-stack-prometheus.${MONITORING_NAMESPACE}.svc:9090`;
/** Service of the Alertmanager that kube-prometheus-stack installs; the Loki ruler sends its alerts there. */
export const ALERTMANAGER_ADDRESS = `http://kube-prometheus-stack-alertmanager.${MONITORING_NAMESPACE}.svc:9093`;
/** Label the Loki chart's rules sidecar watches; ConfigMaps carrying it are copied into the ruler. */
export const LOKI_RULE_LABEL = 'loki_rule';
/** The ruler reads `<dir>/<tenant>/*.yaml`; without auth_enabled Loki's only tenant is `fake`. */
const LOKI_RULES_DIR = '/rules';
const LOKI_TENANT = 'fake';

/** kube-prometheus-stack's monitors of control-plane parts EKS does not expose, and their default alerts, off. */
export const EKS_HIDDEN_COMPONENTS = {
  kubeControllerManager: { enabled: false },
  kubeScheduler: { enabled: false },
  kubeProxy: { enabled: false },
  kubeEtcd: { enabled: false },
  defaultRules: {
    rules: {
      kubeControllerManager: false,
      kubeSchedulerAlerting: false,
      kubeSchedulerRecording: false,
      kubeProxy: false,
      etcd: false,
    },
  },
} as const;

const ALLOY_CONFIG = `
discovery.kubernetes "pods" {
  role = "pod"
}
discovery.relabel "pods" {
  targets = discovery.kubernetes.pods.targets
  rule {
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    target_label  = "app"
  }
}
loki.source.kubernetes "pods" {
  targets    = discovery.relabel.pods.output
  forward_to = [loki.write.default.receiver]
}
loki.write "default" {
  endpoint {
    url = "http://loki.${MONITORING_NAMESPACE}.svc:3100/loki/api/v1/push"
  }
}
`;

/**
 * Metrics, logs and alerts: kube-prometheus-stack, Loki (single binary) and Alloy from pinned charts,
 * dashboards as labelled ConfigMaps, PrometheusRules and the Alertmanager config from monitoring/,
 * and ServiceMonitors for the app and its job worker.
 */
export class Observability extends pulumi.ComponentResource {
  public readonly prometheusAddress: string;
  public readonly namespace: string;
  /** The release that installs the prometheus-operator CRDs: charts rendering a ServiceMonitor wait for it. */
  public readonly operator: pulumi.Resource;
  /** What the app's analysis needs running first. */
  public readonly ready: pulumi.Resource[];

  constructor(name: string, args: ObservabilityArgs, opts?: pulumi.ComponentResourceOptions) {
    super('slipway:observability:Observability', name, {}, opts);
    const { provider } = args;
    const options = { parent: this, provider };

    const namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: MONITORING_NAMESPACE } },
      options,
    );
    const inNamespace = { ...options, dependsOn: [namespace] };

    const grafanaPassword = new random.RandomPassword(
      `${name}-grafana-admin`,
      { length: 32, special: false },
      {
        parent: this,
      },
    );
    const grafanaAdmin = new k8s.core.v1.Secret(
      `${name}-grafana-admin`,
      {
        metadata: { name: 'grafana-admin', namespace: MONITORING_NAMESPACE },
        stringData: { 'admin-user': 'admin', 'admin-password': pulumi.secret(grafanaPassword.result) },
      },
      inNamespace,
    );
    // The generated Alertmanager config reads both endpoints from files the operator mounts from these Secrets.
    const slack = new k8s.core.v1.Secret(
      `${name}-alertmanager-slack`,
      {
        metadata: { name: SLACK_WEBHOOK_SECRET.secretName, namespace: MONITORING_NAMESPACE },
        stringData: { [SLACK_WEBHOOK_SECRET.key]: pulumi.secret(args.slackWebhookUrl) },
      },
      inNamespace,
    );
    const pagerDuty = new k8s.core.v1.Secret(
      `${name}-alertmanager-pagerduty`,
      {
        metadata: { name: PAGERDUTY_ROUTING_KEY_SECRET.secretName, namespace: MONITORING_NAMESPACE },
        stringData: { [PAGERDUTY_ROUTING_KEY_SECRET.key]: pulumi.secret(args.pagerDutyRoutingKey) },
      },
      inNamespace,
    );
    const heartbeat = new k8s.core.v1.Secret(
      `${name}-alertmanager-heartbeat`,
      {
        metadata: { name: HEARTBEAT_URL_SECRET.secretName, namespace: MONITORING_NAMESPACE },
        stringData: { [HEARTBEAT_URL_SECRET.key]: pulumi.secret(args.heartbeatUrl) },
      },
      inNamespace,
    );
    const alertmanagerConfig = new k8s.core.v1.Secret(
      `${name}-alertmanager-config`,
      {
        metadata: { name: 'alertmanager-slipway', namespace: MONITORING_NAMESPACE },
        stringData: { 'alertmanager.yaml': args.alertmanagerConfig },
      },
      inNamespace,
    );

    const chart = (chartName: ChartName, values: Record<string, unknown>, dependsOn: pulumi.Resource[]) => {
      return new k8s.helm.v3.Release(
        CHARTS[chartName].chart,
        pinnedRelease(chartName, { namespace: MONITORING_NAMESPACE, values, timeoutSeconds: 900 }),
        { ...options, dependsOn: [namespace, ...dependsOn] },
      );
    };

    const stack = chart(
      'kubePrometheusStack',
      {
        fullnameOverride: 'kube-prometheus-stack',
        // EKS runs these on its control plane and exposes none of them: their monitors and alerts would page forever.
        ...EKS_HIDDEN_COMPONENTS,
        prometheus: {
          prometheusSpec: {
            retention: args.prometheusRetention,
            resources: chartResources('250m', '1536Mi'),
            externalLabels: args.externalLabels,
            // Select every ServiceMonitor and PrometheusRule, not only those labelled for this release.
            serviceMonitorSelectorNilUsesHelmValues: false,
            ruleSelectorNilUsesHelmValues: false,
            storageSpec: {
              volumeClaimTemplate: {
                spec: { storageClassName: 'gp3-encrypted', resources: { requests: { storage: '50Gi' } } },
              },
            },
          },
        },
        alertmanager: {
          alertmanagerSpec: {
            configSecret: 'alertmanager-slipway',
            resources: chartResources('25m', '64Mi'),
            secrets: [
              SLACK_WEBHOOK_SECRET.secretName,
              PAGERDUTY_ROUTING_KEY_SECRET.secretName,
              HEARTBEAT_URL_SECRET.secretName,
            ],
          },
        },
        prometheusOperator: {
          resources: chartResources('50m', '128Mi'),
          prometheusConfigReloader: { resources: chartResources('10m', '32Mi') },
        },
        'kube-state-metrics': { resources: chartResources('25m', '64Mi') },
        'prometheus-node-exporter': { resources: chartResources('25m', '32Mi') },
        grafana: {
          resources: chartResources('100m', '256Mi'),
          admin: { existingSecret: 'grafana-admin', userKey: 'admin-user', passwordKey: 'admin-password' },
          sidecar: {
            resources: chartResources('25m', '64Mi'),
            dashboards: { enabled: true, label: 'grafana_dashboard', searchNamespace: 'ALL' },
          },
          additionalDataSources: [
            {
              name: 'Loki',
              type: 'loki',
              url: `http://loki.${MONITORING_NAMESPACE}.svc:3100`,
              access: 'proxy',
              // a log line's trace_id opens its trace in Jaeger
              jsonData: { derivedFields: [traceDerivedField()] },
            },
            { name: 'Jaeger', type: 'jaeger', uid: TRACING_DATASOURCE_UID, url: JAEGER_QUERY_URL, access: 'proxy' },
          ],
        },
      },
      [grafanaAdmin, slack, pagerDuty, heartbeat, alertmanagerConfig],
    );
    // Jobs end before a scrape: backups and restore drills push their last success, RTO and RPO here.
    chart(
      'pushgateway',
      {
        fullnameOverride: PUSHGATEWAY_SERVICE,
        replicaCount: 1,
        resources: chartResources('10m', '32Mi'),
        // honorLabels keeps the pushed job and namespace, which the backup alerts select on.
        serviceMonitor: { enabled: true, honorLabels: true },
        // a lost push is re-sent by the next run; the alerts allow for a missed one
        persistentVolume: { enabled: false },
      },
      [stack],
    );
    const loki = chart(
      'loki',
      {
        deploymentMode: 'SingleBinary',
        loki: {
          auth_enabled: false,
          commonConfig: { replication_factor: 1 },
          storage: { type: 'filesystem' },
          schemaConfig: { configs: LOKI_SCHEMA_CONFIGS },
          // 30 days, deleted by the compactor: monitoring/ defines the retention once for every Loki.
          ...lokiRetentionHelmValues(),
          // Merged over the chart's own config, so this ruler storage replaces the chart's rather than repeating it.
          structuredConfig: {
            ruler: {
              alertmanager_url: ALERTMANAGER_ADDRESS,
              enable_api: true,
              storage: { type: 'local', local: { directory: LOKI_RULES_DIR } },
              rule_path: '/var/loki/rules-temp',
            },
          },
        },
        sidecar: {
          resources: chartResources('10m', '64Mi'),
          rules: { enabled: true, label: LOKI_RULE_LABEL, folder: `${LOKI_RULES_DIR}/${LOKI_TENANT}` },
        },
        singleBinary: {
          replicas: 1,
          resources: chartResources('200m', '512Mi'),
          persistence: { storageClass: 'gp3-encrypted', size: '50Gi' },
        },
        // The chart's memcached caches ask for about 9.8 GiB by default; one binary on a filesystem needs neither.
        chunksCache: { enabled: false },
        resultsCache: { enabled: false },
        lokiCanary: { enabled: false },
        gateway: { enabled: false },
        backend: { replicas: 0 },
        read: { replicas: 0 },
        write: { replicas: 0 },
      },
      [],
    );
    chart(
      'alloy',
      {
        alloy: { configMap: { content: ALLOY_CONFIG }, resources: chartResources('50m', '128Mi') },
        configReloader: { resources: chartResources('10m', '32Mi') },
      },
      [loki],
    );

    new k8s.core.v1.ConfigMap(
      `${name}-loki-rules`,
      {
        metadata: {
          name: 'loki-rules-erp-api',
          namespace: MONITORING_NAMESPACE,
          labels: { [LOKI_RULE_LABEL]: '1', 'app.kubernetes.io/part-of': 'slipway' },
        },
        data: { 'erp-api.yaml': args.sources.lokiRules },
      },
      inNamespace,
    );

    for (const dashboard of args.sources.dashboards)
      new k8s.core.v1.ConfigMap(
        `${name}-dashboard-${dashboard.name}`,
        {
          metadata: {
            name: `dashboard-${dashboard.name}`,
            namespace: MONITORING_NAMESPACE,
            labels: { grafana_dashboard: '1' },
          },
          data: { [`${dashboard.name}.json`]: dashboard.json },
        },
        inNamespace,
      );

    const rules = new k8s.apiextensions.CustomResource(
      `${name}-rules`,
      {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PrometheusRule',
        metadata: {
          name: 'erp-api',
          namespace: MONITORING_NAMESPACE,
          labels: { 'app.kubernetes.io/part-of': 'slipway' },
        },
        spec: { groups: args.sources.ruleGroups },
      },
      { ...options, dependsOn: [stack] },
    );
    const serviceMonitor = new k8s.apiextensions.CustomResource(
      `${name}-app-service-monitor`,
      {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'ServiceMonitor',
        metadata: { name: 'erp-api', namespace: MONITORING_NAMESPACE },
        // monitoring/ owns the job label every query selects; the spec sets it through `jobLabel`.
        spec: appServiceMonitorSpec(args.appNamespace, args.appLabels),
      },
      { ...options, dependsOn: [stack] },
    );

    // The job worker's series carry job="erp-api-worker", which every job-queue alert and KEDA's query select.
    new k8s.apiextensions.CustomResource(
      `${name}-worker-service-monitor`,
      {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'ServiceMonitor',
        metadata: { name: 'erp-api-worker', namespace: MONITORING_NAMESPACE },
        spec: workerServiceMonitorSpec(args.appNamespace, args.workerLabels),
      },
      { ...options, dependsOn: [stack] },
    );

    this.prometheusAddress = PROMETHEUS_ADDRESS;
    this.operator = stack;
    this.namespace = MONITORING_NAMESPACE;
    this.ready = [stack, rules, serviceMonitor];
    this.registerOutputs({ prometheusAddress: this.prometheusAddress });
  }
}
