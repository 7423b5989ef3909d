import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

import { chartResources } from '../capacity.js';
import { CHARTS, pinnedRelease } from '../charts.js';

export const TRACING_NAMESPACE = 'tracing';
/** The chart's Deployment and Service are named after the release (fullnameOverride). */
export const JAEGER_NAME = 'jaeger';
export const JAEGER_OTLP_HTTP_PORT = 4318;
export const JAEGER_QUERY_PORT = 16686;
/** Labels the chart puts on Jaeger's pod; the app's egress rule and this namespace's policies select it by them. */
export const JAEGER_POD_LABELS = { 'app.kubernetes.io/name': 'jaeger', 'app.kubernetes.io/instance': JAEGER_NAME };
/** What every pod's OTEL_EXPORTER_OTLP_ENDPOINT names: the in-cluster Service, OTLP over HTTP. */
export const JAEGER_OTLP_ENDPOINT = `http://${JAEGER_NAME}.${TRACING_NAMESPACE}.svc:${JAEGER_OTLP_HTTP_PORT}`;
/** Where Grafana and a port-forward reach the query API and UI. */
export const JAEGER_QUERY_URL = `http://${JAEGER_NAME}.${TRACING_NAMESPACE}.svc:${JAEGER_QUERY_PORT}`;
const DATA_DIR = '/var/lib/jaeger';
const HEALTH_PORT = 13133;

export interface TracingArgs {
  readonly provider: k8s.Provider;
  /** Namespaces whose pods export spans (OTLP/HTTP in). */
  readonly exporterNamespaces: readonly string[];
  /** Where Grafana runs: the only reader of the query API inside the cluster. */
  readonly queryNamespace: string;
  readonly retentionHours: number;
  readonly storageGib: number;
  readonly protectData: boolean;
}

/**
 * Jaeger v2's configuration for the cluster: OTLP/HTTP in, Badger on a volume with a span TTL, the query API and UI,
 * a health endpoint for the chart's probes. No tail sampling: the app samples by ratio at the head (see README).
 */
export function jaegerClusterConfig(retentionHours: number): Record<string, unknown> {
  return {
    service: {
      extensions: ['jaeger_storage', 'jaeger_query', 'healthcheckv2'],
      pipelines: {
        traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['jaeger_storage_exporter'] },
      },
    },
    extensions: {
      healthcheckv2: { use_v2: true, http: { endpoint: `0.0.0.0:${HEALTH_PORT}` } },
      jaeger_storage: {
        backends: {
          spans: {
            badger: {
              directories: { keys: `${DATA_DIR}/keys`, values: `${DATA_DIR}/values` },
              ephemeral: false,
              ttl: { spans: `${retentionHours}h` },
            },
          },
        },
      },
      jaeger_query: {
        storage: { traces: 'spans' },
        enable_tracing: false,
        http: { endpoint: `0.0.0.0:${JAEGER_QUERY_PORT}` },
      },
    },
    receivers: { otlp: { protocols: { http: { endpoint: `0.0.0.0:${JAEGER_OTLP_HTTP_PORT}` } } } },
    processors: { batch: {} },
    exporters: { jaeger_storage_exporter: { trace_storage: 'spans' } },
  };
}

/**
 * Traces: Jaeger v2 (all in one: OTLP receiver, Badger storage on an encrypted volume, query API and UI) from the
 * pinned chart, in its own namespace, reachable only from the exporting namespaces (OTLP) and Grafana (query).
 */
export class Tracing extends pulumi.ComponentResource {
  public readonly namespace: string;
  public readonly otlpEndpoint: string;
  public readonly queryUrl: string;
  public readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: TracingArgs, opts?: pulumi.ComponentResourceOptions) {
    super('slipway:tracing:Tracing', name, {}, opts);
    const options = { parent: this, provider: args.provider };
    const labels = { 'app.kubernetes.io/part-of': 'slipway' };

    const namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: TRACING_NAMESPACE, labels } },
      options,
    );
    const inNamespace = { ...options, dependsOn: [namespace] };
    const volume = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-data`,
      {
        metadata: { name: 'jaeger-data', namespace: TRACING_NAMESPACE, labels },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: 'gp3-encrypted',
          resources: { requests: { storage: `${args.storageGib}Gi` } },
        },
      },
      { ...inNamespace, protect: args.protectData },
    );

    this.release = new k8s.helm.v3.Release(
      CHARTS.jaeger.chart,
      pinnedRelease('jaeger', {
        namespace: TRACING_NAMESPACE,
        timeoutSeconds: 600,
        values: {
          fullnameOverride: JAEGER_NAME,
          userconfig: jaegerClusterConfig(args.retentionHours),
          jaeger: {
            replicas: 1,
            resources: chartResources('100m', '512Mi'),
            serviceAccount: { automountServiceAccountToken: false },
            securityContext: {
              readOnlyRootFilesystem: true,
              allowPrivilegeEscalation: false,
              runAsNonRoot: true,
              capabilities: { drop: ['ALL'] },
            },
            extraVolumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'jaeger-data' } }],
            extraVolumeMounts: [{ name: 'data', mountPath: DATA_DIR }],
          },
        },
      }),
      { ...options, dependsOn: [namespace, volume] },
    );

    const namespaceSelector = (namespaceName: string) => ({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespaceName } },
    });
    const policy = (policyName: string, spec: k8s.types.input.networking.v1.NetworkPolicySpec) =>
      new k8s.networking.v1.NetworkPolicy(
        `${name}-netpol-${policyName}`,
        { metadata: { name: policyName, namespace: TRACING_NAMESPACE, labels }, spec },
        inNamespace,
      );
    // Nothing in, nothing out, unless a rule below says so: Jaeger writes to its volume and calls nobody.
    policy('default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    // every pod of the namespace: it holds Jaeger alone, and its pods are rendered by the chart, not here
    policy('jaeger', {
      podSelector: {},
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: args.exporterNamespaces.map(namespaceSelector),
          ports: [{ protocol: 'TCP', port: JAEGER_OTLP_HTTP_PORT }],
        },
        { from: [namespaceSelector(args.queryNamespace)], ports: [{ protocol: 'TCP', port: JAEGER_QUERY_PORT }] },
      ],
    });

    this.namespace = TRACING_NAMESPACE;
    this.otlpEndpoint = JAEGER_OTLP_ENDPOINT;
    this.queryUrl = JAEGER_QUERY_URL;
    this.registerOutputs({ namespace: this.namespace, otlpEndpoint: this.otlpEndpoint });
  }
}
