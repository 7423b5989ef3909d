/**
 * Every Kubernetes object a stack renders, checked against its published schema (the kubernetes-models packages,
 * generated from the Kubernetes OpenAPI and the projects' CRDs; for Kyverno, whose CRDs no package publishes, the
 * CRD of the pinned chart, vendored in infra/vendor/crds/ and compiled by crd-schema.ts). The schemas do not refuse unknown fields, and
 * Pulumi only warns and drops them, so the validator also records which fields the schema reads: a field of a
 * described object that the schema never looks at is unknown (`stableIngres` for `stableIngress`).
 */
import { AnalysisTemplate, Rollout } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1';
import { ClusterIssuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { StorageClass } from 'kubernetes-models/storage.k8s.io/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';

import { ObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';

import { crdModel, type CrdModel } from './crd-schema.js';
import { unwrapSecrets, type RecordedResource } from './stack.js';

interface Validating {
  readonly prototype: { validate(): void };
}

/** A kubernetes-models class, or a vendored CRD's compiled schema. */
export type SchemaModel = Validating | CrdModel;

/** The published model of each Kubernetes type the stacks create, by Pulumi type token. */
export const SCHEMAS: Readonly<Record<string, SchemaModel>> = {
  'kubernetes:core/v1:Namespace': Namespace,
  'kubernetes:core/v1:ServiceAccount': ServiceAccount,
  'kubernetes:core/v1:ConfigMap': ConfigMap,
  'kubernetes:core/v1:Secret': Secret,
  'kubernetes:core/v1:PersistentVolumeClaim': PersistentVolumeClaim,
  'kubernetes:core/v1:Service': Service,
  'kubernetes:apps/v1:Deployment': Deployment,
  'kubernetes:batch/v1:Job': Job,
  'kubernetes:batch/v1:CronJob': CronJob,
  'kubernetes:networking.k8s.io/v1:Ingress': Ingress,
  'kubernetes:networking.k8s.io/v1:NetworkPolicy': NetworkPolicy,
  'kubernetes:autoscaling/v2:HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'kubernetes:policy/v1:PodDisruptionBudget': PodDisruptionBudget,
  'kubernetes:storage.k8s.io/v1:StorageClass': StorageClass,
  'kubernetes:rbac.authorization.k8s.io/v1:Role': Role,
  'kubernetes:rbac.authorization.k8s.io/v1:RoleBinding': RoleBinding,
  'kubernetes:argoproj.io/v1alpha1:Rollout': Rollout,
  'kubernetes:argoproj.io/v1alpha1:AnalysisTemplate': AnalysisTemplate,
  'kubernetes:monitoring.coreos.com/v1:ServiceMonitor': ServiceMonitor,
  'kubernetes:monitoring.coreos.com/v1:PrometheusRule': PrometheusRule,
  'kubernetes:cert-manager.io/v1:ClusterIssuer': ClusterIssuer,
  'kubernetes:kyverno.io/v1:ClusterPolicy': crdModel('kyverno.io_clusterpolicies.yaml', 'v1', (metadata) =>
    schemaProblems(ObjectMeta, metadata, '.metadata'),
  ),
  'kubernetes:keda.sh/v1alpha1:ScaledObject': crdModel('keda.sh_scaledobjects.yaml', 'v1alpha1', (metadata) =>
    schemaProblems(ObjectMeta, metadata, '.metadata'),
  ),
};

/** Kubernetes resources of the program that are not one object with a schema, and why. */
export const WITHOUT_SCHEMA: Readonly<Record<string, string>> = {
  'kubernetes:helm.sh/v3:Release': 'a Helm release is the chart, rendered by Helm, not an object the program writes',
  'pulumi:providers:kubernetes': 'the provider is configuration, not a cluster object',
};

interface Visited {
  readonly path: string;
  readonly value: object;
  readonly read: Set<string>;
  enumerated: boolean;
}

/** A proxy of `value` that logs, for every object inside it, which of its keys anyone read or listed. */
function recording(value: unknown, path: string, log: Visited[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const visited: Visited = { path, value, read: new Set(), enumerated: false };
  log.push(visited);
  const children = new Map<string, unknown>();
  return new Proxy(value, {
    get(target, key, receiver) {
      const found: unknown = Reflect.get(target, key, receiver);
      if (typeof key !== 'string') return found;
      visited.read.add(key);
      if (!Object.hasOwn(target, key)) return found;
      if (!children.has(key))
        children.set(key, recording(found, Array.isArray(target) ? `${path}[${key}]` : `${path}.${key}`, log));
      return children.get(key);
    },
    has(target, key) {
      if (typeof key === 'string') visited.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      visited.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

/**
 * Problems of one object against a model: the schema's own errors, then every unknown field. An object whose keys
 * the schema never reads or lists is free-form there (a ConfigMap's data, a Helm value), so it is not judged.
 */
export function schemaProblems(model: SchemaModel, object: unknown, path = ''): string[] {
  if ('problems' in model) return model.problems(object);
  const log: Visited[] = [];
  const problems: string[] = [];
  try {
    model.prototype.validate.call(recording(object, path, log));
  } catch (error) {
    problems.push(error instanceof Error ? error.message.replaceAll('\n', ' ') : String(error));
  }
  for (const visited of log) {
    if (Array.isArray(visited.value) || visited.enumerated || visited.read.size === 0) continue;
    for (const key of Object.keys(visited.value))
      if (!visited.read.has(key)) problems.push(`unknown field ${visited.path}.${key}`);
  }
  return problems;
}

/** The object a recorded resource sends to the cluster, secrets unwrapped. */
export function clusterObject(resource: RecordedResource): unknown {
  return unwrapSecrets(resource.inputs);
}
