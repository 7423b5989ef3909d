/**
 * Objects of a custom resource checked against the `openAPIV3Schema` of its vendored CRD (infra/vendor/crds/), the
 * way the API server reads that schema: an object schema without `x-kubernetes-preserve-unknown-fields` keeps only
 * the fields it declares (the server prunes the rest and Pulumi only warns), so those become
 * `additionalProperties: false`; `x-kubernetes-int-or-string` allows both; the list and map types are merge
 * strategies, not constraints. `metadata` is the API server's ObjectMeta, checked with its published model.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

import { REPO_ROOT } from './stack.js';

export const CRDS_DIR = join(REPO_ROOT, 'infra', 'vendor', 'crds');

/** One vendored CRD file and where it came from (infra/vendor/crds/sources.json). */
export interface CrdSource {
  readonly file: string;
  readonly chart: string;
  readonly chartVersion: string;
  readonly appVersion: string;
  readonly tag: string;
  readonly commit: string;
  readonly url: string;
  readonly sha256: string;
}

export function crdSources(): readonly CrdSource[] {
  return (JSON.parse(readFileSync(join(CRDS_DIR, 'sources.json'), 'utf8')) as { crds: CrdSource[] }).crds;
}

export const sha256Of = (file: string): string =>
  createHash('sha256')
    .update(readFileSync(join(CRDS_DIR, file)))
    .digest('hex');

interface CrdVersion {
  readonly name: string;
  readonly served: boolean;
  readonly schema: { readonly openAPIV3Schema: Schema };
}
interface Crd {
  readonly kind: string;
  readonly spec: { readonly group: string; readonly names: { kind: string }; readonly versions: CrdVersion[] };
}
type Schema = Readonly<Record<string, unknown>>;

const SUBSCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf'];

/** The schema as the API server applies it, in JSON Schema that ajv compiles strictly. */
export function serverSchema(schema: Schema): Schema {
  const converted: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    // Kubernetes' own keywords are read below; descriptions only make the compiled schema large.
    if (key.startsWith('x-kubernetes-') || key === 'description') continue;
    if (key === 'properties')
      converted.properties = Object.fromEntries(
        Object.entries(value as Record<string, Schema>).map(([name, child]) => [name, serverSchema(child)]),
      );
    else if (key === 'items' || key === 'not' || (key === 'additionalProperties' && typeof value === 'object'))
      converted[key] = serverSchema(value as Schema);
    else if (SUBSCHEMA_LISTS.includes(key)) converted[key] = (value as Schema[]).map(serverSchema);
    else converted[key] = value;
  }
  if (schema['x-kubernetes-int-or-string'] === true) converted.type = ['integer', 'string'];
  const preserves = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (schema.type === 'object' && !preserves && !('additionalProperties' in schema))
    converted.additionalProperties = false;
  return converted;
}

/** `/spec/rules/0/match` as the other schema checks print it: `.spec.rules[0].match`. */
function fieldPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join('');
}

function describeError(error: ErrorObject): string {
  const path = fieldPath(error.instancePath);
  if (error.keyword === 'additionalProperties')
    return `unknown field ${path}.${(error.params as { additionalProperty: string }).additionalProperty}`;
  if (error.keyword === 'enum')
    return `${path || '.'} ${error.message ?? 'is not allowed'}: ${JSON.stringify((error.params as { allowedValues: unknown }).allowedValues)}`;
  return `${path || '.'} ${error.message ?? error.keyword}`;
}

/** The served `version` of the vendored CRD in `file`, and its schema as the API server applies it. */
export function servedSchema(file: string, version: string): { crd: Crd; root: Schema } {
  const crd = parseYaml(readFileSync(join(CRDS_DIR, file), 'utf8')) as Crd;
  if (crd.kind !== 'CustomResourceDefinition')
    throw new Error(`${file} is a ${crd.kind}, not a CustomResourceDefinition`);
  const served = crd.spec.versions.find((candidate) => candidate.name === version && candidate.served);
  if (served === undefined)
    throw new Error(
      `${file} serves no version ${version} (served: ${crd.spec.versions
        .filter((candidate) => candidate.served)
        .map((candidate) => candidate.name)
        .join(', ')})`,
    );
  return { crd, root: serverSchema(served.schema.openAPIV3Schema) };
}

/** A custom resource's schema check: the problems of one object, empty when the API server would take it whole. */
export interface CrdModel {
  readonly kind: string;
  readonly apiVersion: string;
  problems(object: unknown): string[];
}

/**
 * Compiles the served `version` of the CRD in `file`; an object of another kind or version is refused by name, and
 * `metadataProblems` judges its metadata.
 */
export function crdModel(file: string, version: string, metadataProblems: (metadata: unknown) => string[]): CrdModel {
  const { crd, root } = servedSchema(file, version);
  // The API server owns metadata's schema (the CRD says only `type: object`): it is checked with ObjectMeta below.
  const properties = { ...(root.properties as Record<string, Schema>), metadata: { type: 'object' } };
  // A structural schema's oneOf/anyOf branches require fields that the enclosing schema declares (strictRequired).
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  addFormats.default(ajv);
  const validate: ValidateFunction = ajv.compile({ ...root, properties });
  const apiVersion = `${crd.spec.group}/${version}`;
  const kind = crd.spec.names.kind;
  return {
    kind,
    apiVersion,
    problems(object) {
      const problems: string[] = [];
      const { apiVersion: givenVersion, kind: givenKind, metadata } = (object ?? {}) as Record<string, unknown>;
      if (givenVersion !== apiVersion || givenKind !== kind)
        problems.push(`is ${String(givenVersion)} ${String(givenKind)}, the schema is ${apiVersion} ${kind}`);
      if (!validate(object)) problems.push(...(validate.errors ?? []).map(describeError));
      problems.push(...metadataProblems(metadata));
      return problems;
    },
  };
}
