/**
 * Checks the mocks cannot make pass by echoing inputs: how the Kubernetes provider awaits what the program
 * creates, and what the other workspaces expect of it (the app's config schema). Same shape as checks.ts:
 * one line per problem, empty when all is well.
 */
import { ConfigError, configVariables, loadConfig } from '../../../app/src/config.js';
import { ROLLOUT_WAIT_SCRIPT } from '../../src/rollout-wait.js';
import type { StackExpectations } from './checks.js';
import { clusterObject, SCHEMAS, schemaProblems, WITHOUT_SCHEMA } from './schemas.js';
import { ofType, unwrapSecrets, type RecordedResource, type StackRun } from './stack.js';

type Props = Record<string, unknown>;
const rec = (value: unknown): Props =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Props) : {};
const arr = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);
const metadataOf = (resource: RecordedResource): Props => rec(resource.inputs.metadata);
const label = (resource: RecordedResource): string => {
  const name = metadataOf(resource).name;
  return `${resource.type.split(':').at(-1) ?? resource.type} ${typeof name === 'string' ? name : resource.name}`;
};

function skipsAwait(resource: RecordedResource): boolean {
  return rec(metadataOf(resource).annotations)['pulumi.com/skipAwait'] === 'true';
}

/** Whether every label of `selector` is among `labels`: the selector picks those pods. */
export function selects(selector: Props, labels: Props): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([key, value]) => labels[key] === value);
}

export function rolloutOf(run: StackRun): RecordedResource | undefined {
  return ofType(run, 'kubernetes:argoproj.io/v1alpha1:Rollout')[0];
}

/** The labels of the Rollout's pods. */
export function rolloutPodLabels(run: StackRun): Props {
  return rec(rec(rec(rec(rolloutOf(run)?.inputs.spec).template).metadata).labels);
}

/**
 * Resources whose default await in the Kubernetes provider needs the Rollout's pods to be ready: a Service
 * waits for ready endpoints, an Ingress for the endpoints of its backend Services.
 */
export function waitingForRolloutPods(run: StackRun): RecordedResource[] {
  const podLabels = rolloutPodLabels(run);
  const services = ofType(run, 'kubernetes:core/v1:Service').filter(
    (service) => !skipsAwait(service) && selects(rec(rec(service.inputs.spec).selector), podLabels),
  );
  const serviceNames = new Set(services.map((service) => String(metadataOf(service).name)));
  const ingresses = ofType(run, 'kubernetes:networking.k8s.io/v1:Ingress').filter(
    (ingress) =>
      !skipsAwait(ingress) &&
      arr(rec(ingress.inputs.spec).rules)
        .flatMap((rule) => arr(rec(rec(rule).http).paths))
        .some((path) => serviceNames.has(String(rec(rec(rec(path).backend).service).name))),
  );
  return [...services, ...ingresses];
}

/** Everything `resource` waits for before the engine creates it, following dependencies to the end. */
export function transitiveDependencies(run: StackRun, resource: RecordedResource): RecordedResource[] {
  const byUrn = new Map(run.resources.map((candidate) => [candidate.urn, candidate]));
  const seen = new Set<string>();
  const pending = [...resource.dependencies];
  while (pending.length > 0) {
    const urn = pending.pop();
    if (urn === undefined || seen.has(urn)) continue;
    seen.add(urn);
    pending.push(...(byUrn.get(urn)?.dependencies ?? []));
  }
  return [...seen].flatMap((urn) => byUrn.get(urn) ?? []);
}

