import type * as k8s from '@pulumi/kubernetes';
import type * as pulumi from '@pulumi/pulumi';

type Container = k8s.types.input.core.v1.Container;
type PodSecurityContext = k8s.types.input.core.v1.PodSecurityContext;

/** The user every one of our containers runs as (the app image's non-root user). */
export const APP_UID = 10001;

export const POD_SECURITY: PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: APP_UID,
  runAsGroup: APP_UID,
  fsGroup: APP_UID,
  seccompProfile: { type: 'RuntimeDefault' },
};

export const CONTAINER_SECURITY: NonNullable<Container['securityContext']> = {
  runAsNonRoot: true,
  runAsUser: APP_UID,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

/** 1 CPU and 1 GiB, requested and capped alike so the scheduler's promise is the pod's limit (Guaranteed QoS). */
export const APP_RESOURCES: NonNullable<Container['resources']> = {
  requests: { cpu: '1', memory: '1Gi' },
  limits: { cpu: '1', memory: '1Gi' },
};

/** Smaller jobs (backup, drill, load gate) get their own bounds. */
export const JOB_RESOURCES: NonNullable<Container['resources']> = {
  requests: { cpu: '500m', memory: '512Mi' },
  limits: { cpu: '1', memory: '1Gi' },
};

/** A writable /tmp on a read-only root filesystem. */
export const TMP_VOLUME = { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } };
export const TMP_MOUNT = { name: 'tmp', mountPath: '/tmp' };

export function pinnedImage(repository: string, digest: string): string {
  return `${repository}@${digest}`;
}

/** What differs between the long-running erp-api processes (the server, the job worker) in one pod template. */
export interface ErpApiContainerArgs {
  readonly name: string;
  readonly image: pulumi.Input<string>;
  /** The `erp-api` subcommand: `server` or `worker`. */
  readonly command: string;
  readonly port: number;
  readonly configMap: pulumi.Input<string>;
  readonly secret: pulumi.Input<string>;
  readonly resources: NonNullable<Container['resources']>;
}

/**
 * An erp-api container: its settings from one ConfigMap and one Secret, a read-only root with a writable /tmp, and the
 * probes every erp-api process serves (live while the process runs, ready while its dependencies answer).
 */
export function erpApiContainer(args: ErpApiContainerArgs): Container {
  return {
    name: args.name,
    image: args.image,
    args: [args.command],
    ports: [{ name: 'http', containerPort: args.port }],
    envFrom: [{ configMapRef: { name: args.configMap } }, { secretRef: { name: args.secret } }],
    resources: args.resources,
    securityContext: CONTAINER_SECURITY,
    volumeMounts: [TMP_MOUNT],
    startupProbe: { httpGet: { path: '/health/live', port: 'http' }, periodSeconds: 2, failureThreshold: 30 },
    livenessProbe: { httpGet: { path: '/health/live', port: 'http' }, periodSeconds: 10, timeoutSeconds: 2 },
    readinessProbe: {
      httpGet: { path: '/health/ready', port: 'http' },
      periodSeconds: 5,
      timeoutSeconds: 2,
      failureThreshold: 2,
    },
  };
}

/** A NetworkPolicy peer: every pod of the namespace `name`. */
export function namespacePeer(name: string) {
  return { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } } };
}

/** Spread a workload's pods over the zones where it can; a zone short of room still takes them. */
export function zoneSpread(
  podLabels: Readonly<Record<string, string>>,
): k8s.types.input.core.v1.TopologySpreadConstraint[] {
  return [
    {
      maxSkew: 1,
      topologyKey: 'topology.kubernetes.io/zone',
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchLabels: podLabels },
    },
  ];
}
