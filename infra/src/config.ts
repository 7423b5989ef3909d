import * as pulumi from '@pulumi/pulumi';
import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import {
  environmentFilePath,
  type EnvironmentFile,
  parseEnvironmentFile,
  PLACEHOLDER_DIGEST,
} from '@slipway/pipelines/release/gitops/environment-file';
import { KEYLESS_IDENTITY } from '@slipway/pipelines/release/identity';

/** The stacks this program knows; the stack name is the environment. */
export const ENVIRONMENTS = ['dev', 'staging', 'prod'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** The placeholder digest environment files hold until the first promotion pins a signed build. */
export { PLACEHOLDER_DIGEST };

type KeyType = 'string' | 'integer' | 'boolean' | 'array';

/** One key of the typed config schema; Pulumi.yaml's config block is generated from these (render-pulumi-config). */
export interface ConfigKey<T> {
  readonly type: KeyType;
  readonly description: string;
  /** Absent only for secrets: Pulumi refuses a default on a `secret: true` key (pulumi/pulumi#21865). */
  readonly default?: T;
  readonly secret?: true;
  readonly schema: z.ZodType<T>;
}

/** The TCP port an smtp(s):// URL reaches (nodemailer's defaults: 587, or 465 for smtps), or undefined if it is none. */
export function smtpPortOf(value: string): number | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'smtp:' && url.protocol !== 'smtps:') || url.hostname === '') return undefined;
  return url.port === '' ? (url.protocol === 'smtps:' ? 465 : 587) : Number(url.port);
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

function isCidr(value: string): boolean {
  const match = CIDR.exec(value);
  if (match === null) return false;
  const [, ...parts] = match;
  const numbers = parts.map(Number);
  const prefix = numbers[4] ?? -1;
  return numbers.slice(0, 4).every((octet) => octet <= 255) && prefix >= 0 && prefix <= 32;
}

const integer = (min: number, max: number, unit: string) =>
  z
    .number({ error: `must be a whole number of ${unit} from ${min} to ${max}` })
    .int({ error: `must be a whole number of ${unit} from ${min} to ${max}` })
    .min(min, { error: `must be a whole number of ${unit} from ${min} to ${max}` })
    .max(max, { error: `must be a whole number of ${unit} from ${min} to ${max}` });
const text = (rule: string, pattern: RegExp) => z.string({ error: rule }).regex(pattern, { error: rule });
const cidr = z.string().refine(isCidr, { error: 'must be an IPv4 CIDR such as 10.0.0.0/16' });

/** IPv4 ranges that are never a client's public address (RFC 6890): private, shared, loopback, documentation… */
export const RESERVED_RANGES: readonly (readonly [cidr: string, what: string])[] = [
  ['0.0.0.0/8', '"this network" (RFC 1122)'],
  ['10.0.0.0/8', 'private (RFC 1918)'],
  ['100.64.0.0/10', 'carrier-grade NAT (RFC 6598)'],
  ['127.0.0.0/8', 'loopback (RFC 1122)'],
  ['169.254.0.0/16', 'link-local (RFC 3927)'],
  ['172.16.0.0/12', 'private (RFC 1918)'],
  ['192.0.0.0/24', 'IETF protocol assignments (RFC 6890)'],
  ['192.0.2.0/24', 'documentation TEST-NET-1 (RFC 5737)'],
  ['192.88.99.0/24', '6to4 relay anycast (RFC 7526)'],
  ['192.168.0.0/16', 'private (RFC 1918)'],
  ['198.18.0.0/15', 'benchmarking (RFC 2544)'],
  ['198.51.100.0/24', 'documentation TEST-NET-2 (RFC 5737)'],
  ['203.0.113.0/24', 'documentation TEST-NET-3 (RFC 5737)'],
  ['224.0.0.0/4', 'multicast (RFC 5771)'],
  ['240.0.0.0/4', 'reserved (RFC 1112)'],
];

