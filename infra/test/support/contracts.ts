/**
 * Checks the mocks cannot make pass by echoing inputs: how the Kubernetes provider awaits what the program
 * creates, and what the other workspaces expect of it (the app's config schema). Same shape as checks.ts:
 * one line per problem, empty when all is well.
 */
import { ConfigError, configVariables, loadConfig } from '@slipway/app/config';
import { ROLLOUT_WAIT_SCRIPT } from '../../src/rollout-wait.js';
import { SERVICES_WITHOUT_SOURCE_CONDITION } from '../../src/trust.js';
import { allocatable, CHART_WORKLOADS, EKS_SYSTEM_PODS, parseQuantity, type Amount } from '../../src/capacity.js';
import { CHARTS, type ChartName } from '../../src/charts.js';
import { ADMIN_USER, AUDIT_ROLE } from '../../src/components/database.js';
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

const WORKLOAD_TYPES = ['kubernetes:argoproj.io/v1alpha1:Rollout', 'kubernetes:apps/v1:Deployment'];

/** One long-running workload of the app: the server's Rollout, or a Deployment in its namespace (the job worker). */
export interface AppWorkload {
  readonly resource: RecordedResource;
  readonly label: string;
  readonly podLabels: Props;
  readonly pod: Props;
}

/** The Rollout and every Deployment in the Rollout's namespace, in that order. */
export function appWorkloads(run: StackRun): AppWorkload[] {
  const namespace = metadataOf(rolloutOf(run) ?? ({ inputs: {} } as RecordedResource)).namespace;
  return run.resources
    .filter((resource) => WORKLOAD_TYPES.includes(resource.type) && metadataOf(resource).namespace === namespace)
    .sort((a, b) => WORKLOAD_TYPES.indexOf(a.type) - WORKLOAD_TYPES.indexOf(b.type))
    .map((resource) => {
      const template = rec(rec(resource.inputs.spec).template);
      return {
        resource,
        label: label(resource),
        podLabels: rec(rec(template.metadata).labels),
        pod: rec(template.spec),
      };
    });
}

/** The Deployment running `erp-api worker`, if the stack has one. */
export function workerOf(run: StackRun): AppWorkload | undefined {
  return appWorkloads(run).find((workload) => arr(rec(arr(workload.pod.containers)[0]).args).includes('worker'));
}

/** The environment the server container starts with: env entries, then the ConfigMaps and Secrets it loads. */
export function serverEnvironment(run: StackRun): Record<string, string> {
  const rollout = rolloutOf(run);
  return rollout === undefined ? {} : workloadEnvironment(run, rollout);
}

