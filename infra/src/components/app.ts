import { createHash } from 'node:crypto';

import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';

import type { SliKind, SloAnalysisQuery } from '@slipway/monitoring/slo';
import type { GateScenario, ReleasePlan } from '@slipway/pipelines/release/plan';
import type { Environment } from '../config.js';
import { APP_ROLE, AUDIT_ROLE } from './database.js';
import { INGRESS_NAMESPACE, INGRESS_PROXY_HOPS } from './delivery.js';
import { MONITORING_NAMESPACE } from './observability.js';
import {
  ANALYSIS_COUNT,
  ANALYSIS_INTERVAL_SECONDS,
  canaryQuery,
  canarySteps,
  canaryTimeoutSeconds,
  sloConditions,
  templateName,
  type CanaryStep,
} from '../rollout.js';
import { podEnvironment, type PodValues } from '../pod-environment.js';
import { ROLLOUT_WAIT_SCRIPT } from '../rollout-wait.js';
import type { Tags } from '../tags.js';
import {
  APP_RESOURCES,
  CONTAINER_SECURITY,
  erpApiContainer,
  JOB_RESOURCES,
  namespacePeer,
  POD_SECURITY,
  zoneSpread,
  TMP_MOUNT,
  TMP_VOLUME,
} from '../workload.js';

export interface AppArgs {
  readonly provider: k8s.Provider;
  readonly environment: Environment;
  readonly namespace: string;
  /** Image pinned by digest: repository@sha256:… */
  readonly image: string;
  readonly gateImage: string;
  readonly domain: string;
  readonly clusterIssuer: string;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly logLevel: string;
  readonly shutdownDrainMs: number;
  readonly databaseUrl: pulumi.Input<string>;
  readonly databaseAdminUrl: pulumi.Input<string>;
  readonly databaseAppPassword: pulumi.Input<string>;
  /** The read-only audit role's URL (for `audit verify`) and password (for the migration Job to set). */
  readonly databaseAuditUrl: pulumi.Input<string>;
  readonly databaseAuditPassword: pulumi.Input<string>;
  readonly redisUrl: pulumi.Input<string>;
  /** Where the pods send spans (OTLP/HTTP), and the namespace and pod labels egress to it is allowed to. */
  readonly tracing: {
    readonly otlpEndpoint: string;
    readonly namespace: string;
    readonly podLabels: Readonly<Record<string, string>>;
    readonly port: number;
    /** OTEL_TRACES_SAMPLER_ARG: share of new traces kept. */
    readonly sampleRatio: string;
  };
  /** Private address range where the database and Redis live. */
  readonly dataCidr: string;
  readonly plan: ReleasePlan;
  readonly sloQueries: Readonly<Record<SliKind, SloAnalysisQuery>>;
  readonly gateScenario: GateScenario;
  readonly prometheusAddress: string;
  /** CRDs, admission rules and monitoring that must exist before the Rollout. */
  readonly platform: pulumi.Resource[];
  readonly tags: Tags;
}

export const APP_NAME = 'erp-api';
export const APP_PORT = 8080;
// Known names, not the Services' outputs: reading an output would make the Rollout wait for the Service,
// whose endpoints only the Rollout's own pods can provide.
export const STABLE_SERVICE = `${APP_NAME}-stable`;
export const CANARY_SERVICE = `${APP_NAME}-canary`;
export const METRICS_SERVICE = `${APP_NAME}-metrics`;
export const INGRESS_NAME = APP_NAME;
const SHUTDOWN_TIMEOUT_MS = 30_000;
const ROLLOUT_WAIT = `${APP_NAME}-rollout-wait`;
const MIGRATION_ACCOUNT = `${APP_NAME}-migrate`;
/** The waiter only polls the API every few seconds. */
const WAIT_RESOURCES = { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } };
const PRE_STOP_SECONDS = 5;

/**
 * erp-api as an Argo Rollout: the canary steps come from the release plan, each gated by the load gate
 * and Prometheus SLO checks; a migration Job runs first; the pods are locked down and reached over TLS.
 */