/** First and last address of an IPv4 CIDR, as numbers. */
function cidrRange(value: string): [number, number] {
  const [address = '', prefix = '32'] = value.split('/');
  const start = address.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(prefix));
  const first = start - (start % size);
  return [first, first + size - 1];
}

/** The reserved range `value` overlaps, if any. */
export function reservedRangeOf(value: string): (typeof RESERVED_RANGES)[number] | undefined {
  const [first, last] = cidrRange(value);
  return RESERVED_RANGES.find(([reserved]) => {
    const [start, end] = cidrRange(reserved);
    return first <= end && start <= last;
  });
}

/** A public client range for the EKS API allow-list: never everything, never a reserved range. */
const publicCidr = cidr.superRefine((value, ctx) => {
  if (!isCidr(value)) return;
  if (value === '0.0.0.0/0') {
    ctx.addIssue({ code: 'custom', message: 'must not be 0.0.0.0/0: list the office and CI ranges that need the API' });
    return;
  }
  const reserved = reservedRangeOf(value);
  if (reserved !== undefined)
    ctx.addIssue({
      code: 'custom',
      message:
        `${value} overlaps ${reserved[0]}, ${reserved[1]}, which no client connects from: ` +
        'list the public ranges of your office and CI',
    });
});

const IAM_ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

/** Keeps each key's literal shape (its schema's type, whether it is secret); a test checks every default. */
function key<const D extends ConfigKey<unknown>>(definition: D): D {
  return definition;
}

