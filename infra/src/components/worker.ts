import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

import { WORKER_JOB, WORKER_METRICS_SERVICE, WORKER_SELECTOR } from '@slipway/monitoring/config';
import type { ScaledObject } from '../../generated/crds/keda.sh/v1alpha1/ScaledObject.js';
import { chartResources } from '../capacity.js';
import { pinnedRelease } from '../charts.js';
import { podEnvironment, type PodValues } from '../pod-environment.js';
import { erpApiContainer, namespacePeer, POD_SECURITY, TMP_VOLUME, zoneSpread } from '../workload.js';
import { MONITORING_NAMESPACE } from './observability.js';

export interface WorkerArgs {
  readonly provider: k8s.Provider;
  readonly namespace: string;
  /** The Rollout's image, pinned by digest: the worker runs the same build (`erp-api worker`). */
  readonly image: string;
  /**
   * The worker's settings, split by the app's config schema like the server's; the same database role, Redis,
   * JWT secrets and pepper as the server (the schema requires them at startup), plus SMTP_URL and MAIL_FROM.
   */
  readonly environment: PodValues;
  /** Port of the SMTP relay (from `smtpUrl`), the only egress outside the VPC besides DNS. */
  readonly smtpPort: number;
  /** Where the database and Redis live. */
  readonly dataCidr: string;
  /** Where spans go (instrument.js runs before the worker too), like the server's. */
  readonly tracing: {
    readonly namespace: string;
    readonly podLabels: Readonly<Record<string, string>>;
    readonly port: number;
  };
  readonly prometheusAddress: string;
  /** The app's namespace, which every object here lives in. */
  readonly namespaceResource: pulumi.Resource;
  /** The migration Job of this image: `erp-api worker` exits 75 while a migration is pending. */
  readonly migration: pulumi.Resource;
  /** Admission rules that must be in place before the first pod. */
  readonly platform: pulumi.Resource[];
}

export const WORKER_NAME = WORKER_JOB;
export const WORKER_PORT = 8080;
export const WORKER_MIN_REPLICAS = 1;
export const WORKER_MAX_REPLICAS = 20;
/** The worker's SHUTDOWN_TIMEOUT_MS: running jobs get this long after SIGTERM. */
export const WORKER_SHUTDOWN_TIMEOUT_MS = 30_000;
/** Pod grace beyond the drain: the queues, Redis and the pool close after the jobs finish. */
const SHUTDOWN_MARGIN_SECONDS = 15;
/**
 * Waiting-plus-running jobs one worker is meant to carry: the default JOB_QUEUE_LIMIT (500) over the most workers,
 * so a full queue asks for every worker.
 */
export const JOBS_PER_WORKER = 25;
export const KEDA_NAMESPACE = 'keda';
/** `app.kubernetes.io/name` becomes the `job` label of every scraped series (the ServiceMonitor's jobLabel). */
export const WORKER_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/name': WORKER_NAME,
  'app.kubernetes.io/part-of': 'slipway',
};

/**
 * The queue depth KEDA scales on: jobs waiting or running, summed over the queues. Every worker exports the same
 * depth (read from Redis at each scrape), so each queue's value is the max across pods, never their sum.
 */
export function queueDepthQuery(namespace: string): string {
  return `sum(max by (queue) (jobs_queue_depth{${WORKER_SELECTOR},namespace="${namespace}",state=~"waiting|active"}))`;
}

/** 1 CPU at most for PDF rendering; memory requested as capped, so a busy node never OOM-kills a running job. */
export const WORKER_RESOURCES: NonNullable<k8s.types.input.core.v1.Container['resources']> = {
  requests: { cpu: '500m', memory: '512Mi' },
  limits: { cpu: '1', memory: '512Mi' },
};

/**
 * The background job worker (`erp-api worker`, invoice PDFs and outgoing mail) as a Deployment of the server's
 * image, scaled from 1 to 20 pods by KEDA on the queue depth Prometheus scrapes from the workers themselves.
 */
export class Worker extends pulumi.ComponentResource {
  public readonly labels: Readonly<Record<string, string>>;

