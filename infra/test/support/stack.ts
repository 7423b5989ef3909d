/**
 * Runs the whole program for one stack under Pulumi's resource mocks and records every resource it
 * registers (type, name, inputs as sent, protect), so tests assert over the real list, not over text.
 * Mocks are module-global: call {@link runStack} once per test file.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as pulumi from '@pulumi/pulumi';

import type { Environment, StackConfig } from '../../src/config.js';
import type { ReleaseInputs } from '../../src/program.js';
import { parse as parseYaml } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const PROJECT = 'slipway';
// How the engine marks a secret value inside serialized inputs.
const SECRET_SIG_KEY = pulumi.runtime.specialSigKey;
const SECRET_SIG = pulumi.runtime.specialSecretSig;

/** Test-only stand-ins for the secrets a release engineer sets with `pulumi config set --secret`. */
export const TEST_SECRETS: Readonly<Record<string, string>> = {
  [`${PROJECT}:alertSlackWebhookUrl`]: 'https://hooks.test.invalid/alerts/stand-in-webhook-for-tests',
  [`${PROJECT}:alertPagerDutyRoutingKey`]: 'StandInPagerDutyRoutingKey4Tests',
  [`${PROJECT}:alertHeartbeatUrl`]: 'https://heartbeat.test.invalid/ping/stand-in-heartbeat-for-tests',
  [`${PROJECT}:smtpUrl`]: 'smtp://relay-user:StandInSmtpPassword4Tests@smtp.test.invalid:587',
};

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  /** Inputs as the engine received them; secret values stay wrapped (see {@link isSecretWrapper}). */
  readonly inputs: Record<string, unknown>;
  readonly custom: boolean;
  readonly protect: boolean;
  /** The URN the engine gave it, and the URNs it waits for (explicit `dependsOn` and outputs it reads). */
  readonly urn: string;
  readonly dependencies: readonly string[];
}

export interface StackRun {
  readonly stack: Environment;
  readonly config: StackConfig;
  readonly resources: readonly RecordedResource[];
  /** Stack outputs, resolved, with whether Pulumi treats each as secret. */
  readonly outputs: Readonly<Record<string, { value: unknown; secret: boolean }>>;
  /** Every secret value the run produced or received, to search for in plain text. */
  readonly secretValues: readonly string[];
}

export function isYamlMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A YAML file of the repository (Pulumi.yaml, Pulumi.<stack>.yaml), parsed. */
export function readRepoYaml(file: string): unknown {
  return parseYaml(readFileSync(`${REPO_ROOT}${file}`, 'utf8'));
}

/** Reads `Pulumi.<stack>.yaml` into Pulumi's runtime config form: full key → string (lists as JSON of strings). */
export function readStackFile(stack: string): Record<string, string> {
  const parsed = readRepoYaml(`Pulumi.${stack}.yaml`);
  const config = isYamlMap(parsed) ? parsed.config : undefined;
  if (!isYamlMap(config)) throw new Error(`Pulumi.${stack}.yaml has no config map`);
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (isYamlMap(value)) throw new Error(`Pulumi.${stack}.yaml: ${key} is a map; only values and lists are expected`);
    values[key] = Array.isArray(value) ? JSON.stringify(value.map(String)) : String(value);
  }
  return values;
}

export function isSecretWrapper(value: unknown): value is { value: unknown } {
  return (
    typeof value === 'object' && value !== null && (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG
  );
}

/** The value with every secret wrapper replaced by its content, as a policy sees it. */
export function unwrapSecrets(value: unknown): unknown {
  if (isSecretWrapper(value)) return unwrapSecrets(value.value);
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, unwrapSecrets(inner)]));
  return value;
}

/** Paths where one of `secrets` appears outside a secret wrapper. */
export function plaintextSecretPaths(value: unknown, secrets: readonly string[], path = ''): string[] {
  if (isSecretWrapper(value)) return [];
  if (typeof value === 'string') return secrets.some((secret) => value.includes(secret)) ? [path] : [];
  if (Array.isArray(value))
    return value.flatMap((inner, index) => plaintextSecretPaths(inner, secrets, `${path}[${index}]`));
  if (typeof value === 'object' && value !== null)
    return Object.entries(value).flatMap(([key, inner]) => plaintextSecretPaths(inner, secrets, `${path}.${key}`));
  return [];
}

const ACCOUNT = '123456789012';

/** A random password of the requested length, as the provider would make it, but the same on every run. */
function standInPassword(name: string, length: number): string {
  let value = '';
  for (let round = 0; value.length < length; round += 1)
    value += createHash('sha256')
      .update(`${name}:${round}`)
      .digest('base64')
      .replace(/[^A-Za-z0-9]/g, '');
  return value.slice(0, length);
}

