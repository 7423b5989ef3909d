import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

import { chartResources } from '../capacity.js';
import { CHARTS, pinnedRelease, type ChartName } from '../charts.js';
import { ATTESTATION_TYPES, REQUIRED_ATTESTATIONS } from '@slipway/pipelines/release/identity';
import type { ClusterPolicy } from '../../generated/crds/kyverno.io/v1/ClusterPolicy.js';

export interface DeliveryArgs {
  readonly provider: k8s.Provider;
  /** Repository of our images: only these must carry our signature. */
  readonly imageRepositories: readonly string[];
  /** Keyless signing identity (the release workflow) and its OIDC issuer. */
  readonly signingIdentity: string;
  readonly signingIssuer: string;
  /** Namespaces where the workload rules (non-root, limits, no :latest) are enforced. */
  readonly enforcedNamespaces: readonly string[];
  readonly acmeEmail: string;
  /** The release that installs the ServiceMonitor CRD; argo-rollouts renders a ServiceMonitor. */
  readonly monitoringOperator: pulumi.Resource;
}

export const CLUSTER_ISSUER = 'letsencrypt';
export const INGRESS_NAMESPACE = 'ingress-nginx';
/**
 * Proxies between a client and the app that write X-Forwarded-For: ingress-nginx alone. The NLB in front is layer 4
 * and keeps the client address (externalTrafficPolicy Local), and nginx replaces any X-Forwarded-For a client sends.
 */
export const INGRESS_PROXY_HOPS = 1;

function release(
  parent: pulumi.ComponentResource,
  provider: k8s.Provider,
  name: ChartName,
  namespace: string,
  values: Record<string, unknown>,
  dependsOn: pulumi.Resource[] = [],
): k8s.helm.v3.Release {
  return new k8s.helm.v3.Release(
    CHARTS[name].chart,
    pinnedRelease(name, { namespace, values, timeoutSeconds: 900, createNamespace: true }),
    { parent, provider, dependsOn },
  );
}

function clusterPolicy(
  parent: pulumi.ComponentResource,
  provider: k8s.Provider,
  name: string,
  // Typed from the pinned chart's CRD (generated/crds/): a field Kyverno does not read fails typecheck.
  spec: ClusterPolicy['spec'],
  dependsOn: pulumi.Resource[],
): k8s.apiextensions.CustomResource {
  return new k8s.apiextensions.CustomResource(
    `kyverno-${name}`,
    {
      apiVersion: 'kyverno.io/v1',
      kind: 'ClusterPolicy',
      // Ready means Kyverno has loaded the policy into its webhook: pods created after it are checked.
      metadata: { name, annotations: { 'pulumi.com/waitFor': 'condition=Ready' } },
      spec,
    },
    { parent, provider, dependsOn },
  );
}

/**
 * How releases reach the cluster and what the cluster admits: Argo Rollouts (canaries), ingress-nginx
 * (weighted traffic), cert-manager (TLS), and Kyverno refusing unsigned, unpinned, root or unbounded workloads.
 */
export class Delivery extends pulumi.ComponentResource {
  /** Resources a Rollout needs before it can be created: the CRDs and admission rules. */
  public readonly ready: pulumi.Resource[];
  public readonly clusterIssuer: string;