/** Every key of the `slipway` namespace. The differences between stacks live in Pulumi.<stack>.yaml. */
export const CONFIG_KEYS = {
  owner: key({
    type: 'string',
    description: 'Team that owns every resource; becomes the owner tag.',
    default: 'platform-team',
    schema: text('must be a lowercase team name such as platform-team', /^[a-z][a-z0-9-]{1,62}$/),
  }),
  costCenter: key({
    type: 'string',
    description: 'Cost center billed for every resource; becomes the cost-center tag.',
    default: 'cc-1000',
    schema: text('must look like cc-1234', /^cc-\d{4}$/),
  }),
  vpcCidr: key({ type: 'string', description: 'IPv4 range of the VPC.', default: '10.0.0.0/16', schema: cidr }),
  availabilityZoneCount: key({
    type: 'integer',
    description: 'Availability zones the VPC spans; EKS and RDS both need subnets in at least two.',
    default: 3,
    schema: integer(2, 3, 'zones'),
  }),
  natGatewayPerAz: key({
    type: 'boolean',
    description: 'One NAT gateway per zone (survives a zone outage) instead of a single shared one.',
    default: false,
    schema: z.boolean(),
  }),
  flowLogRetentionDays: key({
    type: 'integer',
    description: 'Days VPC flow logs are kept in CloudWatch Logs.',
    default: 30,
    schema: z.union([z.literal(7), z.literal(14), z.literal(30), z.literal(90), z.literal(365)], {
      error: 'must be one of the CloudWatch retention periods 7, 14, 30, 90 or 365',
    }),
  }),
  clusterVersion: key({
    type: 'string',
    description: 'Kubernetes minor version of the EKS control plane.',
    default: '1.33',
    schema: text('must be a Kubernetes minor version such as 1.33', /^1\.\d{2}$/),
  }),
  clusterPublicAccessCidrs: key({
    type: 'array',
    description: 'CIDRs allowed to reach the public EKS API endpoint; empty keeps the endpoint private only.',
    default: [],
    schema: z.array(publicCidr),
  }),
  deployRoleName: key({
    type: 'string',
    description:
      "IAM role (in the stack's account) that CI and release engineers assume to run pulumi; gets cluster admin through an EKS access entry.",
    default: 'slipway-deploy',
    schema: text('must be an IAM role name such as slipway-deploy', IAM_ROLE_NAME),
  }),
  breakGlassRoleName: key({
    type: 'string',
    description:
      "IAM role (in the stack's account) for emergencies when the deploy role is broken; gets cluster admin through an EKS access entry.",
    default: 'slipway-break-glass',
    schema: text('must be an IAM role name such as slipway-break-glass', IAM_ROLE_NAME),
  }),
  nodeInstanceType: key({
    type: 'string',
    description: 'EC2 instance type of the managed node group.',
    default: 't3.large',
    schema: text('must be an EC2 instance type such as m6i.large', /^[a-z][a-z0-9-]*\.[a-z0-9]+$/),
  }),
  nodeMinSize: key({ type: 'integer', description: 'Fewest nodes.', default: 2, schema: integer(1, 100, 'nodes') }),
  nodeDesiredSize: key({
    type: 'integer',
    description: 'Nodes at creation; the autoscaler moves it later.',
    default: 2,
    schema: integer(1, 100, 'nodes'),
  }),
  nodeMaxSize: key({ type: 'integer', description: 'Most nodes.', default: 4, schema: integer(1, 100, 'nodes') }),
  nodeDiskSizeGib: key({
    type: 'integer',
    description: 'Encrypted root volume of each node, in GiB.',
    default: 50,
    schema: integer(20, 1000, 'GiB'),
  }),
  dbInstanceClass: key({
    type: 'string',
    description: 'RDS instance class of the PostgreSQL database.',
    default: 'db.t4g.medium',
    schema: text('must be an RDS instance class such as db.m7g.large', /^db\.[a-z0-9]+\.[a-z0-9]+$/),
  }),
  dbAllocatedStorageGib: key({
    type: 'integer',
    description: 'Initial database storage, in GiB.',
    default: 20,
    schema: integer(20, 65536, 'GiB'),
  }),
  dbMaxAllocatedStorageGib: key({
    type: 'integer',
    description: 'Ceiling for storage autoscaling, in GiB.',
    default: 100,
    schema: integer(20, 65536, 'GiB'),
  }),
  dbMultiAz: key({
    type: 'boolean',
    description: 'Synchronous standby in a second zone with automatic failover.',
    default: false,
    schema: z.boolean(),
  }),
  dbBackupRetentionDays: key({
    type: 'integer',
    description: 'Days RDS keeps automated backups (and so how far back point-in-time recovery reaches).',
    default: 7,
    schema: integer(1, 35, 'days'),
  }),
  cacheNodeType: key({
    type: 'string',
    description: 'ElastiCache node type of the Redis replication group.',
    default: 'cache.t4g.small',
    schema: text('must be an ElastiCache node type such as cache.m7g.large', /^cache\.[a-z0-9]+\.[a-z0-9]+$/),
  }),
  cacheReplicaCount: key({
    type: 'integer',
    description: 'Redis replicas besides the primary; 1 or more enables automatic failover.',
    default: 0,
    schema: integer(0, 5, 'replicas'),
  }),
  cacheSnapshotRetentionDays: key({
    type: 'integer',
    description: 'Days Redis snapshots are kept.',
    default: 1,
    schema: integer(1, 35, 'days'),
  }),
  backupRetentionDays: key({
    type: 'integer',
    description: 'Days AWS Backup keeps each 6-hourly recovery point of the database.',
    default: 7,
    schema: integer(1, 3650, 'days'),
  }),
  backupCopyRegion: key({
    type: 'string',
    description: 'Region that receives a copy of every AWS Backup recovery point; empty for none.',
    default: '',
    schema: text('must be an AWS region such as eu-central-1, or empty', /^$|^[a-z]{2}(-[a-z]+)+-\d$/),
  }),
  domain: key({
    type: 'string',
    description: 'Public host name of erp-api; the TLS certificate is issued for it.',
    default: 'erp.dev.slipway.example',
    schema: text('must be a DNS name such as erp.example.com', /^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$/),
  }),
  acmeEmail: key({
    type: 'string',
    description: "Contact address given to Let's Encrypt for certificate expiry notices.",
    default: 'platform@slipway.example',
    schema: z.email({ error: 'must be an email address' }),
  }),
  imageRepository: key({
    type: 'string',
    description: 'OCI repository of the erp-api image, without tag or digest.',
    default: 'ghcr.io/slipway/erp-api',
    schema: text(
      'must be a repository such as ghcr.io/org/name, without tag or digest',
      /^[a-z0-9.-]+(\/[a-z0-9._-]+)+$/,
    ),
  }),
  gateImageRepository: key({
    type: 'string',
    description: 'OCI repository of the gate image (load/Dockerfile): Node, Vegeta and the canary gate.',
    default: 'ghcr.io/slipway/erp-api-gate',
    schema: text(
      'must be a repository such as ghcr.io/org/name, without tag or digest',
      /^[a-z0-9.-]+(\/[a-z0-9._-]+)+$/,
    ),
  }),
  appMinReplicas: key({
    type: 'integer',
    description: 'Fewest erp-api pods the autoscaler keeps.',
    default: 2,
    schema: integer(1, 100, 'pods'),
  }),
  appMaxReplicas: key({
    type: 'integer',
    description: 'Most erp-api pods the autoscaler may run.',
    default: 20,
    schema: integer(1, 100, 'pods'),
  }),
  logLevel: key({
    type: 'string',
    description: 'LOG_LEVEL of erp-api.',
    default: 'info',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'], {
      error: 'must be one of fatal, error, warn, info, debug, trace',
    }),
  }),
  shutdownDrainMs: key({
    type: 'integer',
    description: 'SHUTDOWN_DRAIN_MS of erp-api: how long readiness fails before the listener closes.',
    default: 5000,
    schema: integer(0, 300_000, 'milliseconds'),
  }),
  alertSlackChannel: key({
    type: 'string',
    description: 'Slack channel that receives alerts.',
    default: '#erp-alerts',
    schema: text('must be a Slack channel such as #erp-alerts', /^#[a-z0-9_-]{1,80}$/),
  }),
  alertSlackWebhookUrl: key({
    type: 'string',
    description: 'Slack incoming-webhook URL for alerts; set with pulumi config set --secret.',
    secret: true,
    schema: z.url({ protocol: /^https$/, error: 'must be an https:// Slack incoming-webhook URL' }),
  }),
  alertPagerDutyRoutingKey: key({
    type: 'string',
    description:
      'PagerDuty Events API v2 integration (routing) key that critical alerts page; set with pulumi config set --secret.',
    secret: true,
    schema: text('must be the 32-character PagerDuty Events API v2 integration key', /^[A-Za-z0-9]{32}$/),
  }),
  alertHeartbeatUrl: key({
    type: 'string',
    description:
      "This stack's dead man's switch URL (healthchecks.io, Dead Man's Snitch…) that Watchdog pings every minute; set with pulumi config set --secret.",
    secret: true,
    schema: z.url({ protocol: /^https$/, error: "must be the https:// ping URL of the stack's dead man's switch" }),
  }),
  smtpUrl: key({
    type: 'string',
    description:
      'SMTP_URL of the job worker: the relay outgoing mail goes through, smtp://user:<password>@host:587 (STARTTLS) or smtps://…:465; set with pulumi config set --secret.',
    secret: true,
    schema: z.string().refine((value) => smtpPortOf(value) !== undefined, {
      error:
        'must be an smtp:// or smtps:// URL with a host, such as smtp://user:<password>@email-smtp.eu-west-1.amazonaws.com:587',
    }),
  }),
  mailFrom: key({
    type: 'string',
    description: 'MAIL_FROM of the job worker: the From address of every mail; the relay must accept it.',
    default: 'erp@slipway.example',
    schema: z.email({ error: 'must be an email address the relay may send from' }),
  }),
  signingIdentity: key({
    type: 'string',
    description: 'Keyless cosign identity (CI workflow) whose signatures Kyverno admits.',
    default: KEYLESS_IDENTITY.subject,
    schema: z.url({ error: 'must be the URL of the signing workflow' }),
  }),
  signingIssuer: key({
    type: 'string',
    description: 'OIDC issuer of the keyless signing identity.',
    default: KEYLESS_IDENTITY.issuer,
    schema: z.url({ error: 'must be an https:// OIDC issuer URL' }),
  }),
  traceSampleRatio: key({
    type: 'string',
    description:
      "OTEL_TRACES_SAMPLER_ARG of erp-api: share of new traces kept (parent-based: a caller's traceparent decides its own).",
    default: '0.1',
    schema: text('must be a ratio from 0 to 1 with at most 6 decimals, such as 0.1', /^(?:[01]|[01]\.\d{1,6})$/).refine(
      (value) => Number(value) <= 1,
      { error: 'must be a ratio from 0 to 1 with at most 6 decimals, such as 0.1' },
    ),
  }),
  traceRetentionHours: key({
    type: 'integer',
    description: 'Hours Jaeger keeps spans before its storage deletes them.',
    default: 72,
    schema: integer(1, 720, 'hours'),
  }),
  traceStorageGib: key({
    type: 'integer',
    description: "Size of Jaeger's volume in GiB; spans beyond it are lost until older ones expire.",
    default: 20,
    schema: integer(1, 500, 'GiB'),
  }),
  protectData: key({
    type: 'boolean',
    description: 'Stateful resources refuse deletion (protect, deletionProtection, final snapshots, no forceDestroy).',
    default: false,
    schema: z.boolean(),
  }),
} as const satisfies Record<string, ConfigKey<unknown>>;