/** Output properties the provider would compute; inputs are echoed back as state. */
function computedState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const arn = `arn:aws:${type.split(':')[1]?.split('/')[0] ?? 'x'}:eu-west-1:${ACCOUNT}:${name}`;
  const state: Record<string, unknown> = { ...inputs, arn, name: inputs.name ?? name };
  switch (type) {
    case 'aws:eks/cluster:Cluster':
      return {
        ...state,
        endpoint: `https://${name}.eks.test`,
        certificateAuthority: { data: 'Q0EtREFUQQ==' },
        identities: [{ oidcs: [{ issuer: `https://oidc.eks.eu-west-1.amazonaws.com/id/${name}` }] }],
        vpcConfig: { ...(inputs.vpcConfig as object), clusterSecurityGroupId: `sg-${name}` },
      };
    case 'aws:rds/instance:Instance':
      return { ...state, address: `${name}.rds.test`, port: 5432, endpoint: `${name}.rds.test:5432` };
    case 'aws:elasticache/replicationGroup:ReplicationGroup':
      return { ...state, primaryEndpointAddress: `${name}.cache.test` };
    case 'aws:s3/bucket:Bucket':
      return { ...state, bucket: `${typeof inputs.bucketPrefix === 'string' ? inputs.bucketPrefix : name}test` };
    case 'aws:ec2/launchTemplate:LaunchTemplate':
      return { ...state, latestVersion: 1 };
    case 'random:index/randomPassword:RandomPassword':
      return { ...state, result: standInPassword(name, typeof inputs.length === 'number' ? inputs.length : 32) };
    default:
      return state;
  }
}

/**
 * Runs the program for `stack` under mocks with the values of `Pulumi.<stack>.yaml`, `overrides` applied
 * on top (full keys, raw strings), and returns everything it registered.
 */
export async function runStack(
  stack: Environment,
  overrides: Readonly<Record<string, string>> = {},
  releaseInputs?: Partial<ReleaseInputs>,
  /** The text of the stack's environment file, instead of infra/environments/<stack>.yaml. */
  environmentFile?: string,
): Promise<StackRun> {
  const resources: RecordedResource[] = [];
  const protectedNames = new Set<string>();
  const registrations = new Map<string, { urn: string; dependencies: string[] }>();
  const secretValues = new Set<string>(Object.values(TEST_SECRETS));

  await pulumi.runtime.setMocks(
    {
      newResource: ({ type, name, inputs, custom }) => {
        const recorded = inputs as Record<string, unknown>;
        const registration = registrations.get(`${type}::${name}`);
        resources.push({
          type,
          name,
          inputs: recorded,
          custom: custom ?? false,
          protect: protectedNames.has(`${type}::${name}`),
          urn: registration?.urn ?? '',
          dependencies: registration?.dependencies ?? [],
        });
        const state = computedState(type, name, recorded);
        if (type === 'random:index/randomPassword:RandomPassword') secretValues.add(String(state.result));
        return { id: `${name}-id`, state };
      },
      call: ({ token }) => {
        if (token === 'aws:index/getAvailabilityZones:getAvailabilityZones')
          return { names: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'], zoneIds: ['euw1-az1', 'euw1-az2', 'euw1-az3'] };
        if (token === 'aws:index/getCallerIdentity:getCallerIdentity')
          return {
            accountId: ACCOUNT,
            arn: `arn:aws:sts::${ACCOUNT}:assumed-role/slipway-deploy/test`,
            userId: 'test',
          };
        return {};
      },
    },
    PROJECT,
    stack,
    false,
  );
  // The mock API does not pass resource options; read `protect` from the request before the mock sees it.
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource: (request: RegisterRequest, callback: unknown) => unknown;
    newUrn: (parent: string, type: string, name: string) => string;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (request, callback) => {
    const key = `${request.getType()}::${request.getName()}`;
    if (request.getProtect() === true) protectedNames.add(key);
    registrations.set(key, {
      urn: monitor.newUrn(request.getParent(), request.getType(), request.getName()),
      dependencies: request.getDependenciesList(),
    });
    return register(request, callback);
  };

  pulumi.runtime.setAllConfig({ ...readStackFile(stack), ...TEST_SECRETS, ...overrides }, Object.keys(TEST_SECRETS));

  const { loadStackConfig } = await import('../../src/config.js');
  const { loadMonitoringSources } = await import('../../src/monitoring-sources.js');
  const { defaultReleaseInputs, slipway } = await import('../../src/program.js');
  const config = loadStackConfig(
    stack,
    PROJECT,
    undefined,
    environmentFile === undefined ? undefined : () => environmentFile,
  );
  const program = slipway(config, { ...defaultReleaseInputs(loadMonitoringSources()), ...releaseInputs });

  const outputs: Record<string, { value: unknown; secret: boolean }> = {};
  for (const [key, output] of Object.entries(program)) {
    const value = await new Promise<unknown>((resolve) => output.apply((resolved: unknown) => resolve(resolved)));
    outputs[key] = { value, secret: await pulumi.isSecret(output) };
  }
  await waitForRegistrations();
  return { stack, config, resources, outputs, secretValues: [...secretValues] };
}

interface RegisterRequest {
  getProtect(): boolean | undefined;
  getParent(): string;
  getDependenciesList(): string[];
  getType(): string;
  getName(): string;
}

async function waitForRegistrations(): Promise<void> {
  const runtime = pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> };
  if (runtime.waitForRPCs === undefined) throw new Error('@pulumi/pulumi no longer exposes runtime.waitForRPCs');
  await runtime.waitForRPCs();
}

/** Resources of one type. */
export function ofType(run: StackRun, type: string): RecordedResource[] {
  return run.resources.filter((resource) => resource.type === type);
}

/** Exactly one resource of a type, or a clear failure. */
export function single(run: StackRun, type: string): RecordedResource {
  const found = ofType(run, type);
  const first = found[0];
  if (found.length !== 1 || first === undefined)
    throw new Error(`expected exactly one ${type} in ${run.stack}, found ${found.length}`);
  return first;
}

/** Count of custom resources per type, sorted by type. */
export function countsByType(run: StackRun): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const resource of [...run.resources].sort((a, b) => a.type.localeCompare(b.type)))
    counts[resource.type] = (counts[resource.type] ?? 0) + 1;
  return counts;
}