  constructor(name: string, args: DeliveryArgs, opts?: pulumi.ComponentResourceOptions) {
    super('slipway:delivery:Delivery', name, {}, opts);
    const { provider } = args;

    const rollouts = release(
      this,
      provider,
      'argoRollouts',
      'argo-rollouts',
      {
        controller: {
          replicas: 2,
          resources: chartResources('100m', '128Mi'),
          metrics: { enabled: true, serviceMonitor: { enabled: true } },
        },
        dashboard: { enabled: false },
      },
      [args.monitoringOperator],
    );
    const kyverno = release(this, provider, 'kyverno', 'kyverno', {
      admissionController: { replicas: 3, container: { resources: chartResources('100m', '256Mi') } },
      backgroundController: { replicas: 2, resources: chartResources('50m', '128Mi') },
      cleanupController: { replicas: 2, resources: chartResources('25m', '64Mi') },
      reportsController: { replicas: 2, resources: chartResources('50m', '128Mi') },
    });
    const ingress = release(
      this,
      provider,
      'ingressNginx',
      INGRESS_NAMESPACE,
      {
        controller: {
          replicaCount: 2,
          resources: chartResources('100m', '128Mi'),
          service: {
            annotations: { 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' },
            // Without it the NLB's traffic is SNATed to a node address and every client looks the same.
            externalTrafficPolicy: 'Local',
          },
          // monitoring/'s edge SLI reads the controller's request metrics: it sees the 503s when no pod is ready.
          metrics: { enabled: true, serviceMonitor: { enabled: true } },
          config: { 'ssl-redirect': 'true', hsts: 'true', 'use-forwarded-headers': 'false' },
        },
      },
      // Its ServiceMonitor needs the CRD that kube-prometheus-stack installs.
      [args.monitoringOperator],
    );
    const certManager = release(this, provider, 'certManager', 'cert-manager', {
      crds: { enabled: true },
      resources: chartResources('25m', '64Mi'),
      webhook: { resources: chartResources('25m', '64Mi') },
      cainjector: { resources: chartResources('25m', '128Mi') },
    });

    const issuer = new k8s.apiextensions.CustomResource(
      `${name}-cluster-issuer`,
      {
        apiVersion: 'cert-manager.io/v1',
        kind: 'ClusterIssuer',
        metadata: { name: CLUSTER_ISSUER },
        spec: {
          acme: {
            server: 'https://acme-v02.api.letsencrypt.org/directory',
            email: args.acmeEmail,
            privateKeySecretRef: { name: `${CLUSTER_ISSUER}-account-key` },
            solvers: [{ http01: { ingress: { ingressClassName: 'nginx' } } }],
          },
        },
      },
      { parent: this, provider, dependsOn: [certManager, ingress] },
    );

    const workloads = {
      any: [{ resources: { kinds: ['Pod'], namespaces: [...args.enforcedNamespaces] } }],
    };
    const releaseAttestor = {
      entries: [
        {
          keyless: {
            subject: args.signingIdentity,
            issuer: args.signingIssuer,
            rekor: { url: 'https://rekor.sigstore.dev' },
          },
        },
      ],
    };
    const policies = [
      // Signed by our release workflow (keyless, via the Sigstore transparency log) and pinned by digest.
      clusterPolicy(
        this,
        provider,
        'verify-image-signatures',
        {
          webhookTimeoutSeconds: 30,
          background: false,
          rules: [
            {
              name: 'signed-by-release-workflow',
              match: workloads,
              verifyImages: [
                {
                  // Kyverno reads failureAction here and in validate; the CRD has none on the rule, so it would be pruned.
                  failureAction: 'Enforce',
                  imageReferences: args.imageRepositories.map((repository) => `${repository}*`),
                  type: 'Cosign',
                  mutateDigest: false,
                  verifyDigest: true,
                  required: true,
                  attestors: [releaseAttestor],
                  // the same attestation types the release CLI attaches and verifies (pipelines/src/release/identity.ts)
                  attestations: REQUIRED_ATTESTATIONS.map((kind) => ({
                    type: ATTESTATION_TYPES[kind],
                    attestors: [releaseAttestor],
                    ...(kind === 'scan'
                      ? { conditions: [{ all: [{ key: '{{ verdict }}', operator: 'Equals', value: 'pass' }] }] }
                      : {}),
                  })),
                },
              ],
            },
          ],
        },
        [kyverno],
      ),
      clusterPolicy(
        this,
        provider,
        'require-image-digest',
        {
          rules: [
            {
              name: 'pinned-by-digest',
              match: workloads,
              validate: {
                failureAction: 'Enforce',
                message: 'Pin every image by digest (image@sha256:...): tags can be moved after review.',
                pattern: {
                  spec: {
                    '=(initContainers)': [{ image: '*@sha256:*' }],
                    containers: [{ image: '*@sha256:*' }],
                  },
                },
              },
            },
          ],
        },
        [kyverno],
      ),
      clusterPolicy(
        this,
        provider,
        'disallow-latest-tag',
        {
          rules: [
            {
              name: 'no-latest',
              match: workloads,
              validate: {
                failureAction: 'Enforce',
                message: 'The :latest tag is not allowed: pin the image by digest.',
                pattern: { spec: { containers: [{ image: '!*:latest*' }] } },
              },
            },
          ],
        },
        [kyverno],
      ),
      clusterPolicy(
        this,
        provider,
        'require-non-root',
        {
          rules: [
            {
              name: 'run-as-non-root',
              match: workloads,
              validate: {
                failureAction: 'Enforce',
                message: 'Containers must run as non-root: set securityContext.runAsNonRoot to true.',
                anyPattern: [
                  {
                    spec: {
                      securityContext: { runAsNonRoot: true },
                      containers: [{ '=(securityContext)': { '=(runAsNonRoot)': true } }],
                    },
                  },
                  { spec: { containers: [{ securityContext: { runAsNonRoot: true } }] } },
                ],
              },
            },
          ],
        },
        [kyverno],
      ),
      clusterPolicy(
        this,
        provider,
        'require-resource-limits',
        {
          rules: [
            {
              name: 'cpu-and-memory-limits',
              match: workloads,
              validate: {
                failureAction: 'Enforce',
                message: 'Every container needs CPU and memory requests and limits.',
                pattern: {
                  spec: {
                    containers: [
                      { resources: { requests: { cpu: '?*', memory: '?*' }, limits: { cpu: '?*', memory: '?*' } } },
                    ],
                  },
                },
              },
            },
          ],
        },
        [kyverno],
      ),
    ];

    this.ready = [rollouts, ingress, issuer, ...policies];
    this.clusterIssuer = CLUSTER_ISSUER;
    this.registerOutputs({ clusterIssuer: this.clusterIssuer });
  }
}