  constructor(name: string, args: WorkerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('slipway:app:Worker', name, {}, opts);
    const { provider } = args;
    const options = { parent: this, provider, dependsOn: [args.namespaceResource] };
    const ns = args.namespace;
    const labels = WORKER_LABELS;
    const podLabels = { ...labels, 'app.kubernetes.io/component': 'worker' };

    const keda = new k8s.helm.v3.Release(
      `${name}-keda`,
      pinnedRelease('keda', {
        namespace: KEDA_NAMESPACE,
        createNamespace: true,
        timeoutSeconds: 600,
        values: {
          operator: { replicaCount: 1 },
          metricsServer: { replicaCount: 1 },
          webhooks: { enabled: true, replicaCount: 1 },
          resources: {
            operator: chartResources('100m', '256Mi'),
            metricServer: chartResources('100m', '128Mi'),
            webhooks: chartResources('50m', '64Mi'),
          },
        },
      }),
      { parent: this, provider },
    );

    const account = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      // The worker never calls the Kubernetes API and has no AWS role.
      { metadata: { name: WORKER_NAME, namespace: ns, labels }, automountServiceAccountToken: false },
      options,
    );
    const environment = podEnvironment({
      ...args.environment,
      HOST: '0.0.0.0',
      PORT: String(WORKER_PORT),
      SHUTDOWN_TIMEOUT_MS: String(WORKER_SHUTDOWN_TIMEOUT_MS),
    });
    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      { metadata: { name: WORKER_NAME, namespace: ns, labels }, data: environment.config },
      options,
    );
    const secret = new k8s.core.v1.Secret(
      `${name}-runtime`,
      { metadata: { name: `${WORKER_NAME}-runtime`, namespace: ns, labels }, stringData: environment.secret },
      options,
    );

    const deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name: WORKER_NAME, namespace: ns, labels },
        spec: {
          // No spec.replicas: KEDA's HPA owns the count, and a value here would reset it on every update.
          revisionHistoryLimit: 5,
          selector: { matchLabels: podLabels },
          // A new pod takes jobs before an old one stops: the queues are never without a consumer.
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
          template: {
            metadata: { labels: podLabels },
            spec: {
              serviceAccountName: account.metadata.name,
              automountServiceAccountToken: false,
              securityContext: POD_SECURITY,
              // SIGTERM stops taking jobs; running ones get SHUTDOWN_TIMEOUT_MS, then the connections close.
              terminationGracePeriodSeconds: WORKER_SHUTDOWN_TIMEOUT_MS / 1000 + SHUTDOWN_MARGIN_SECONDS,
              topologySpreadConstraints: zoneSpread(podLabels),
              volumes: [TMP_VOLUME],
              containers: [
                erpApiContainer({
                  name: WORKER_NAME,
                  image: args.image,
                  command: 'worker',
                  port: WORKER_PORT,
                  configMap: config.metadata.name,
                  secret: secret.metadata.name,
                  resources: WORKER_RESOURCES,
                }),
              ],
            },
          },
        },
      },
      { ...options, dependsOn: [args.namespaceResource, account, args.migration, ...args.platform] },
    );

    new k8s.core.v1.Service(
      `${name}-metrics`,
      {
        metadata: {
          name: WORKER_METRICS_SERVICE,
          namespace: ns,
          labels: { ...labels, 'slipway.dev/metrics': 'true' },
          // Only Prometheus reads it; its endpoints come with the Deployment's pods, which the Deployment awaits.
          annotations: { 'pulumi.com/skipAwait': 'true' },
        },
        spec: { selector: podLabels, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      },
      options,
    );

    const scaledObject: ScaledObject = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: WORKER_NAME },
        minReplicaCount: WORKER_MIN_REPLICAS,
        maxReplicaCount: WORKER_MAX_REPLICAS,
        // Prometheus scrapes the workers every 15 s: polling faster reads the same value.
        pollingInterval: 15,
        // Prometheus unreachable or the query empty 4 times in a row: hold at least 2 workers until it answers.
        fallback: { failureThreshold: 4, replicas: 2, behavior: 'currentReplicasIfHigher' },
        advanced: {
          horizontalPodAutoscalerConfig: {
            name: WORKER_NAME,
            behavior: {
              scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }] },
              // A drained backlog keeps its workers 5 minutes: bursts come in waves.
              scaleDown: {
                stabilizationWindowSeconds: 300,
                policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }],
              },
            },
          },
        },
        triggers: [
          {
            type: 'prometheus',
            name: 'queue-depth',
            metricType: 'AverageValue',
            metadata: {
              serverAddress: args.prometheusAddress,
              query: queueDepthQuery(ns),
              threshold: String(JOBS_PER_WORKER),
              // An empty result is an error (fallback), not 0: a query that selects nothing must not pass quietly.
              ignoreNullValues: 'false',
            },
          },
        ],
      },
    };
    new k8s.apiextensions.CustomResource(
      `${name}-scaled-object`,
      {
        apiVersion: scaledObject.apiVersion ?? '',
        kind: scaledObject.kind ?? '',
        metadata: { name: WORKER_NAME, namespace: ns, labels },
        spec: scaledObject.spec,
      },
      { ...options, dependsOn: [args.namespaceResource, keda, deployment] },
    );

    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      {
        metadata: { name: WORKER_NAME, namespace: ns, labels },
        // maxUnavailable, not minAvailable 1: at one replica a node could never drain; a job cut short runs again.
        spec: { maxUnavailable: 1, selector: { matchLabels: podLabels } },
      },
      options,
    );

    new k8s.networking.v1.NetworkPolicy(
      `${name}-netpol`,
      {
        metadata: { name: WORKER_NAME, namespace: ns, labels },
        spec: {
          podSelector: { matchLabels: podLabels },
          policyTypes: ['Ingress', 'Egress'],
          // Prometheus scrapes /metrics; the kubelet's probes are not subject to NetworkPolicy.
          ingress: [{ from: [namespacePeer(MONITORING_NAMESPACE)], ports: [{ protocol: 'TCP', port: WORKER_PORT }] }],
          egress: [
            {
              to: [namespacePeer('kube-system')],
              ports: [
                { protocol: 'UDP', port: 53 },
                { protocol: 'TCP', port: 53 },
              ],
            },
            {
              to: [{ ipBlock: { cidr: args.dataCidr } }],
              ports: [
                { protocol: 'TCP', port: 5432 },
                { protocol: 'TCP', port: 6379 },
              ],
            },
            // The relay's address is the provider's (SES, a corporate relay): open its port only.
            { to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ protocol: 'TCP', port: args.smtpPort }] },
            {
              to: [{ ...namespacePeer(args.tracing.namespace), podSelector: { matchLabels: args.tracing.podLabels } }],
              ports: [{ protocol: 'TCP', port: args.tracing.port }],
            },
          ],
        },
      },
      options,
    );

    this.labels = podLabels;
    this.registerOutputs({});
  }
}
