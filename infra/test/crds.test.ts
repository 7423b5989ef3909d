/**
 * The vendored CRDs are the pinned charts' own, byte for byte, and their compiled schemas refuse what the API server
 * would prune or refuse: a typo'd field, a wrong enum value, a wrong type, an unknown metadata field.
 */
import { describe, expect, test } from 'vitest';

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ClusterPolicy } from '../generated/crds/kyverno.io/v1/ClusterPolicy.js';
import { CHARTS, type ChartName } from '../src/charts.js';
import { crdSources, sha256Of } from './support/crd-schema.js';
import { CRD_TYPES, CRD_TYPES_DIR, crdTypeSource } from './support/crd-types.js';
import { SCHEMAS, schemaProblems } from './support/schemas.js';

const CLUSTER_POLICY = 'kubernetes:kyverno.io/v1:ClusterPolicy';

function clusterPolicy(rule: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'example' }) {
  return { apiVersion: 'kyverno.io/v1', kind: 'ClusterPolicy', metadata, spec: { rules: [rule] } };
}

const validate = {
  failureAction: 'Enforce',
  message: 'pin it',
  pattern: { spec: { containers: [{ image: '!*:latest*' }] } },
};
const validRule = {
  name: 'no-latest',
  match: { any: [{ resources: { kinds: ['Pod'], namespaces: ['erp'] } }] },
  validate,
};

describe('vendored CRDs', () => {
  test.each(crdSources().map((source) => [source.file, source] as const))(
    '%s matches its recorded sha256 and the pinned chart version',
    (_file, source) => {
      expect(sha256Of(source.file), `${source.file} differs from ${source.url}`).toBe(source.sha256);
      const pinned = CHARTS[source.chart as ChartName] as { version: string } | undefined;
      expect(pinned?.version, `src/charts.ts pins ${source.chart} at another version: refresh ${source.file}`).toBe(
        source.chartVersion,
      );
      expect(source.url).toContain(`/${source.tag}/`);
    },
  );
});

describe('types generated from the vendored CRDs (infra/generated/crds/)', () => {
  test.each(CRD_TYPES.map((type) => [type.output, type] as const))(
    '%s is what the generator writes',
    async (_output, type) => {
      const committed = readFileSync(join(CRD_TYPES_DIR, type.output), 'utf8');
      expect(
        committed === (await crdTypeSource(type)),
        `${type.output} is stale: run npm run generate-crd-types -w infra`,
      ).toBe(true);
    },
  );

  test('type a policy the way the schema does: failureAction on a rule fails typecheck', () => {
    const validate = { failureAction: 'Enforce', pattern: {} } as const;
    const spec: ClusterPolicy['spec'] = {
      rules: [
        { name: 'typed', match: {}, validate },
        // @ts-expect-error Kyverno reads failureAction in validate, not on the rule (npm run typecheck fails without it)
        { name: 'untyped', match: {}, failureAction: 'Enforce' },
      ],
    };
    expect(spec.rules).toHaveLength(2);
  });
});

describe('the Kyverno ClusterPolicy schema (kyverno chart 3.6.2)', () => {
  const model = SCHEMAS[CLUSTER_POLICY];
  if (model === undefined) throw new Error(`no schema for ${CLUSTER_POLICY}`);

  test('takes a policy the API server takes', () => {
    expect(schemaProblems(model, clusterPolicy(validRule))).toEqual([]);
  });

  test('refuses a typo, naming the field', () => {
    const { match, ...rest } = validRule;
    expect(schemaProblems(model, clusterPolicy({ ...rest, matc: match }))).toEqual([
      ".spec.rules[0] must have required property 'match'",
      'unknown field .spec.rules[0].matc',
    ]);
  });

  test('refuses failureAction on the rule, where Kyverno 1.16 has none (the API server would prune it: Audit)', () => {
    expect(schemaProblems(model, clusterPolicy({ ...validRule, failureAction: 'Enforce' }))).toEqual([
      'unknown field .spec.rules[0].failureAction',
    ]);
  });

  test('refuses a failureAction outside its enum and a string where a boolean goes', () => {
    const rule = { ...validRule, validate: { ...validate, failureAction: 'enforce' } };
    const problems = schemaProblems(model, { ...clusterPolicy(rule), spec: { background: 'false', rules: [rule] } });
    expect(problems).toEqual([
      '.spec.background must be boolean',
      '.spec.rules[0].validate.failureAction must be equal to one of the allowed values: ["Audit","Enforce"]',
    ]);
  });

  test('leaves a pattern free-form (x-kubernetes-preserve-unknown-fields) but checks metadata', () => {
    const pattern = { spec: { anythingAtAll: [{ '=(securityContext)': { runAsNonRoot: true } }] } };
    const rule = { ...validRule, validate: { ...validate, pattern } };
    expect(schemaProblems(model, clusterPolicy(rule))).toEqual([]);
    expect(schemaProblems(model, clusterPolicy(rule, { name: 'example', annotatons: {} }))).toEqual([
      'unknown field .metadata.annotatons',
    ]);
  });

  test('refuses another version or kind by name', () => {
    expect(schemaProblems(model, { ...clusterPolicy(validRule), apiVersion: 'kyverno.io/v2beta1' })).toEqual([
      'is kyverno.io/v2beta1 ClusterPolicy, the schema is kyverno.io/v1 ClusterPolicy',
    ]);
  });
});

describe('the KEDA ScaledObject schema (keda chart 2.18.3)', () => {
  const model = SCHEMAS['kubernetes:keda.sh/v1alpha1:ScaledObject'];
  if (model === undefined) throw new Error('no schema for the ScaledObject');
  const scaledObject = (spec: Record<string, unknown>) => ({
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'erp-api-worker', namespace: 'erp' },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'erp-api-worker' },
      triggers: [
        { type: 'prometheus', metadata: { serverAddress: 'http://prometheus:9090', query: 'up', threshold: '25' } },
      ],
      ...spec,
    },
  });

  test('takes the worker’s ScaledObject as the stack renders it', () => {
    expect(schemaProblems(model, scaledObject({ minReplicaCount: 1, maxReplicaCount: 20 }))).toEqual([]);
  });

  test('refuses the HPA’s field names, which KEDA does not read (the API server would prune them)', () => {
    expect(schemaProblems(model, scaledObject({ minReplicas: 1, maxReplicas: 20 }))).toEqual([
      'unknown field .spec.minReplicas',
      'unknown field .spec.maxReplicas',
    ]);
  });

  test('refuses a string where a count goes, and a fallback without its threshold', () => {
    expect(schemaProblems(model, scaledObject({ maxReplicaCount: '20', fallback: { replicas: 2 } }))).toEqual([
      ".spec.fallback must have required property 'failureThreshold'",
      '.spec.maxReplicaCount must be integer',
    ]);
  });
});
