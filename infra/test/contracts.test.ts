/**
 * The cluster checks of support/contracts.ts can fail: each defect they guard, put back in memory into a dev run,
 * fails its check; and the pod environment's TRUST_PROXY gives the app the forwarded client address.
 */
import type { AddressInfo } from 'node:net';

import express from 'express';
import { beforeAll, describe, expect, test } from 'vitest';

import { loadConfig } from '@slipway/app/config';
import { podEnvironment, type PodValues } from '../src/pod-environment.js';
import { EXPECTED } from './support/checks.js';
import { CLUSTER_CHECKS, serverEnvironment, stackDemand } from './support/contracts.js';
import { clusterObject, SCHEMAS, schemaProblems } from './support/schemas.js';
import { ofType, runStack, unwrapSecrets, type RecordedResource, type StackRun } from './support/stack.js';

const SCHEMA = 'every Kubernetes object validates against its published schema, unknown fields refused';
const SELECTORS = 'every Service, PDB, HPA, NetworkPolicy and ServiceMonitor selects the pods it is meant for';
const CAPACITY = 'everything the stack runs fits its node group, every chart with explicit requests';
const DEADLOCK = 'the Rollout waits for nothing that waits for its own pods (no first-up deadlock)';
const POD_ENVIRONMENT =
  "every app workload's environment (the server and the job worker) passes the app's own config validation";

function check(name: string) {
  const found = CLUSTER_CHECKS[name];
  if (found === undefined) throw new Error(`no check named ${name}`);
  return found;
}

function replace(run: StackRun, change: (resource: RecordedResource) => RecordedResource): StackRun {
  return { ...run, resources: run.resources.map(change) };
}

const nameOf = (resource: RecordedResource) => (resource.inputs.metadata as { name?: string } | undefined)?.name;

