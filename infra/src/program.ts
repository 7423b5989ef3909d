import * as pulumi from '@pulumi/pulumi';

import {
  PROMETHEUS_RETENTION,
  SLO_ANALYSIS_QUERIES,
  type SliKind,
  type SloAnalysisQuery,
} from '@slipway/monitoring/slo';
import { GATE_SCENARIO, RELEASE_PLAN, type GateScenario, type ReleasePlan } from '@slipway/pipelines/release/plan';
import { App } from './components/app.js';
import { Backups } from './components/backups.js';
import { Cache } from './components/cache.js';
import { Cluster } from './components/cluster.js';
import { Database } from './components/database.js';
import { Delivery } from './components/delivery.js';
import { Network } from './components/network.js';
import { MONITORING_NAMESPACE, Observability } from './components/observability.js';
import { JAEGER_OTLP_HTTP_PORT, JAEGER_POD_LABELS, Tracing } from './components/tracing.js';
import { Worker, WORKER_LABELS } from './components/worker.js';
import type { StackConfig } from './config.js';
import type { MonitoringSources } from './monitoring-sources.js';
import { tagsFor } from './tags.js';
import { pinnedImage } from './workload.js';

/** What the program renders besides stack config; tests swap these. */
export interface ReleaseInputs {
  readonly plan: ReleasePlan;
  readonly sloQueries: Readonly<Record<SliKind, SloAnalysisQuery>>;
  readonly gateScenario: GateScenario;
  readonly monitoring: MonitoringSources;
}

/** The canary judged by monitoring's SLO queries and load's gate scenario (canary-gate.ts). */
export function defaultReleaseInputs(monitoring: MonitoringSources): ReleaseInputs {
  return { plan: RELEASE_PLAN, sloQueries: SLO_ANALYSIS_QUERIES, gateScenario: GATE_SCENARIO, monitoring };
}

export const APP_NAMESPACE = 'erp';