/** The environment the server container starts with: env entries, then the ConfigMaps and Secrets it loads. */
export function serverEnvironment(run: StackRun): Record<string, string> {
  const pod = rec(rec(rec(rolloutOf(run)?.inputs.spec).template).spec);
  const container = rec(arr(pod.containers)[0]);
  const namespace = metadataOf(rolloutOf(run) ?? ({ inputs: {} } as RecordedResource)).namespace;
  const find = (type: string, name: unknown) =>
    ofType(run, type).find(
      (resource) => metadataOf(resource).name === name && metadataOf(resource).namespace === namespace,
    );
  const environment: Record<string, string> = {};
  for (const source of arr(container.envFrom).map(rec)) {
    const configMap = find('kubernetes:core/v1:ConfigMap', rec(source.configMapRef).name);
    const secret = find('kubernetes:core/v1:Secret', rec(source.secretRef).name);
    const data = configMap !== undefined ? rec(configMap.inputs.data) : rec(unwrapSecrets(secret?.inputs.stringData));
    for (const [key, value] of Object.entries(data)) environment[key] = String(value);
  }
  for (const entry of arr(container.env).map(rec))
    if (typeof entry.value === 'string') environment[String(entry.name)] = entry.value;
  return environment;
}

type Check = (run: StackRun, expected: StackExpectations) => string[];

export const CLUSTER_CHECKS: Readonly<Record<string, Check>> = {
  'the Rollout waits for nothing that waits for its own pods (no first-up deadlock)': (run) => {
    const rollout = rolloutOf(run);
    if (rollout === undefined) return ['no Rollout'];
    if (rollout.urn === '') return ['the Rollout has no recorded URN: the dependency walk is broken'];
    const blocking = new Set(waitingForRolloutPods(run).map((resource) => resource.urn));
    return transitiveDependencies(run, rollout)
      .filter((dependency) => blocking.has(dependency.urn))
      .map(
        (dependency) =>
          `the Rollout waits for ${label(dependency)}, which waits for the Rollout's pods: ` +
          `refer to it by its known name, or annotate it pulumi.com/skipAwait`,
      );
  },

  "the server pod's environment passes the app's own config validation": (run) => {
    const environment = serverEnvironment(run);
    const problems = configVariables
      .filter((variable) => variable.required && environment[variable.name] === undefined)
      .map((variable) => `the pod does not set ${variable.name}, which the app requires`);
    try {
      loadConfig(environment);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems.map((problem) => `the app would exit at startup: ${problem}`));
    }
    return problems;
  },

  'pulumi up waits for the new revision: a waiter Job per pod template runs after the Rollout': (run) => {
    const rollout = rolloutOf(run);
    const waiters = ofType(run, 'kubernetes:batch/v1:Job').filter((job) =>
      arr(rec(rec(rec(job.inputs.spec).template).spec).containers).some((container) =>
        arr(rec(container).command).includes(ROLLOUT_WAIT_SCRIPT),
      ),
    );
    const problems: string[] = [];
    if (waiters.length !== 1) return [`expected one rollout waiter Job, found ${waiters.length}`];
    const [waiter] = waiters;
    if (waiter === undefined || rollout === undefined) return ['no Rollout'];
    if (!waiter.dependencies.includes(rollout.urn)) problems.push('the waiter Job does not run after the Rollout');
    const spec = rec(waiter.inputs.spec);
    if (spec.backoffLimit !== 0) problems.push(`the waiter Job retries (backoffLimit ${String(spec.backoffLimit)})`);
    const env = Object.fromEntries(
      arr(rec(arr(rec(rec(spec.template).spec).containers)[0]).env).map((entry) => [
        String(rec(entry).name),
        rec(entry).value,
      ]),
    );
    const rolloutMetadata = rec(rollout.inputs.metadata);
    if (env.ROLLOUT !== rolloutMetadata.name || env.NAMESPACE !== rolloutMetadata.namespace)
      problems.push(`the waiter Job watches ${String(env.NAMESPACE)}/${String(env.ROLLOUT)}, not the Rollout`);
    return problems;
  },

  'every Kubernetes object validates against its published schema, unknown fields refused': (run) =>
    run.resources
      .filter((resource) => resource.custom && /^(kubernetes|pulumi:providers:kubernetes)/.test(resource.type))
      .flatMap((resource) => {
        const model = SCHEMAS[resource.type];
        if (model === undefined)
          return resource.type in WITHOUT_SCHEMA ? [] : [`${label(resource)}: no schema for ${resource.type}`];
        return schemaProblems(model, clusterObject(resource)).map((problem) => `${label(resource)}: ${problem}`);
      }),
};