describe('cluster contracts, against a dev run', () => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStack('dev');
  });

  test('a Rollout that reads the stable Service output, which awaits endpoints, fails the deadlock check', () => {
    const stable = ofType(run, 'kubernetes:core/v1:Service').find((service) => nameOf(service) === 'erp-api-stable');
    if (stable === undefined) throw new Error('no stable Service');
    const deadlocked = replace(run, (resource) => {
      if (resource === stable) {
        const metadata = { ...(resource.inputs.metadata as object), annotations: {} };
        return { ...resource, inputs: { ...resource.inputs, metadata } };
      }
      if (resource.type === 'kubernetes:argoproj.io/v1alpha1:Rollout')
        return { ...resource, dependencies: [...resource.dependencies, stable.urn] };
      return resource;
    });
    expect(check(DEADLOCK)(deadlocked, EXPECTED.dev)).toEqual([
      "the Rollout waits for Service erp-api-stable, which waits for the Rollout's pods: refer to it by its known name, or annotate it pulumi.com/skipAwait",
    ]);
    expect(check(DEADLOCK)(run, EXPECTED.dev)).toEqual([]);
  });

  test('a pod Secret without JWT_SECRETS fails the pod environment check with the app’s own message', () => {
    const withoutJwt = replace(run, (resource) => {
      if (resource.type !== 'kubernetes:core/v1:Secret' || nameOf(resource) !== 'erp-api-runtime') return resource;
      const stringData = Object.fromEntries(
        Object.entries(unwrapSecrets(resource.inputs.stringData) as object).filter(([key]) => key !== 'JWT_SECRETS'),
      );
      return { ...resource, inputs: { ...resource.inputs, stringData } };
    });
    const problems = check(POD_ENVIRONMENT)(withoutJwt, EXPECTED.dev);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^Rollout erp-api: the app would exit at startup: JWT_SECRETS is not set but is required/,
    );
    expect(check(POD_ENVIRONMENT)(run, EXPECTED.dev)).toEqual([]);
  });

  test('podEnvironment refuses to leave out a variable the app requires, naming it and its fix', () => {
    expect(() => podEnvironment({ NODE_ENV: 'production' })).toThrow(
      /lacks variables the app requires: DATABASE_URL \(set DATABASE_URL.*; REDIS_URL .*; PASSWORD_PEPPER \(set PASSWORD_PEPPER/,
    );
  });

  test('podEnvironment refuses a variable the app does not read, so a renamed config row cannot leave a value behind', () => {
    expect(() => podEnvironment({ NODE_ENV: 'production', TRUSTED_PROXY: '1' } as PodValues)).toThrow(
      'the erp-api pod environment sets TRUSTED_PROXY, which the app does not read (app/src/config.ts): rename or remove it',
    );
  });

  test("behind ingress-nginx, the app reads the client's address from X-Forwarded-For, not the proxy's", async () => {
    const { trustProxy } = loadConfig(serverEnvironment(run));
    const app = express();
    app.set('trust proxy', trustProxy);
    app.get('/ip', (request, response) => {
      response.json({ ip: request.ip });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      // What ingress-nginx sends: the client address it saw, replacing anything the client claimed.
      const response = await fetch(`http://127.0.0.1:${port}/ip`, { headers: { 'X-Forwarded-For': '198.51.100.23' } });
      expect(await response.json()).toEqual({ ip: '198.51.100.23' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('a Rollout with stableIngres for stableIngress fails the schema check, naming the field', () => {
    const typo = replace(run, (resource) => {
      if (resource.type !== 'kubernetes:argoproj.io/v1alpha1:Rollout') return resource;
      const spec = resource.inputs.spec as { strategy: { canary: Record<string, unknown> } };
      const canary = { ...spec.strategy.canary, trafficRouting: { nginx: { stableIngres: 'erp-api' } } };
      return { ...resource, inputs: { ...resource.inputs, spec: { ...spec, strategy: { canary } } } };
    });
    expect(check(SCHEMA)(typo, EXPECTED.dev)).toEqual([
      'Rollout erp-api: unknown field .spec.strategy.canary.trafficRouting.nginx.stableIngres',
    ]);
    expect(check(SCHEMA)(run, EXPECTED.dev)).toEqual([]);
  });

  test('a ClusterPolicy with failureAction on the rule, which Kyverno 1.16 prunes (so it audits), fails two checks', () => {
    const kyverno = 'Kyverno rules enforce per rule, in the app namespace, and are ready before the first pods';
    const ruleLevel = replace(run, (resource) => {
      if (resource.type !== 'kubernetes:kyverno.io/v1:ClusterPolicy' || nameOf(resource) !== 'disallow-latest-tag')
        return resource;
      const spec = resource.inputs.spec as { rules: { validate: Record<string, unknown> }[] };
      const rules = spec.rules.map(({ validate: { failureAction, ...validate }, ...rule }) => ({
        ...rule,
        failureAction,
        validate,
      }));
      return { ...resource, inputs: { ...resource.inputs, spec: { ...spec, rules } } };
    });
    expect(check(SCHEMA)(ruleLevel, EXPECTED.dev)).toEqual([
      'ClusterPolicy disallow-latest-tag: unknown field .spec.rules[0].failureAction',
    ]);
    expect(check(kyverno)(ruleLevel, EXPECTED.dev)).toEqual([
      'ClusterPolicy disallow-latest-tag rule no-latest does not enforce',
    ]);
    expect(check(kyverno)(run, EXPECTED.dev)).toEqual([]);
  });

  test('audit-verify back on the master user’s Secret fails the read-only audit role check', () => {
    const audit = 'audit verify reads the database as the read-only audit role, never with the master credentials';
    const withAdmin = replace(run, (resource) => {
      if (resource.type !== 'kubernetes:batch/v1:CronJob' || nameOf(resource) !== 'audit-verify') return resource;
      const json = JSON.stringify(resource).replaceAll(
        '"secretRef":{"name":"erp-api-audit"}',
        '"secretRef":{"name":"erp-api-admin"}',
      );
      return JSON.parse(json) as RecordedResource;
    });
    expect(check(audit)(withAdmin, EXPECTED.dev)).toEqual([
      "audit-verify mounts Secret erp-api-admin, the master user's",
      'audit-verify has no DATABASE_URL of erp_audit_reader',
    ]);
    expect(check(audit)(run, EXPECTED.dev)).toEqual([]);
  });

  test('a dump bucket without Object Lock, or locked longer than the daily tier, fails the dump lock check', () => {
    const lockCheck =
      'dumps are locked by S3 Object Lock (compliance in prod) for the shortest tier, which lifecycle never waits on';
    const unlocked = replace(run, (resource) => {
      if (resource.type === 'aws:s3/bucket:Bucket')
        return { ...resource, inputs: { ...resource.inputs, objectLockEnabled: false } };
      if (resource.type === 'aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration')
        return {
          ...resource,
          inputs: { ...resource.inputs, rule: { defaultRetention: { mode: 'COMPLIANCE', days: 365 } } },
        };
      return resource;
    });
    expect(check(lockCheck)(unlocked, EXPECTED.dev)).toEqual([
      'the dump bucket is not created with Object Lock',
      'the dump lock is COMPLIANCE, expected GOVERNANCE in dev',
      "the dump lock keeps 365 days, not the shortest tier's 7",
    ]);
    expect(check(lockCheck)(run, EXPECTED.dev)).toEqual([]);
  });

  test('every kind the stacks render refuses an unknown field in its body', () => {
    const rendered = run.resources.filter((resource) => SCHEMAS[resource.type] !== undefined);
    expect(new Set(rendered.map((resource) => resource.type))).toEqual(new Set(Object.keys(SCHEMAS)));
    for (const resource of rendered) {
      const object = clusterObject(resource) as Record<string, unknown>;
      const body = typeof object.spec === 'object' ? 'spec' : 'metadata';
      const changed = { ...object, [body]: { ...(object[body] as object), replicaCount: 3 } };
      const model = SCHEMAS[resource.type];
      if (model === undefined) throw new Error(resource.type);
      expect(schemaProblems(model, changed), `${resource.type} ${resource.name}`).toContain(
        `unknown field .${body}.replicaCount`,
      );
    }
  });

  test('a PDB on the wrong component and a ServiceMonitor on a missing port fail the selector check', () => {
    const drifted = replace(run, (resource) => {
      if (resource.type === 'kubernetes:policy/v1:PodDisruptionBudget') {
        const spec = { maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/component': 'api' } } };
        return { ...resource, inputs: { ...resource.inputs, spec } };
      }
      if (resource.type === 'kubernetes:monitoring.coreos.com/v1:ServiceMonitor') {
        const spec = { ...(resource.inputs.spec as object), endpoints: [{ port: 'metrics', path: '/metrics' }] };
        return { ...resource, inputs: { ...resource.inputs, spec } };
      }
      return resource;
    });
    expect(check(SELECTORS)(drifted, EXPECTED.dev)).toEqual([
      'PodDisruptionBudget erp-api does not cover the pods of one workload',
      'PodDisruptionBudget erp-api-worker does not cover the pods of one workload',
      'Rollout erp-api has no PodDisruptionBudget',
      'Deployment erp-api-worker has no PodDisruptionBudget',
      'ServiceMonitor erp-api-worker scrapes port metrics, which Service erp-api-worker-metrics lacks',
      'ServiceMonitor erp-api scrapes port metrics, which Service erp-api-metrics lacks',
    ]);
    expect(check(SELECTORS)(run, EXPECTED.dev)).toEqual([]);
  });

  test('dev on a single node, or with Loki at chart defaults, fails the capacity check', () => {
    const oneNode = { ...run, config: { ...run.config, nodeMaxSize: 1 } };
    expect(check(CAPACITY)(oneNode, EXPECTED.dev)).toEqual([
      expect.stringMatching(/^requests cpu \d+ exceed 1 × t3\.large \(1930\); largest: erp-api server/),
      expect.stringMatching(/^requests memory \d+ exceed 1 × t3\.large \(7042\)/),
      expect.stringMatching(/^requests pods \d+ exceed 1 × t3\.large \(35\)/),
    ]);
    const lokiDefaults = replace(run, (resource) => {
      if (resource.inputs.chart !== 'loki') return resource;
      const values = { ...(resource.inputs.values as object), chunksCache: {} };
      return { ...resource, inputs: { ...resource.inputs, values } };
    });
    expect(check(CAPACITY)(lokiDefaults, EXPECTED.dev)).toEqual([
      'loki chunks-cache has no explicit requests at values.chunksCache.resources.requests',
    ]);
    expect(check(CAPACITY)(run, EXPECTED.dev)).toEqual([]);
  });

  test('a worker that sets its replicas, drops its security context, stops too soon or scales before KEDA exists fails the worker check', () => {
    const worker =
      "the job worker runs `erp-api worker` of the Rollout's image, locked down like the server, and KEDA alone sets its replicas";
    const keda = run.resources.find((resource) => resource.inputs.chart === 'keda');
    const drifted = replace(run, (resource) => {
      if (resource.type === 'kubernetes:apps/v1:Deployment') {
        const spec = resource.inputs.spec as { template: { spec: Record<string, unknown> } };
        const pod = spec.template.spec as { containers: Record<string, unknown>[] };
        const containers = pod.containers.map((container) => ({
          ...container,
          securityContext: { runAsNonRoot: true },
        }));
        const template = { ...spec.template, spec: { ...pod, containers, terminationGracePeriodSeconds: 30 } };
        return { ...resource, inputs: { ...resource.inputs, spec: { ...spec, replicas: 3, template } } };
      }
      if (resource.type === 'kubernetes:keda.sh/v1alpha1:ScaledObject')
        return { ...resource, dependencies: resource.dependencies.filter((urn) => urn !== keda?.urn) };
      return resource;
    });
    expect(check(worker)(drifted, EXPECTED.dev)).toEqual([
      expect.stringMatching(
        /^the worker's container securityContext \{"runAsNonRoot":true\} differs from the server's/,
      ),
      "the worker's grace period 30 s does not outlast its 30 s drain",
      "the worker Deployment sets spec.replicas 3 while KEDA's HPA owns it",
      'the ScaledObject does not wait for the KEDA release, which installs its CRD',
    ]);
    expect(check(worker)(run, EXPECTED.dev)).toEqual([]);
  });

  test('a worker without PASSWORD_PEPPER, a PDB or the Kyverno policies before it fails those checks by name', () => {
    const kyverno = 'Kyverno rules enforce per rule, in the app namespace, and are ready before the first pods';
    const policies = new Set(ofType(run, 'kubernetes:kyverno.io/v1:ClusterPolicy').map((policy) => policy.urn));
    const withoutPepper = replace(run, (resource) => {
      if (resource.type === 'kubernetes:core/v1:Secret' && nameOf(resource) === 'erp-api-worker-runtime') {
        const stringData = Object.fromEntries(
          Object.entries(unwrapSecrets(resource.inputs.stringData) as object).filter(
            ([key]) => key !== 'PASSWORD_PEPPER',
          ),
        );
        return { ...resource, inputs: { ...resource.inputs, stringData } };
      }
      // Nothing before it: neither the policies nor the migration Job that waits for them.
      if (resource.type === 'kubernetes:apps/v1:Deployment') return { ...resource, dependencies: [] };
      return resource;
    });
    const withoutBudget = {
      ...withoutPepper,
      resources: withoutPepper.resources.filter(
        (resource) =>
          !(resource.type === 'kubernetes:policy/v1:PodDisruptionBudget' && nameOf(resource) === 'erp-api-worker'),
      ),
    };
    expect(check(POD_ENVIRONMENT)(withoutBudget, EXPECTED.dev)).toEqual([
      'Deployment erp-api-worker: the pod does not set PASSWORD_PEPPER, which the app requires',
      expect.stringMatching(/^Deployment erp-api-worker: the app would exit at startup: PASSWORD_PEPPER /),
    ]);
    expect(check(SELECTORS)(withoutBudget, EXPECTED.dev)).toEqual([
      'Deployment erp-api-worker has no PodDisruptionBudget',
    ]);
    const early = check(kyverno)(withoutBudget, EXPECTED.dev);
    expect(early).toHaveLength(policies.size);
    for (const problem of early) expect(problem).toMatch(/^Deployment erp-api-worker may start before ClusterPolicy /);
  });

  test('the worker counts in the capacity sum at its minimum plus one surge pod', () => {
    const demand = stackDemand(run);
    expect(demand.find((line) => line.what.startsWith('Deployment erp-api-worker'))).toEqual({
      what: 'Deployment erp-api-worker (minimum replicas + one surge pod)',
      pods: 2,
      requests: { cpu: 1000, memory: 1024 },
    });
  });
});