/** The whole stack: AWS first, then the in-cluster platform, then the app and its backups. */
export function slipway(config: StackConfig, inputs: ReleaseInputs) {
  const tags = tagsFor(config);
  const name = `slipway-${config.environment}`;
  const image = pinnedImage(config.imageRepository, config.imageDigest);

  const network = new Network('network', {
    name,
    cidr: config.vpcCidr,
    availabilityZoneCount: config.availabilityZoneCount,
    natGatewayPerAz: config.natGatewayPerAz,
    flowLogRetentionDays: config.flowLogRetentionDays,
    region: config.region,
    tags,
  });
  const cluster = new Cluster('cluster', {
    name,
    version: config.clusterVersion,
    region: config.region,
    vpcId: network.vpcId,
    privateSubnetIds: network.privateSubnetIds,
    publicSubnetIds: network.publicSubnetIds,
    publicAccessCidrs: config.clusterPublicAccessCidrs,
    nodeInstanceType: config.nodeInstanceType,
    nodeMinSize: config.nodeMinSize,
    nodeDesiredSize: config.nodeDesiredSize,
    nodeMaxSize: config.nodeMaxSize,
    nodeDiskSizeGib: config.nodeDiskSizeGib,
    deployRoleName: config.deployRoleName,
    breakGlassRoleName: config.breakGlassRoleName,
    tags,
  });
  const database = new Database('database', {
    name,
    vpcId: network.vpcId,
    subnetIds: network.privateSubnetIds,
    clientSecurityGroupId: cluster.nodeSecurityGroupId,
    instanceClass: config.dbInstanceClass,
    allocatedStorageGib: config.dbAllocatedStorageGib,
    maxAllocatedStorageGib: config.dbMaxAllocatedStorageGib,
    multiAz: config.dbMultiAz,
    backupRetentionDays: config.dbBackupRetentionDays,
    protectData: config.protectData,
    tags,
  });
  const cache = new Cache('cache', {
    name,
    vpcId: network.vpcId,
    subnetIds: network.privateSubnetIds,
    clientSecurityGroupId: cluster.nodeSecurityGroupId,
    nodeType: config.cacheNodeType,
    replicaCount: config.cacheReplicaCount,
    snapshotRetentionDays: config.cacheSnapshotRetentionDays,
    protectData: config.protectData,
    tags,
  });
  const labels = { 'app.kubernetes.io/name': 'erp-api', 'app.kubernetes.io/part-of': 'slipway' };
  const observability = new Observability('observability', {
    provider: cluster.provider,
    sources: inputs.monitoring,
    alertmanagerConfig: inputs.monitoring.alertmanagerConfigs[config.environment],
    // Every series and alert says which stack and cluster it comes from.
    externalLabels: { env: config.environment, cluster: name },
    slackWebhookUrl: config.alertSlackWebhookUrl,
    pagerDutyRoutingKey: config.alertPagerDutyRoutingKey,
    heartbeatUrl: config.alertHeartbeatUrl,
    appNamespace: APP_NAMESPACE,
    appLabels: labels,
    workerLabels: WORKER_LABELS,
    // Every stack keeps the whole SLO window, or its 30-day budget would be computed from half of it.
    prometheusRetention: PROMETHEUS_RETENTION,
  });
  const delivery = new Delivery('delivery', {
    provider: cluster.provider,
    imageRepositories: [config.imageRepository, config.gateImageRepository],
    signingIdentity: config.signingIdentity,
    signingIssuer: config.signingIssuer,
    enforcedNamespaces: [APP_NAMESPACE],
    acmeEmail: config.acmeEmail,
    monitoringOperator: observability.operator,
  });
  const tracing = new Tracing('tracing', {
    provider: cluster.provider,
    exporterNamespaces: [APP_NAMESPACE],
    queryNamespace: MONITORING_NAMESPACE,
    retentionHours: config.traceRetentionHours,
    storageGib: config.traceStorageGib,
    protectData: config.protectData,
  });
  const app = new App('app', {
    provider: cluster.provider,
    environment: config.environment,
    namespace: APP_NAMESPACE,
    image,
    gateImage: pinnedImage(config.gateImageRepository, config.gateImageDigest),
    domain: config.domain,
    clusterIssuer: delivery.clusterIssuer,
    minReplicas: config.appMinReplicas,
    maxReplicas: config.appMaxReplicas,
    logLevel: config.logLevel,
    shutdownDrainMs: config.shutdownDrainMs,
    databaseUrl: database.appUrl,
    databaseAdminUrl: database.adminUrl,
    databaseAppPassword: database.appPassword,
    databaseAuditUrl: database.auditUrl,
    databaseAuditPassword: database.auditPassword,
    redisUrl: cache.url,
    tracing: {
      otlpEndpoint: tracing.otlpEndpoint,
      namespace: tracing.namespace,
      podLabels: JAEGER_POD_LABELS,
      port: JAEGER_OTLP_HTTP_PORT,
      sampleRatio: config.traceSampleRatio,
    },
    dataCidr: config.vpcCidr,
    plan: inputs.plan,
    sloQueries: inputs.sloQueries,
    gateScenario: inputs.gateScenario,
    prometheusAddress: observability.prometheusAddress,
    platform: [...delivery.ready, ...observability.ready],
    tags,
  });
  const tracingPeers = { namespace: tracing.namespace, podLabels: JAEGER_POD_LABELS, port: JAEGER_OTLP_HTTP_PORT };
  new Worker('worker', {
    provider: cluster.provider,
    namespace: app.namespace,
    image,
    environment: { ...app.sharedEnvironment, SMTP_URL: config.smtpUrl, MAIL_FROM: config.mailFrom },
    smtpPort: config.smtpPort,
    dataCidr: config.vpcCidr,
    tracing: tracingPeers,
    prometheusAddress: observability.prometheusAddress,
    namespaceResource: app.namespaceResource,
    migration: app.migration,
    platform: [...delivery.ready, ...observability.ready],
  });
  const backups = new Backups('backups', {
    name,
    region: config.region,
    provider: cluster.provider,
    image,
    namespace: app.namespace,
    oidcProviderArn: cluster.oidcProviderArn,
    oidcIssuerUrl: cluster.oidcIssuerUrl,
    adminSecretName: app.adminSecretName,
    auditSecretName: app.auditSecretName,
    runtimeSecretName: app.runtimeSecretName,
    databaseArn: database.instanceArn,
    dataCidr: config.vpcCidr,
    retentionDays: config.backupRetentionDays,
    copyRegion: config.backupCopyRegion,
    protectData: config.protectData,
    tags,
  });

  return {
    vpcId: network.vpcId,
    clusterName: cluster.clusterName,
    kubeconfig: cluster.kubeconfig,
    databaseAddress: database.address,
    cacheEndpoint: cache.primaryEndpoint,
    backupBucket: backups.bucketName,
    backupVault: backups.vaultName,
    url: pulumi.output(app.url),
    image: pulumi.output(image),
  };
}