export type ConfigKeyName = keyof typeof CONFIG_KEYS;
type Values = { [K in ConfigKeyName]: z.output<(typeof CONFIG_KEYS)[K]['schema']> };
type SecretKeyName = {
  [K in ConfigKeyName]: (typeof CONFIG_KEYS)[K] extends { secret: true } ? K : never;
}[ConfigKeyName];

/** All stack config, validated: plain values, and secrets as secret Outputs. */
export type StackConfig = Omit<Values, SecretKeyName> &
  Readonly<Record<SecretKeyName, pulumi.Output<string>>> & {
    readonly project: string;
    readonly environment: Environment;
    readonly region: string;
    /** From the stack's environment file (infra/environments/<stack>.yaml), the one source of what runs. */
    readonly imageDigest: string;
    readonly gateImageDigest: string;
    /** The release record the digests came from; null before the first promotion. */
    readonly release: EnvironmentFile['release'];
    /** The port of `smtpUrl` (not secret): the worker's only egress outside the VPC. */
    readonly smtpPort: number;
  };

/** The configuration could not be loaded; `problems` has one line per bad key, secrets redacted. */
export class StackConfigError extends Error {
  override readonly name = 'StackConfigError';

  constructor(
    readonly stackName: string,
    readonly problems: readonly string[],
  ) {
    super(
      `invalid config for stack ${stackName} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((line) => `  - ${line}`).join('\n'),
    );
  }
}

/** Reads a raw config string into the key's JS type; `undefined` means unset. */
function decode(type: KeyType, raw: string): unknown {
  switch (type) {
    case 'string':
      return raw;
    case 'integer':
      return /^-?\d+$/.test(raw) ? Number(raw) : raw;
    case 'boolean':
      return raw === 'true' ? true : raw === 'false' ? false : raw;
    case 'array':
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return raw;
      }
  }
}

/** Where to fix a key, so every message says what to run. */
function fix(stack: string, name: string, secret: boolean): string {
  return secret
    ? `run: pulumi config set --secret ${name} <value> -s ${stack}`
    : `set ${name} in Pulumi.${stack}.yaml (or: pulumi config set ${name} <value> -s ${stack})`;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The text of a stack's environment file in this checkout, or undefined when it is missing. */
export function readEnvironmentFile(stack: Environment): string | undefined {
  try {
    return readFileSync(`${REPO_ROOT}${environmentFilePath(stack)}`, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Reads and validates every key once. `read` returns the raw string of a full key (`slipway:vpcCidr`,
 * `aws:region`) or undefined; by default it reads Pulumi's runtime config. `readEnvironment` returns the text of
 * the stack's environment file (the image digests), by default from infra/environments/.
 * @throws {StackConfigError} listing every problem at once.
 */
export function loadStackConfig(
  stack: string = pulumi.getStack(),
  project: string = pulumi.getProject(),
  read: (fullKey: string) => string | undefined = (fullKey) => pulumi.runtime.getConfig(fullKey),
  readEnvironment: (stack: Environment) => string | undefined = readEnvironmentFile,
): StackConfig {
  const problems: string[] = [];
  const known = (ENVIRONMENTS as readonly string[]).includes(stack);
  if (!known)
    problems.push(`stack name "${stack}" is not one of ${ENVIRONMENTS.join(', ')}: the stack name is the environment`);
  let environmentFile: EnvironmentFile | undefined;
  if (known) {
    const path = environmentFilePath(stack as Environment);
    const text = readEnvironment(stack as Environment);
    if (text === undefined)
      problems.push(
        `${path} is missing: it holds the stack's image digests; restore it from main (git checkout main -- ${path})`,
      );
    else {
      const parsed = parseEnvironmentFile(text, path, stack as Environment);
      if (parsed.problems) problems.push(...parsed.problems);
      else environmentFile = parsed.file;
    }
  }