/** The environment a workload's first container starts with: env entries, then the ConfigMaps and Secrets it loads. */
export function workloadEnvironment(run: StackRun, workload: RecordedResource): Record<string, string> {
  const pod = rec(rec(rec(workload.inputs.spec).template).spec);
  const container = rec(arr(pod.containers)[0]);
  const namespace = metadataOf(workload).namespace;
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

/** Labels of every pod template the run creates, with its namespace and owner. */
export function podTemplates(run: StackRun): { namespace: unknown; owner: string; labels: Props }[] {
  return run.resources.flatMap((resource) => {
    const spec = rec(resource.inputs.spec);
    const namespace = metadataOf(resource).namespace;
    const templates: unknown[] =
      resource.type === 'kubernetes:batch/v1:CronJob'
        ? [rec(rec(spec.jobTemplate).spec).template]
        : resource.type === 'kubernetes:argoproj.io/v1alpha1:AnalysisTemplate'
          ? arr(spec.metrics).map((metric) => rec(rec(rec(rec(metric).provider).job).spec).template)
          : ['kubernetes:batch/v1:Job', ...WORKLOAD_TYPES].includes(resource.type)
            ? [spec.template]
            : [];
    return templates
      .map((template) => rec(rec(template).metadata).labels)
      .filter((labels) => labels !== undefined && Object.keys(rec(labels)).length > 0)
      .map((labels) => ({ namespace, owner: label(resource), labels: rec(labels) }));
  });
}

/** One line of a stack's capacity sum: what runs, how many, and what it requests in total. */
export interface Demand {
  readonly what: string;
  readonly pods: number;
  readonly requests: Amount;
}

function podRequests(pod: Props, what: string, problems: string[]): Amount {
  return arr(pod.containers).reduce<Amount>(
    (sum, container) => {
      const requests = rec(rec(rec(container).resources).requests);
      if (requests.cpu === undefined || requests.memory === undefined) {
        problems.push(`${what} container ${String(rec(container).name)} has no CPU or memory request`);
        return sum;
      }
      return {
        cpu: sum.cpu + parseQuantity('cpu', requests.cpu),
        memory: sum.memory + parseQuantity('memory', requests.memory),
      };
    },
    { cpu: 0, memory: 0 },
  );
}

const valueAt = (values: unknown, path: readonly string[]): unknown =>
  path.reduce<unknown>((value, key) => rec(value)[key], values);

/**
 * Everything the stack keeps running with the node group at its largest: EKS's own pods, every chart workload at
 * its configured replicas (requests read from the rendered values), the app at its minimum replicas, one canary pod,
 * one gate Job and the rollout waiter.
 */
export function stackDemand(run: StackRun, problems: string[] = []): Demand[] {
  const nodes = run.config.nodeMaxSize;
  const demand: Demand[] = EKS_SYSTEM_PODS.map((pod) => {
    const count = pod.perNode ? pod.count * nodes : pod.count;
    return {
      what: `EKS ${pod.name}`,
      pods: count,
      requests: { cpu: pod.requests.cpu * count, memory: pod.requests.memory * count },
    };
  });
  for (const [chart, workloads] of Object.entries(CHART_WORKLOADS) as [
    ChartName,
    (typeof CHART_WORKLOADS)[ChartName],
  ][]) {
    const release = ofType(run, 'kubernetes:helm.sh/v3:Release').find(
      (candidate) => candidate.inputs.chart === CHARTS[chart].chart,
    );
    if (release === undefined) {
      problems.push(`chart ${CHARTS[chart].chart} is not installed`);
      continue;
    }
    const values = release.inputs.values;
    for (const workload of workloads) {
      if (workload.enabled !== undefined && valueAt(values, workload.enabled) === false) continue;
      const what = `${CHARTS[chart].chart} ${workload.name}`;
      const requests = rec(rec(valueAt(values, workload.resources)).requests);
      if (requests.cpu === undefined || requests.memory === undefined) {
        problems.push(`${what} has no explicit requests at values.${workload.resources.join('.')}.requests`);
        continue;
      }
      const count =
        workload.replicas === 'perNode'
          ? nodes
          : typeof workload.replicas === 'number'
            ? workload.replicas
            : Number(valueAt(values, workload.replicas));
      if (!Number.isInteger(count)) {
        problems.push(`${what} has no replica count at values.${String(workload.replicas)}`);
        continue;
      }
      demand.push({
        what,
        pods: count,
        requests: {
          cpu: parseQuantity('cpu', requests.cpu) * count,
          memory: parseQuantity('memory', requests.memory) * count,
        },
      });
    }
  }
  const rollout = rolloutOf(run);
  const serverPod = podRequests(rec(rec(rec(rollout?.inputs.spec).template).spec), 'Rollout', problems);
  const serverPods = run.config.appMinReplicas + 1;
  demand.push({
    what: 'erp-api server (minimum replicas + one canary)',
    pods: serverPods,
    requests: { cpu: serverPod.cpu * serverPods, memory: serverPod.memory * serverPods },
  });
  for (const workload of appWorkloads(run).filter((candidate) => candidate.resource !== rollout)) {
    const scaler = scaledObjectOf(run, workload.resource);
    const minimum = rec(scaler?.inputs.spec).minReplicaCount ?? rec(workload.resource.inputs.spec).replicas;
    if (typeof minimum !== 'number') {
      problems.push(`${workload.label} has neither a ScaledObject minimum nor spec.replicas to count`);
      continue;
    }
    // A rolling update adds one pod (maxSurge 1) before an old one stops.
    const pods = minimum + 1;
    const pod = podRequests(workload.pod, workload.label, problems);
    demand.push({
      what: `${workload.label} (minimum replicas + one surge pod)`,
      pods,
      requests: { cpu: pod.cpu * pods, memory: pod.memory * pods },
    });
  }
  const gate = ofType(run, 'kubernetes:argoproj.io/v1alpha1:AnalysisTemplate')
    .flatMap((template) => arr(rec(template.inputs.spec).metrics))
    .map((metric) => rec(rec(rec(rec(rec(metric).provider).job).spec).template).spec)
    .find((pod) => pod !== undefined);
  demand.push({ what: 'canary gate Job', pods: 1, requests: podRequests(rec(gate), 'gate Job', problems) });
  const waiter = ofType(run, 'kubernetes:batch/v1:Job').find((job) =>
    String(metadataOf(job).name).includes('rollout-wait'),
  );
  demand.push({
    what: 'rollout waiter Job',
    pods: 1,
    requests: podRequests(rec(rec(rec(waiter?.inputs.spec).template).spec), 'waiter Job', problems),
  });
  return demand;
}

/** The ScaledObject whose target is `workload` (same namespace, kind and name). */
export function scaledObjectOf(run: StackRun, workload: RecordedResource): RecordedResource | undefined {
  const [group, version] = workload.type.split(':')[1]?.split('/') ?? [];
  return ofType(run, 'kubernetes:keda.sh/v1alpha1:ScaledObject').find((scaler) => {
    const target = rec(rec(scaler.inputs.spec).scaleTargetRef);
    return (
      metadataOf(scaler).namespace === metadataOf(workload).namespace &&
      target.name === metadataOf(workload).name &&
      target.kind === workload.type.split(':').at(-1) &&
      (target.apiVersion ?? 'apps/v1') === (group === 'core' ? version : `${group}/${version}`)
    );
  });
}

/** Whether any `serviceMonitor` (or `servicemonitor`) map in Helm values is switched on. */
function rendersServiceMonitor(values: unknown): boolean {
  if (Array.isArray(values)) return values.some(rendersServiceMonitor);
  if (typeof values !== 'object' || values === null) return false;
  return Object.entries(values).some(([key, inner]) =>
    /^servicemonitor$/i.test(key) && rec(inner).enabled === true ? true : rendersServiceMonitor(inner),
  );
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

  "every app workload's environment (the server and the job worker) passes the app's own config validation": (run) => {
    const workloads = appWorkloads(run);
    if (workloads.length < 2) return [`only ${workloads.length} app workloads found: the server and the job worker`];
    return workloads.flatMap(({ resource, label: owner }) => {
      const environment = workloadEnvironment(run, resource);
      const problems = configVariables
        .filter((variable) => variable.required && environment[variable.name] === undefined)
        .map((variable) => `${owner}: the pod does not set ${variable.name}, which the app requires`);
      try {
        loadConfig(environment);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        problems.push(...error.problems.map((problem) => `${owner}: the app would exit at startup: ${problem}`));
      }
      return problems;
    });
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

  'every Service, PDB, HPA, NetworkPolicy and ServiceMonitor selects the pods it is meant for': (run) => {
    const problems: string[] = [];
    const rollout = rolloutOf(run);
    const workloads = appWorkloads(run);
    for (const workload of workloads)
      if (!selects(rec(rec(rec(workload.resource.inputs.spec).selector).matchLabels), workload.podLabels))
        problems.push(`the ${workload.label} selector does not match its own pod template`);
    // Each selector must pick the pods of exactly one workload: the server's and the worker's never mix.
    const selected = (selector: Props) => workloads.filter((workload) => selects(selector, workload.podLabels));
    const rolloutNamespace = rollout === undefined ? undefined : metadataOf(rollout).namespace;
    const inAppNamespace = (resource: RecordedResource) => metadataOf(resource).namespace === rolloutNamespace;
    const services = ofType(run, 'kubernetes:core/v1:Service').filter(inAppNamespace);
    for (const service of services)
      if (selected(rec(rec(service.inputs.spec).selector)).length !== 1)
        problems.push(`${label(service)} selects the pods of no single workload`);
    const budgets = ofType(run, 'kubernetes:policy/v1:PodDisruptionBudget').filter(inAppNamespace);
    for (const pdb of budgets)
      if (selected(rec(rec(rec(pdb.inputs.spec).selector).matchLabels)).length !== 1)
        problems.push(`${label(pdb)} does not cover the pods of one workload`);
    for (const workload of workloads)
      if (!budgets.some((pdb) => selects(rec(rec(rec(pdb.inputs.spec).selector).matchLabels), workload.podLabels)))
        problems.push(`${workload.label} has no PodDisruptionBudget`);
    for (const scaler of ofType(run, 'kubernetes:keda.sh/v1alpha1:ScaledObject'))
      if (!workloads.some((workload) => scaledObjectOf(run, workload.resource) === scaler))
        problems.push(
          `${label(scaler)} scales ${JSON.stringify(rec(scaler.inputs.spec).scaleTargetRef)}, no workload of the app`,
        );
    for (const hpa of ofType(run, 'kubernetes:autoscaling/v2:HorizontalPodAutoscaler')) {
      const target = rec(rec(hpa.inputs.spec).scaleTargetRef);
      const rolloutMetadata = rec(rollout?.inputs.metadata);
      if (
        target.apiVersion !== rollout?.inputs.apiVersion ||
        target.kind !== 'Rollout' ||
        target.name !== rolloutMetadata.name ||
        metadataOf(hpa).namespace !== rolloutMetadata.namespace
      )
        problems.push(`${label(hpa)} scales ${JSON.stringify(target)}, not the Rollout`);
    }
    const templates = podTemplates(run);
    for (const policy of ofType(run, 'kubernetes:networking.k8s.io/v1:NetworkPolicy')) {
      const spec = rec(policy.inputs.spec);
      const matchLabels = rec(rec(spec.podSelector).matchLabels);
      const namespace = metadataOf(policy).namespace;
      const inNamespace = templates.filter((template) => template.namespace === namespace);
      if (Object.keys(matchLabels).length > 0 && !inNamespace.some((template) => selects(matchLabels, template.labels)))
        problems.push(`${label(policy)} applies to no pod template in ${String(namespace)}`);
      // Peers chosen by pod labels alone are in the policy's namespace: they must exist there too.
      const peers = [
        ...arr(spec.ingress).flatMap((rule) => arr(rec(rule).from)),
        ...arr(spec.egress).flatMap((rule) => arr(rec(rule).to)),
      ]
        .map(rec)
        .filter((peer) => peer.podSelector !== undefined && peer.namespaceSelector === undefined);
      for (const peer of peers) {
        const peerLabels = rec(rec(peer.podSelector).matchLabels);
        if (!inNamespace.some((template) => selects(peerLabels, template.labels)))
          problems.push(`${label(policy)} names peer pods ${JSON.stringify(peerLabels)}, which no pod template has`);
      }
    }
    for (const monitor of ofType(run, 'kubernetes:monitoring.coreos.com/v1:ServiceMonitor')) {
      const spec = rec(monitor.inputs.spec);
      const namespaces = arr(rec(spec.namespaceSelector).matchNames);
      const matchLabels = rec(rec(spec.selector).matchLabels);
      const scraped = ofType(run, 'kubernetes:core/v1:Service').filter(
        (service) =>
          namespaces.includes(metadataOf(service).namespace) && selects(matchLabels, rec(metadataOf(service).labels)),
      );
      if (scraped.length === 0) problems.push(`${label(monitor)} selects no Service`);
      const ports = arr(spec.endpoints).map((endpoint) => rec(endpoint).port);
      for (const service of scraped) {
        const names = arr(rec(service.inputs.spec).ports).map((port) => rec(port).name);
        for (const port of ports)
          if (!names.includes(port))
            problems.push(`${label(monitor)} scrapes port ${String(port)}, which ${label(service)} lacks`);
        if (selected(rec(rec(service.inputs.spec).selector)).length !== 1)
          problems.push(`${label(monitor)} scrapes ${label(service)}, which selects the pods of no single workload`);
      }
    }
    return problems;
  },

  'everything the stack runs fits its node group, every chart with explicit requests': (run) => {
    const problems: string[] = [];
    const demand = stackDemand(run, problems);
    const node = allocatable(run.config.nodeInstanceType);
    const nodes = run.config.nodeMaxSize;
    const total = demand.reduce(
      (sum, line) => ({
        pods: sum.pods + line.pods,
        cpu: sum.cpu + line.requests.cpu,
        memory: sum.memory + line.requests.memory,
      }),
      { pods: 0, cpu: 0, memory: 0 },
    );
    const capacity = { pods: node.pods * nodes, cpu: node.cpu * nodes, memory: node.memory * nodes };
    for (const key of ['cpu', 'memory', 'pods'] as const)
      if (total[key] > capacity[key])
        problems.push(
          `requests ${key} ${total[key]} exceed ${nodes} × ${run.config.nodeInstanceType} (${capacity[key]}); ` +
            `largest: ${[...demand]
              .sort((a, b) => (key === 'pods' ? b.pods - a.pods : b.requests[key] - a.requests[key]))
              .slice(0, 3)
              .map((line) => line.what)
              .join(', ')}`,
        );
    return problems;
  },

  'every chart that renders a ServiceMonitor waits for kube-prometheus-stack, which installs its CRD': (run) => {
    const releases = ofType(run, 'kubernetes:helm.sh/v3:Release');
    const operator = releases.find((release) => release.inputs.chart === CHARTS.kubePrometheusStack.chart);
    if (operator === undefined) return ['kube-prometheus-stack is not installed'];
    return releases
      .filter((release) => release !== operator && rendersServiceMonitor(release.inputs.values))
      .filter((release) => !transitiveDependencies(run, release).includes(operator))
      .map(
        (release) =>
          `chart ${String(release.inputs.chart)} renders a ServiceMonitor but does not wait for kube-prometheus-stack`,
      );
  },

  'kube-prometheus-stack neither scrapes nor alerts on control-plane parts EKS does not expose': (run) => {
    const release = ofType(run, 'kubernetes:helm.sh/v3:Release').find(
      (candidate) => candidate.inputs.chart === CHARTS.kubePrometheusStack.chart,
    );
    const values = rec(release?.inputs.values);
    const rules = rec(rec(values.defaultRules).rules);
    const problems = ['kubeControllerManager', 'kubeScheduler', 'kubeProxy', 'kubeEtcd']
      .filter((component) => rec(values[component]).enabled !== false)
      .map((component) => `${component} is monitored; EKS does not expose it`);
    for (const rule of [
      'kubeControllerManager',
      'kubeSchedulerAlerting',
      'kubeSchedulerRecording',
      'kubeProxy',
      'etcd',
    ])
      if (rules[rule] !== false) problems.push(`default rules ${rule} are on; their targets never exist on EKS`);
    return problems;
  },

  "autoscaling works: metrics-server and Cluster Autoscaler run, and the HPA alone sets the Rollout's replicas": (
    run,
  ) => {
    const problems: string[] = [];
    const releases = ofType(run, 'kubernetes:helm.sh/v3:Release');
    const chart = (name: string) => releases.find((release) => release.inputs.chart === name);
    if (chart(CHARTS.metricsServer.chart) === undefined)
      problems.push('metrics-server is not installed: HPAs read no CPU');
    const autoscaler = chart(CHARTS.clusterAutoscaler.chart);
    if (autoscaler === undefined) problems.push('no node autoscaler is installed');
    else {
      const values = rec(autoscaler.inputs.values);
      const cluster = ofType(run, 'aws:eks/cluster:Cluster')[0];
      if (rec(values.autoDiscovery).clusterName !== cluster?.inputs.name)
        problems.push(
          `Cluster Autoscaler discovers ${JSON.stringify(rec(values.autoDiscovery).clusterName)}, not the cluster`,
        );
      const annotations = rec(rec(rec(values.rbac).serviceAccount).annotations);
      if (typeof annotations['eks.amazonaws.com/role-arn'] !== 'string')
        problems.push('Cluster Autoscaler has no IAM role for its service account');
    }
    const targeted = ofType(run, 'kubernetes:autoscaling/v2:HorizontalPodAutoscaler').some(
      (hpa) => rec(rec(hpa.inputs.spec).scaleTargetRef).kind === 'Rollout',
    );
    const replicas = rec(rolloutOf(run)?.inputs.spec).replicas;
    if (targeted && replicas !== undefined)
      problems.push(`the Rollout sets spec.replicas ${JSON.stringify(replicas)} while an HPA owns it`);
    return problems;
  },

  'the VPC CNI, kube-proxy and CoreDNS are managed addons, and the CNI enforces NetworkPolicies': (run) => {
    const addons = Object.fromEntries(
      ofType(run, 'aws:eks/addon:Addon').map((addon) => [String(addon.inputs.addonName), addon.inputs]),
    );
    const problems = ['vpc-cni', 'kube-proxy', 'coredns']
      .filter((name) => addons[name] === undefined)
      .map((name) => `${name} is not a managed addon: it will not upgrade with the control plane`);
    const cni = addons['vpc-cni'];
    if (cni !== undefined) {
      const configuration = rec(
        JSON.parse(typeof cni.configurationValues === 'string' ? cni.configurationValues : '{}') as unknown,
      );
      if (configuration.enableNetworkPolicy !== 'true')
        problems.push('the VPC CNI runs without enableNetworkPolicy: NetworkPolicies are not enforced');
    }
    return problems;
  },

  "the job worker runs `erp-api worker` of the Rollout's image, locked down like the server, and KEDA alone sets its replicas":
    (run) => {
      const problems: string[] = [];
      const worker = workerOf(run);
      const rollout = rolloutOf(run);
      if (worker === undefined || rollout === undefined) return ['no Deployment runs `erp-api worker`'];
      const server = rec(rec(rec(rollout.inputs.spec).template).spec);
      const [serverContainer, workerContainer] = [server, worker.pod].map((pod) => rec(arr(pod.containers)[0]));
      const show = (value: unknown) => JSON.stringify(value);
      if (workerContainer?.image !== serverContainer?.image)
        problems.push(
          `the worker runs ${show(workerContainer?.image)}, not the Rollout's ${show(serverContainer?.image)}`,
        );
      if (show(worker.pod.securityContext) !== show(server.securityContext))
        problems.push(`the worker's pod securityContext ${show(worker.pod.securityContext)} differs from the server's`);
      if (show(workerContainer?.securityContext) !== show(serverContainer?.securityContext))
        problems.push(
          `the worker's container securityContext ${show(workerContainer?.securityContext)} differs from the server's`,
        );
      if (worker.pod.automountServiceAccountToken !== false) problems.push('the worker mounts a Kubernetes API token');
      const environment = workloadEnvironment(run, worker.resource);
      const port = arr(workerContainer?.ports)
        .map(rec)
        .find((candidate) => candidate.name === 'http')?.containerPort;
      if (String(port) !== environment.PORT)
        problems.push(`the worker listens on PORT ${String(environment.PORT)}, its container port is ${String(port)}`);
      for (const [probe, path] of [
        ['livenessProbe', '/health/live'],
        ['readinessProbe', '/health/ready'],
      ] as const) {
        const httpGet = rec(rec(workerContainer?.[probe]).httpGet);
        if (httpGet.path !== path || httpGet.port !== 'http')
          problems.push(`the worker's ${probe} asks ${show(httpGet)}, not ${path} on port http`);
      }
      const drain = Number(environment.SHUTDOWN_TIMEOUT_MS) / 1000;
      const grace = worker.pod.terminationGracePeriodSeconds;
      if (typeof grace !== 'number' || !(grace > drain))
        problems.push(`the worker's grace period ${String(grace)} s does not outlast its ${drain} s drain`);
      if (environment.SMTP_URL === undefined || environment.SMTP_URL === '')
        problems.push('the worker has no SMTP_URL: the outbox would never be sent');
      const spec = rec(worker.resource.inputs.spec);
      if (spec.replicas !== undefined)
        problems.push(`the worker Deployment sets spec.replicas ${show(spec.replicas)} while KEDA's HPA owns it`);
      const scaler = scaledObjectOf(run, worker.resource);
      if (scaler === undefined) return [...problems, 'no ScaledObject scales the worker'];
      const range = [rec(scaler.inputs.spec).minReplicaCount, rec(scaler.inputs.spec).maxReplicaCount];
      if (show(range) !== show([1, 20])) problems.push(`the worker scales over ${show(range)}, not [1,20]`);
      const keda = ofType(run, 'kubernetes:helm.sh/v3:Release').find(
        (release) => release.inputs.chart === CHARTS.keda.chart,
      );
      if (keda === undefined) problems.push('KEDA is not installed: the ScaledObject would have no controller');
      else if (!transitiveDependencies(run, scaler).includes(keda))
        problems.push('the ScaledObject does not wait for the KEDA release, which installs its CRD');
      return problems;
    },

  'the deploy and break-glass roles reach the cluster through admin access entries': (run) => {
    const entries = ofType(run, 'aws:eks/accessEntry:AccessEntry').map((entry) => String(entry.inputs.principalArn));
    const admins = ofType(run, 'aws:eks/accessPolicyAssociation:AccessPolicyAssociation')
      .filter(
        (association) =>
          String(association.inputs.policyArn).endsWith('/AmazonEKSClusterAdminPolicy') &&
          rec(association.inputs.accessScope).type === 'cluster',
      )
      .map((association) => String(association.inputs.principalArn));
    return [run.config.deployRoleName, run.config.breakGlassRoleName].flatMap((role) => {
      const arn = entries.find((candidate) => candidate.endsWith(`:role/${role}`));
      if (arn === undefined) return [`IAM role ${role} has no EKS access entry`];
      return admins.includes(arn) ? [] : [`IAM role ${role} has an access entry without cluster admin`];
    });
  },

  'least privilege: one service account per workload, no API token but the waiter’s, an AWS role for backups only': (
    run,
  ) => {
    const problems: string[] = [];
    const accounts = new Map(
      ofType(run, 'kubernetes:core/v1:ServiceAccount').map((account) => [
        `${String(metadataOf(account).namespace)}/${String(metadataOf(account).name)}`,
        account,
      ]),
    );
    const used = new Map<string, string[]>();
    for (const resource of run.resources) {
      const spec = rec(resource.inputs.spec);
      const pods =
        resource.type === 'kubernetes:batch/v1:CronJob'
          ? [rec(rec(rec(rec(spec.jobTemplate).spec).template).spec)]
          : ['kubernetes:batch/v1:Job', ...WORKLOAD_TYPES].includes(resource.type)
            ? [rec(rec(spec.template).spec)]
            : [];
      for (const pod of pods) {
        const accountName = typeof pod.serviceAccountName === 'string' ? pod.serviceAccountName : 'default';
        const key = `${String(metadataOf(resource).namespace)}/${accountName}`;
        const kind = String(rec(arr(pod.containers)[0]).args ?? rec(arr(pod.containers)[0]).name);
        used.set(key, [...(used.get(key) ?? []), `${label(resource)} (${kind})`]);
        const account = accounts.get(key);
        const mounts = pod.automountServiceAccountToken ?? account?.inputs.automountServiceAccountToken ?? true;
        const waiter = String(metadataOf(resource).name).includes('rollout-wait');
        if (mounts !== false && !waiter) problems.push(`${label(resource)} mounts a Kubernetes API token`);
        const role = rec(rec(account?.inputs.metadata).annotations)['eks.amazonaws.com/role-arn'];
        const backupJob = ['database-backup', 'restore-drill', 'audit-verify'].includes(
          String(metadataOf(resource).name),
        );
        if (role !== undefined && !backupJob)
          problems.push(`${label(resource)} runs with an AWS role it does not need`);
      }
    }
    for (const [account, users] of used)
      if (
        new Set(users.map((user) => user.replace(/^\S+ /, '').replace(/-[0-9a-f]{10,}/, ''))).size > 1 &&
        !account.endsWith('/erp-api-backup')
      )
        problems.push(`service account ${account} is shared by ${users.join(', ')}`);
    return problems;
  },

  'audit verify reads the database as the read-only audit role, never with the master credentials': (run) => {
    const problems: string[] = [];
    const secrets = new Map(
      ofType(run, 'kubernetes:core/v1:Secret').map((secret) => [
        `${String(metadataOf(secret).namespace)}/${String(metadataOf(secret).name)}`,
        rec(unwrapSecrets(secret.inputs.stringData)),
      ]),
    );
    const userOf = (data: Props | undefined): string | undefined =>
      typeof data?.DATABASE_URL === 'string' ? new URL(data.DATABASE_URL).username : undefined;
    const job = ofType(run, 'kubernetes:batch/v1:CronJob').find((cron) => metadataOf(cron).name === 'audit-verify');
    if (job === undefined) return ['no audit-verify CronJob'];
    const pod = rec(rec(rec(rec(rec(job.inputs.spec).jobTemplate).spec).template).spec);
    const containers = arr(pod.containers).map(rec);
    const mounted = [
      ...containers.flatMap((container) => arr(container.envFrom).map((from) => rec(rec(from).secretRef).name)),
      ...containers.flatMap((container) =>
        arr(container.env).map((entry) => rec(rec(rec(entry).valueFrom).secretKeyRef).name),
      ),
      ...arr(pod.volumes).map((volume) => rec(rec(volume).secret).secretName),
    ].filter((name): name is string => typeof name === 'string');
    const namespace = String(metadataOf(job).namespace);
    const users = mounted.map((name) => userOf(secrets.get(`${namespace}/${name}`)));
    for (const [index, name] of mounted.entries())
      if (users[index] === ADMIN_USER) problems.push(`audit-verify mounts Secret ${name}, the master user's`);
    if (!users.includes(AUDIT_ROLE)) problems.push(`audit-verify has no DATABASE_URL of ${AUDIT_ROLE}`);
    // The migration Job gives the role its login: the password it sets must be the one in audit-verify's URL.
    const auditUrl = [...secrets.values()].find((data) => userOf(data) === AUDIT_ROLE)?.DATABASE_URL;
    const given = [...secrets.values()].find((data) => userOf(data) === ADMIN_USER)?.AUDIT_DATABASE_PASSWORD;
    if (typeof auditUrl !== 'string' || given !== decodeURIComponent(new URL(auditUrl).password))
      problems.push(`the migration Job does not give ${AUDIT_ROLE} the password of audit-verify's DATABASE_URL`);
    return problems;
  },

  'dumps are locked by S3 Object Lock (compliance in prod) for the shortest tier, which lifecycle never waits on': (
    run,
  ) => {
    const problems: string[] = [];
    const buckets = ofType(run, 'aws:s3/bucket:Bucket');
    const locks = ofType(run, 'aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration');
    if (buckets.length !== 1 || locks.length !== 1)
      return [`expected one dump bucket with one lock configuration, found ${buckets.length} and ${locks.length}`];
    const [bucket, lock] = [buckets[0], locks[0]] as [RecordedResource, RecordedResource];
    // S3 refuses Object Lock on a bucket without versioning; set at creation, it needs no later switch.
    if (bucket.inputs.objectLockEnabled !== true) problems.push('the dump bucket is not created with Object Lock');
    const versioning = ofType(run, 'aws:s3/bucketVersioning:BucketVersioning')[0];
    if (
      rec(versioning?.inputs.versioningConfiguration).status !== 'Enabled' ||
      !lock.dependencies.includes(versioning?.urn ?? '')
    )
      problems.push('the lock configuration does not follow enabled versioning');
    const retention = rec(rec(lock.inputs.rule).defaultRetention);
    const mode = run.config.protectData ? 'COMPLIANCE' : 'GOVERNANCE';
    if (lock.inputs.objectLockEnabled !== 'Enabled' || retention.mode !== mode)
      problems.push(`the dump lock is ${String(retention.mode)}, expected ${mode} in ${run.stack}`);
    const rules = arr(ofType(run, 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration')[0]?.inputs.rules)
      .map(rec)
      .filter((rule) => rec(rule.expiration).days !== undefined);
    const tiers = rules.map((rule) => Number(rec(rule.expiration).days));
    if (tiers.length === 0 || retention.days !== Math.min(...tiers) || retention.years !== undefined)
      problems.push(
        `the dump lock keeps ${String(retention.days)} days, not the shortest tier's ${Math.min(...tiers)}`,
      );
    for (const rule of rules)
      if (typeof rec(rule.noncurrentVersionExpiration).noncurrentDays !== 'number')
        problems.push(`lifecycle rule ${String(rule.id)} never removes noncurrent versions: locked dumps pile up`);
    for (const policy of ofType(run, 'aws:iam/rolePolicy:RolePolicy')) {
      const actions = arr((JSON.parse(String(policy.inputs.policy)) as Props).Statement).flatMap((statement) => {
        const action = rec(statement).Action;
        return Array.isArray(action) ? action.map(String) : [String(action)];
      });
      for (const action of actions)
        if (['s3:*', 's3:BypassGovernanceRetention', 's3:PutBucketObjectLockConfiguration'].includes(action))
          problems.push(`role policy ${policy.name} allows ${action}: it could lift the dump lock`);
    }
    return problems;
  },

  'recovery points are locked for their retention, in compliance mode in prod; non-prod vaults can be destroyed': (
    run,
  ) => {
    const problems: string[] = [];
    const vaults = ofType(run, 'aws:backup/vault:Vault');
    const locks = ofType(run, 'aws:backup/vaultLockConfiguration:VaultLockConfiguration');
    const retention = rec(rec(arr(ofType(run, 'aws:backup/plan:Plan')[0]?.inputs.rules)[0]).lifecycle).deleteAfter;
    const primary = vaults.find((vault) => vault.inputs.name === locks[0]?.inputs.backupVaultName);
    if (locks.length === 0 || primary === undefined) return ['the backup vault has no vault lock'];
    const lock = locks[0]?.inputs ?? {};
    if (typeof lock.minRetentionDays !== 'number' || typeof retention !== 'number' || lock.minRetentionDays < retention)
      problems.push(
        `the vault lock keeps ${String(lock.minRetentionDays)} days, less than the ${String(retention)}-day retention`,
      );
    const compliance = typeof lock.changeableForDays === 'number';
    if (compliance !== run.config.protectData)
      problems.push(`the vault lock is in ${compliance ? 'compliance' : 'governance'} mode in ${run.stack}`);
    if (primary.inputs.forceDestroy !== !run.config.protectData)
      problems.push(`the vault's forceDestroy is ${String(primary.inputs.forceDestroy)} in ${run.stack}`);
    return problems;
  },

  'Kyverno rules enforce per rule, in the app namespace, and are ready before the first pods': (run) => {
    const problems: string[] = [];
    const policies = ofType(run, 'kubernetes:kyverno.io/v1:ClusterPolicy');
    const namespace = metadataOf(rolloutOf(run) ?? ({ inputs: {} } as RecordedResource)).namespace;
    for (const policy of policies) {
      const spec = rec(policy.inputs.spec);
      if (spec.validationFailureAction !== undefined)
        problems.push(`${label(policy)} sets the deprecated spec.validationFailureAction`);
      for (const rule of arr(spec.rules).map(rec)) {
        // The CRD reads failureAction inside validate and each verifyImages entry; anywhere else it is pruned.
        const actions = [
          ...(rule.validate === undefined ? [] : [rec(rule.validate).failureAction]),
          ...arr(rule.verifyImages).map((entry) => rec(entry).failureAction),
        ];
        if (actions.length === 0 || actions.some((action) => action !== 'Enforce'))
          problems.push(`${label(policy)} rule ${String(rule.name)} does not enforce`);
        const scopes = arr(rec(rule.match).any).map((entry) => arr(rec(rec(entry).resources).namespaces));
        if (scopes.length === 0 || scopes.some((namespaces) => namespaces.length !== 1 || namespaces[0] !== namespace))
          problems.push(`${label(policy)} rule ${String(rule.name)} is not scoped to namespace ${String(namespace)}`);
      }
      if (rec(metadataOf(policy).annotations)['pulumi.com/waitFor'] !== 'condition=Ready')
        problems.push(`${label(policy)} is not awaited until Kyverno reports it Ready`);
    }
    const first = ofType(run, 'kubernetes:batch/v1:Job').filter((job) => metadataOf(job).namespace === namespace);
    const workloads = appWorkloads(run).map((workload) => workload.resource);
    if (workloads.length < 2)
      problems.push(`only ${workloads.length} app workloads found: the server and the job worker`);
    for (const job of [...first, ...workloads]) {
      const waits = new Set(transitiveDependencies(run, job).map((dependency) => dependency.urn));
      for (const policy of policies)
        if (!waits.has(policy.urn)) problems.push(`${label(job)} may start before ${label(policy)} is ready`);
    }
    return problems;
  },

  'the control plane puts its network interfaces in private subnets only': (run) => {
    const cluster = ofType(run, 'aws:eks/cluster:Cluster')[0];
    const subnets = arr(rec(cluster?.inputs.vpcConfig).subnetIds).map(String);
    const publicSubnets = ofType(run, 'aws:ec2/subnet:Subnet')
      .filter((subnet) => rec(subnet.inputs.tags)['kubernetes.io/role/elb'] === '1')
      .map((subnet) => `${subnet.name}-id`);
    if (publicSubnets.length === 0) return ['no public subnet found: the walk over subnets is broken'];
    return subnets
      .filter((id) => publicSubnets.includes(id))
      .map((id) => `the EKS control plane uses public subnet ${id}`);
  },

  'every log group is encrypted with its own rotating key that CloudWatch Logs may use for that log group only': (
    run,
  ) => {
    const problems: string[] = [];
    const groups = ofType(run, 'aws:cloudwatch/logGroup:LogGroup');
    if (groups.length < 2) problems.push(`expected the flow-log and control-plane log groups, found ${groups.length}`);
    const keys = ofType(run, 'aws:kms/key:Key');
    for (const group of groups) {
      const name = group.inputs.name;
      const keyArn = group.inputs.kmsKeyId;
      const key = keys.find((candidate) => typeof keyArn === 'string' && keyArn.endsWith(`:${candidate.name}`));
      if (typeof name !== 'string' || key === undefined) {
        problems.push(`log group ${group.name} has no name or no customer-managed key (kmsKeyId ${String(keyArn)})`);
        continue;
      }
      if (key.inputs.enableKeyRotation !== true) problems.push(`the key of log group ${name} does not rotate`);
      const policy = typeof key.inputs.policy === 'string' ? rec(JSON.parse(key.inputs.policy)) : {};
      const grants = arr(policy.Statement)
        .map(rec)
        .filter((statement) => rec(statement.Principal).Service === `logs.${run.config.region}.amazonaws.com`);
      if (grants.length === 0) problems.push(`the key of log group ${name} does not let CloudWatch Logs use it`);
      for (const grant of grants) {
        const scope = rec(rec(grant.Condition).ArnEquals)['kms:EncryptionContext:aws:logs:arn'];
        if (
          typeof scope !== 'string' ||
          !scope.startsWith(`arn:aws:logs:${run.config.region}:`) ||
          !scope.endsWith(`:log-group:${name}`)
        )
          problems.push(`the key of log group ${name} lets CloudWatch Logs use it for ${String(scope)}`);
      }
    }
    return problems;
  },

  'every role a service assumes is limited to this account’s resources (aws:SourceAccount and aws:SourceArn)': (
    run,
  ) => {
    const problems: string[] = [];
    const statements = ofType(run, 'aws:iam/role:Role').flatMap((role) =>
      typeof role.inputs.assumeRolePolicy === 'string'
        ? arr(rec(JSON.parse(role.inputs.assumeRolePolicy)).Statement).map((statement) => ({
            role: role.name,
            statement: rec(statement),
          }))
        : [],
    );
    const trusted = statements.filter(({ statement }) => typeof rec(statement.Principal).Service === 'string');
    if (!trusted.some(({ statement }) => rec(statement.Principal).Service === 'vpc-flow-logs.amazonaws.com'))
      problems.push('no role trusts vpc-flow-logs.amazonaws.com: the walk over trust policies is broken');
    for (const { role, statement } of trusted) {
      const service = String(rec(statement.Principal).Service);
      if (service in SERVICES_WITHOUT_SOURCE_CONDITION) continue;
      const condition = rec(statement.Condition);
      const account = rec(condition.StringEquals)['aws:SourceAccount'];
      const source = rec(condition.ArnLike)['aws:SourceArn'];
      const prefix = `arn:aws:${service.split('.')[0] === 'vpc-flow-logs' ? 'ec2' : service.split('.')[0]}:${run.config.region}:`;
      if (typeof account !== 'string' || !/^\d{12}$/.test(account))
        problems.push(`role ${role} trusts ${service} without aws:SourceAccount`);
      else if (
        typeof source !== 'string' ||
        !source.startsWith(`${prefix}${account}:`) ||
        source === `${prefix}${account}:*`
      )
        problems.push(
          `role ${role} trusts ${service} for source ${String(source)}, not one kind of this account's resources`,
        );
    }
    return problems;
  },
};
