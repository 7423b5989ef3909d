import type * as k8s from '@pulumi/kubernetes';

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