  const region = read('aws:region');
  if (region === undefined || !/^[a-z]{2}(-[a-z]+)+-\d$/.test(region))
    problems.push(
      `aws:region=${JSON.stringify(region ?? null)} is invalid: must be an AWS region such as eu-west-1; ${fix(stack, 'aws:region', false)}`,
    );

  const values: Record<string, unknown> = {};
  for (const [name, definition] of Object.entries(CONFIG_KEYS) as [ConfigKeyName, ConfigKey<unknown>][]) {
    const fullKey = `${project}:${name}`;
    const raw = read(fullKey);
    const secret = definition.secret === true;
    if (raw === undefined && !('default' in definition)) {
      problems.push(`${fullKey} is not set but is required: ${definition.description} ${fix(stack, fullKey, secret)}`);
      continue;
    }
    const value = raw === undefined ? definition.default : decode(definition.type, raw);
    const result = definition.schema.safeParse(value);
    if (!result.success) {
      const shown = secret ? '[secret]' : JSON.stringify(value);
      const rule = result.error.issues[0]?.message ?? 'is invalid';
      problems.push(`${fullKey}=${shown} is invalid: ${rule}; ${fix(stack, fullKey, secret)}`);
      continue;
    }
    values[name] = secret ? pulumi.secret(result.data as string) : result.data;
  }