export class App extends pulumi.ComponentResource {
  public readonly namespace: string;
  /** Secret holding the admin DATABASE_URL, for jobs that need the master user (migrations, backups). */
  public readonly adminSecretName: string;
  /** Secret holding the read-only audit role's DATABASE_URL, for `audit verify`. */
  public readonly auditSecretName: string;
  /** The Secret holding the app's runtime settings (REDIS_URL among them); the restore drill reads REDIS_URL. */
  public readonly runtimeSecretName: string;
  public readonly labels: Readonly<Record<string, string>>;
  public readonly canarySteps: readonly CanaryStep[];
  public readonly url: string;
  /** The namespace object, for workloads of other components in it (the job worker). */
  public readonly namespaceResource: pulumi.Resource;
  /** This image's migration Job: the worker, like the Rollout, starts only on a migrated schema. */
  public readonly migration: pulumi.Resource;
  /** The settings the worker shares with the server (the schema requires them of every process). */
  public readonly sharedEnvironment: PodValues;

  constructor(name: string, args: AppArgs, opts?: pulumi.ComponentResourceOptions) {
    super('slipway:app:App', name, {}, opts);
    const { provider } = args;
    const options = { parent: this, provider };
    const labels = { 'app.kubernetes.io/name': APP_NAME, 'app.kubernetes.io/part-of': 'slipway' };
    // The server pods alone: jobs share the app labels but not this component.
    const podLabels = { ...labels, 'app.kubernetes.io/component': 'server' };
    const ns = args.namespace;

    const namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: ns, labels: { ...labels, 'slipway.dev/env': args.environment } } },
      options,
    );
    const scoped = { ...options, dependsOn: [namespace] };

    // One service account per workload; none of them reads the Kubernetes API or has an AWS role.
    const serviceAccount = (accountName: string) =>
      new k8s.core.v1.ServiceAccount(
        `${name}-sa-${accountName}`,
        { metadata: { name: accountName, namespace: ns, labels }, automountServiceAccountToken: false },
        scoped,
      );
    serviceAccount(APP_NAME);
    serviceAccount(MIGRATION_ACCOUNT);

    // Alphanumeric only: JWT_SECRETS is comma-separated, and the app refuses short or repetitive secrets.
    const jwtSecret = new random.RandomPassword(`${name}-jwt-secret`, { length: 48, special: false }, { parent: this });
    // Every stored password hash depends on the pepper: it must outlive any single release.
    const passwordPepper = new random.RandomPassword(
      `${name}-password-pepper`,
      { length: 32, special: false },
      { parent: this, protect: args.environment === 'prod' },
    );
    // Derived from the app's config schema: a variable the app requires and infra leaves out fails the program.
    this.sharedEnvironment = {
      NODE_ENV: 'production',
      APP_ENV: args.environment,
      LOG_LEVEL: args.logLevel,
      DATABASE_URL: pulumi.secret(args.databaseUrl),
      REDIS_URL: pulumi.secret(args.redisUrl),
      JWT_SECRETS: pulumi.secret(jwtSecret.result),
      PASSWORD_PEPPER: pulumi.secret(passwordPepper.result),
      OTEL_EXPORTER_OTLP_ENDPOINT: args.tracing.otlpEndpoint,
      OTEL_TRACES_SAMPLER_ARG: args.tracing.sampleRatio,
    };
    const environment = podEnvironment({
      ...this.sharedEnvironment,
      HOST: '0.0.0.0',
      PORT: String(APP_PORT),
      SHUTDOWN_DRAIN_MS: String(args.shutdownDrainMs),
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      KEEP_ALIVE_TIMEOUT_MS: '65000',
      HEALTH_CHECK_TIMEOUT_MS: '1000',
      // Clients reach the pods through ingress-nginx only, which writes the client address into X-Forwarded-For.
      TRUST_PROXY: String(INGRESS_PROXY_HOPS),
    });
    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      { metadata: { name: APP_NAME, namespace: ns, labels }, data: environment.config },
      scoped,
    );
    this.runtimeSecretName = `${APP_NAME}-runtime`;
    const runtimeSecret = new k8s.core.v1.Secret(
      `${name}-runtime`,
      { metadata: { name: this.runtimeSecretName, namespace: ns, labels }, stringData: environment.secret },
      scoped,
    );
    this.adminSecretName = `${APP_NAME}-admin`;
    const adminSecret = new k8s.core.v1.Secret(
      `${name}-admin`,
      {
        metadata: { name: this.adminSecretName, namespace: ns, labels },
        stringData: {
          DATABASE_URL: pulumi.secret(args.databaseAdminUrl),
          APP_DATABASE_PASSWORD: pulumi.secret(args.databaseAppPassword),
          AUDIT_DATABASE_PASSWORD: pulumi.secret(args.databaseAuditPassword),
        },
      },
      scoped,
    );
    this.auditSecretName = `${APP_NAME}-audit`;
    new k8s.core.v1.Secret(
      `${name}-audit`,
      {
        metadata: { name: this.auditSecretName, namespace: ns, labels },
        stringData: { DATABASE_URL: pulumi.secret(args.databaseAuditUrl) },
      },
      scoped,
    );

    // Runs `migrate` as the master user: schema changes, and the least-privilege app role.
    // A new digest means a new Job name, so every release migrates once, before its pods take traffic.
    const migration = new k8s.batch.v1.Job(
      `${name}-migrate`,
      {
        metadata: {
          name: `${APP_NAME}-migrate-${args.image.slice(-12)}`,
          namespace: ns,
          labels: { ...labels, 'app.kubernetes.io/component': 'migration' },
        },
        spec: {
          backoffLimit: 1,
          activeDeadlineSeconds: 900,
          template: {
            metadata: { labels: { ...labels, 'app.kubernetes.io/component': 'migration' } },
            spec: {
              restartPolicy: 'Never',
              serviceAccountName: MIGRATION_ACCOUNT,
              automountServiceAccountToken: false,
              securityContext: POD_SECURITY,
              volumes: [TMP_VOLUME],
              containers: [
                {
                  name: 'migrate',
                  image: args.image,
                  args: ['migrate'],
                  env: [
                    { name: 'APP_DATABASE_ROLE', value: APP_ROLE },
                    { name: 'AUDIT_DATABASE_ROLE', value: AUDIT_ROLE },
                    { name: 'APP_ENV', value: args.environment },
                  ],
                  envFrom: [{ secretRef: { name: adminSecret.metadata.name } }],
                  securityContext: CONTAINER_SECURITY,
                  resources: JOB_RESOURCES,
                  volumeMounts: [TMP_MOUNT],
                },
              ],
            },
          },
        },
      },
      // The first pods of a release: admission rules and CRDs must be in place before them.
      { ...scoped, dependsOn: [namespace, ...args.platform], deleteBeforeReplace: true },
    );

    const service = (serviceName: string, extraLabels: Record<string, string> = {}) =>
      new k8s.core.v1.Service(
        `${name}-${serviceName.slice(APP_NAME.length + 1)}`,
        {
          metadata: {
            name: serviceName,
            namespace: ns,
            labels: { ...labels, ...extraLabels },
            // Endpoints come from the Rollout's pods, whose readiness the Rollout's own wait covers.
            annotations: { 'pulumi.com/skipAwait': 'true' },
          },
          spec: { selector: podLabels, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
        },
        // Argo Rollouts adds the pod-template-hash selector to stable and canary.
        { ...scoped, ignoreChanges: ['spec.selector'] },
      );
    service(STABLE_SERVICE);
    service(CANARY_SERVICE);
    service(METRICS_SERVICE, { 'slipway.dev/metrics': 'true' });

    new k8s.networking.v1.Ingress(
      `${name}-ingress`,
      {
        metadata: {
          name: INGRESS_NAME,
          namespace: ns,
          labels,
          annotations: {
            'cert-manager.io/cluster-issuer': args.clusterIssuer,
            'nginx.ingress.kubernetes.io/ssl-redirect': 'true',
            'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true',
          },
        },
        spec: {
          ingressClassName: 'nginx',
          tls: [{ hosts: [args.domain], secretName: `${APP_NAME}-tls` }],
          rules: [
            {
              host: args.domain,
              http: {
                paths: [
                  {
                    path: '/',
                    pathType: 'Prefix',
                    backend: { service: { name: STABLE_SERVICE, port: { name: 'http' } } },
                  },
                ],
              },
            },
          ],
        },
      },
      scoped,
    );

    const canaryUrl = `http://${CANARY_SERVICE}.${ns}.svc`;
    const stableUrl = `http://${STABLE_SERVICE}.${ns}.svc`;
    const analysisLabels = { ...labels, 'app.kubernetes.io/component': 'canary-gate' };
    const gate = args.gateScenario;
    const gateTemplate = new k8s.apiextensions.CustomResource(
      `${name}-gate-load`,
      {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AnalysisTemplate',
        metadata: { name: templateName(APP_NAME, { kind: 'load', scenario: 'gate' }), namespace: ns, labels },
        spec: {
          args: [{ name: 'canary-url' }],
          metrics: [
            {
              name: 'load-gate',
              failureLimit: 0,
              provider: {
                job: {
                  metadata: { labels: analysisLabels },
                  spec: {
                    // exit 1 (a threshold failed): the Job fails at once and the canary aborts;
                    // exit 2 (inconclusive) or any other non-zero exit is no verdict: one retry.
                    backoffLimit: 1,
                    activeDeadlineSeconds: gate.timeoutSeconds,
                    podFailurePolicy: {
                      rules: [
                        {
                          action: 'FailJob',
                          onExitCodes: {
                            containerName: 'gate',
                            operator: 'In',
                            values: [gate.exitCodes.thresholdsFailed],
                          },
                        },
                        {
                          action: 'Count',
                          onExitCodes: {
                            containerName: 'gate',
                            operator: 'NotIn',
                            values: [gate.exitCodes.passed, gate.exitCodes.thresholdsFailed],
                          },
                        },
                      ],
                    },
                    template: {
                      metadata: { labels: analysisLabels },
                      spec: {
                        restartPolicy: 'Never',
                        automountServiceAccountToken: false,
                        securityContext: POD_SECURITY,
                        volumes: [TMP_VOLUME],
                        containers: [
                          {
                            name: 'gate',
                            image: args.gateImage,
                            command: [...gate.command],
                            env: [
                              { name: gate.targetUrlVariable, value: '{{args.canary-url}}' },
                              { name: gate.stableUrlVariable, value: stableUrl },
                              // the gate stops itself first and says why; the Job's deadline is the backstop
                              { name: gate.timeoutVariable, value: String(gate.timeoutSeconds - 30) },
                            ],
                            securityContext: CONTAINER_SECURITY,
                            resources: JOB_RESOURCES,
                            volumeMounts: [TMP_MOUNT],
                          },
                        ],
                      },
                    },
                  },
                },
              },
            },
          ],
        },
      },
      { ...scoped, dependsOn: [namespace, ...args.platform] },
    );
    const sloTemplates = (Object.keys(args.sloQueries) as SliKind[]).map((slo) => {
      const query = args.sloQueries[slo];
      return new k8s.apiextensions.CustomResource(
        `${name}-slo-${slo}`,
        {
          apiVersion: 'argoproj.io/v1alpha1',
          kind: 'AnalysisTemplate',
          metadata: { name: templateName(APP_NAME, { kind: 'slo', slo }), namespace: ns, labels },
          spec: {
            args: [{ name: 'canary-hash' }],
            metrics: [
              {
                name: `slo-${slo}`,
                interval: `${ANALYSIS_INTERVAL_SECONDS}s`,
                count: ANALYSIS_COUNT,
                failureLimit: 0,
                inconclusiveLimit: 1,
                ...sloConditions(query),
                provider: { prometheus: { address: args.prometheusAddress, query: canaryQuery(query, ns) } },
              },
            ],
          },
        },
        { ...scoped, dependsOn: [namespace, ...args.platform] },
      );
    });

    this.canarySteps = canarySteps(APP_NAME, args.plan, canaryUrl);
    const terminationGraceSeconds =
      Math.ceil((args.shutdownDrainMs + SHUTDOWN_TIMEOUT_MS) / 1000) + PRE_STOP_SECONDS + 5;
    const podSpec: k8s.types.input.core.v1.PodSpec = {
      serviceAccountName: APP_NAME,
      // The server never calls the Kubernetes API: a stolen pod gets no token.
      automountServiceAccountToken: false,
      securityContext: POD_SECURITY,
      terminationGracePeriodSeconds: terminationGraceSeconds,
      topologySpreadConstraints: zoneSpread(podLabels),
      volumes: [TMP_VOLUME],
      containers: [
        {
          ...erpApiContainer({
            name: APP_NAME,
            image: args.image,
            command: 'server',
            port: APP_PORT,
            configMap: config.metadata.name,
            secret: runtimeSecret.metadata.name,
            resources: APP_RESOURCES,
          }),
          // Endpoints controllers and ingress-nginx need a moment to stop routing here before SIGTERM.
          lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SECONDS } } },
        },
      ],
    };

    const template = { metadata: { labels: podLabels }, spec: podSpec };
    const canaryTimeout = canaryTimeoutSeconds(args.plan, gate);
    const rollout = new k8s.apiextensions.CustomResource(
      `${name}-rollout`,
      {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Rollout',
        metadata: {
          name: APP_NAME,
          namespace: ns,
          labels,
          annotations: {
            // `pulumi up` waits until the canary is promoted; an aborted canary never turns Healthy,
            // so the update fails at the timeout instead of reporting success.
            'pulumi.com/waitFor': 'jsonpath={.status.phase}=Healthy',
            'pulumi.com/timeoutSeconds': String(canaryTimeout),
          },
        },
        spec: {
          // No spec.replicas: the HPA owns the count, and a value here would reset it on every update.
          revisionHistoryLimit: 5,
          selector: { matchLabels: podLabels },
          template,
          strategy: {
            canary: {
              stableService: STABLE_SERVICE,
              canaryService: CANARY_SERVICE,
              trafficRouting: { nginx: { stableIngress: INGRESS_NAME } },
              abortScaleDownDelaySeconds: 30,
              steps: this.canarySteps,
            },
          },
        },
      },
      { ...scoped, dependsOn: [namespace, migration, gateTemplate, ...sloTemplates, ...args.platform] },
    );

    // On an update the waitFor above reads the previous revision's phase; this Job waits for the new one.
    const waitLabels = { ...labels, 'app.kubernetes.io/component': 'rollout-wait' };
    const waitAccount = new k8s.core.v1.ServiceAccount(
      `${name}-rollout-wait`,
      { metadata: { name: ROLLOUT_WAIT, namespace: ns, labels: waitLabels } },
      scoped,
    );
    const waitRole = new k8s.rbac.v1.Role(
      `${name}-rollout-wait`,
      {
        metadata: { name: ROLLOUT_WAIT, namespace: ns, labels: waitLabels },
        rules: [{ apiGroups: ['argoproj.io'], resources: ['rollouts'], resourceNames: [APP_NAME], verbs: ['get'] }],
      },
      scoped,
    );
    const waitBinding = new k8s.rbac.v1.RoleBinding(
      `${name}-rollout-wait`,
      {
        metadata: { name: ROLLOUT_WAIT, namespace: ns, labels: waitLabels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: ROLLOUT_WAIT },
        subjects: [{ kind: 'ServiceAccount', name: ROLLOUT_WAIT, namespace: ns }],
      },
      scoped,
    );
    // One Job per pod template: a new revision gets a new Job, which `pulumi up` awaits to completion.
    const revision = pulumi
      .output(template)
      .apply((resolved) => createHash('sha256').update(JSON.stringify(resolved)).digest('hex').slice(0, 10));
    new k8s.batch.v1.Job(
      `${name}-rollout-wait`,
      {
        metadata: {
          name: pulumi.interpolate`${APP_NAME}-rollout-wait-${revision}`,
          namespace: ns,
          labels: waitLabels,
          annotations: { 'pulumi.com/timeoutSeconds': String(canaryTimeout) },
        },
        spec: {
          backoffLimit: 0,
          activeDeadlineSeconds: canaryTimeout,
          template: {
            metadata: { labels: waitLabels },
            spec: {
              restartPolicy: 'Never',
              serviceAccountName: ROLLOUT_WAIT,
              securityContext: POD_SECURITY,
              volumes: [TMP_VOLUME],
              containers: [
                {
                  name: 'wait',
                  image: args.image,
                  command: ['node', '--input-type=module', '--eval', ROLLOUT_WAIT_SCRIPT],
                  env: [
                    { name: 'NAMESPACE', value: ns },
                    { name: 'ROLLOUT', value: APP_NAME },
                    {
                      name: 'NODE_EXTRA_CA_CERTS',
                      value: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
                    },
                  ],
                  securityContext: CONTAINER_SECURITY,
                  resources: WAIT_RESOURCES,
                  volumeMounts: [TMP_MOUNT],
                },
              ],
            },
          },
        },
      },
      { ...scoped, dependsOn: [rollout, waitAccount, waitRole, waitBinding], deleteBeforeReplace: true },
    );

    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      `${name}-hpa`,
      {
        metadata: { name: APP_NAME, namespace: ns, labels },
        spec: {
          scaleTargetRef: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: rollout.metadata.name },
          minReplicas: args.minReplicas,
          maxReplicas: args.maxReplicas,
          metrics: [
            { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
          ],
        },
      },
      scoped,
    );
    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      {
        metadata: { name: APP_NAME, namespace: ns, labels },
        spec: { maxUnavailable: 1, selector: { matchLabels: podLabels } },
      },
      scoped,
    );

    const dns = {
      to: [namespacePeer('kube-system')],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    };
    const networkPolicy = (policyName: string, spec: k8s.types.input.networking.v1.NetworkPolicySpec) =>
      new k8s.networking.v1.NetworkPolicy(
        `${name}-netpol-${policyName}`,
        { metadata: { name: policyName, namespace: ns, labels }, spec },
        scoped,
      );
    networkPolicy('default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    networkPolicy('erp-api', {
      podSelector: { matchLabels: podLabels },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [namespacePeer(INGRESS_NAMESPACE), namespacePeer(MONITORING_NAMESPACE)],
          ports: [{ protocol: 'TCP', port: APP_PORT }],
        },
        { from: [{ podSelector: { matchLabels: analysisLabels } }], ports: [{ protocol: 'TCP', port: APP_PORT }] },
      ],
      egress: [
        dns,
        {
          to: [{ ipBlock: { cidr: args.dataCidr } }],
          ports: [
            { protocol: 'TCP', port: 5432 },
            { protocol: 'TCP', port: 6379 },
          ],
        },
        // spans to Jaeger's OTLP/HTTP receiver, and nowhere else in its namespace
        {
          to: [{ ...namespacePeer(args.tracing.namespace), podSelector: { matchLabels: args.tracing.podLabels } }],
          ports: [{ protocol: 'TCP', port: args.tracing.port }],
        },
      ],
    });
    networkPolicy('canary-gate', {
      podSelector: { matchLabels: analysisLabels },
      policyTypes: ['Ingress', 'Egress'],
      egress: [
        dns,
        { to: [{ podSelector: { matchLabels: podLabels } }], ports: [{ protocol: 'TCP', port: APP_PORT }] },
      ],
    });
    networkPolicy('rollout-wait', {
      podSelector: { matchLabels: waitLabels },
      policyTypes: ['Ingress', 'Egress'],
      // The EKS API endpoint's network interfaces live in the VPC.
      egress: [dns, { to: [{ ipBlock: { cidr: args.dataCidr } }], ports: [{ protocol: 'TCP', port: 443 }] }],
    });
    networkPolicy('migration', {
      podSelector: { matchLabels: { ...labels, 'app.kubernetes.io/component': 'migration' } },
      policyTypes: ['Ingress', 'Egress'],
      egress: [dns, { to: [{ ipBlock: { cidr: args.dataCidr } }], ports: [{ protocol: 'TCP', port: 5432 }] }],
    });

    this.namespace = ns;
    this.namespaceResource = namespace;
    this.migration = migration;
    this.labels = labels;
    this.url = `https://${args.domain}`;
    this.registerOutputs({ url: this.url });
  }
}