  const numbers = values as Partial<Record<ConfigKeyName, number>>;
  const order = (low: ConfigKeyName, high: ConfigKeyName) => {
    const a = numbers[low];
    const b = numbers[high];
    if (a !== undefined && b !== undefined && a > b)
      problems.push(`${project}:${low}=${a} is above ${project}:${high}=${b}: lower it or raise ${high}`);
  };
  order('nodeMinSize', 'nodeDesiredSize');
  order('nodeDesiredSize', 'nodeMaxSize');
  order('appMinReplicas', 'appMaxReplicas');
  order('dbAllocatedStorageGib', 'dbMaxAllocatedStorageGib');
  if (values.backupCopyRegion !== undefined && values.backupCopyRegion === region)
    problems.push(`${project}:backupCopyRegion=${region} is the stack's own region: pick another region, or ''`);

  if (problems.length > 0) throw new StackConfigError(stack, problems);
  // Every key was validated above, secrets wrapped as Outputs: the record now has the StackConfig shape.
  const validated = values as unknown as Omit<
    StackConfig,
    'project' | 'environment' | 'region' | 'imageDigest' | 'gateImageDigest' | 'release' | 'smtpPort'
  >;
  return {
    ...validated,
    project,
    environment: stack as Environment,
    region: region ?? '',
    imageDigest: environmentFile?.images.app ?? '',
    gateImageDigest: environmentFile?.images.gate ?? '',
    release: environmentFile?.release ?? null,
    smtpPort: smtpPortOf(read(`${project}:smtpUrl`) ?? '') ?? 0,
  };
}
