import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';

import { z } from 'zod';

export const NODE_ENVS = ['development', 'test', 'production'] as const;
export const APP_ENVS = ['dev', 'staging', 'prod'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export type NodeEnv = (typeof NODE_ENVS)[number];
export type AppEnv = (typeof APP_ENVS)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A whole number of milliseconds (or a port) written in decimal digits only: no `1e3`, `0x50` or `  80`. */
function wholeNumber(min: number, max: number, rule: string) {
  return z
    .string()
    .regex(/^\d{1,9}$/, { error: rule })
    .transform(Number)
    .pipe(z.number().int().min(min, { error: rule }).max(max, { error: rule }));
}

/** `0`, `1`, or a decimal between them such as `0.05`: a share of something. */
function ratio(rule: string) {
  return z
    .string()
    .refine((value) => /^[01]$/.test(value) || /^[01]\.\d{1,6}$/.test(value), { error: rule })
    .transform(Number)
    .pipe(z.number().max(1, { error: rule }));
}

function connectionUrl(protocols: readonly string[], rule: string) {
  return z.string().refine(
    (value) => {
      if (!URL.canParse(value)) return false;
      const url = new URL(value);
      return protocols.includes(url.protocol) && url.hostname !== '';
    },
    { error: rule },
  );
}

/** Items of a comma-separated value, blanks around commas ignored; an empty value is an empty list. */
function commaList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** Empty (the feature is off) or a value the schema accepts; empty becomes undefined. */
function optional<T extends z.ZodType<unknown, string>>(schema: T) {
  return z.union([z.literal('').transform(() => undefined), schema]);
}

/** `https://erp.example.com` as a browser sends it in `Origin`: scheme, host, port if not the default, no path. */
function isExactOrigin(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
}

const BYTE_SIZE = /^(\d{1,8})(b|kb|mb)$/;
const BYTES_PER_UNIT: Readonly<Record<string, number>> = { b: 1, kb: 1024, mb: 1024 * 1024 };

/** `100kb` → 102400: the units body-parser understands, 1024-based as it counts them. */
function byteSize(min: number, max: number, rule: string) {
  return z
    .string()
    .regex(BYTE_SIZE, { error: rule })
    .transform((value) => {
      const [, digits = '', unit = ''] = BYTE_SIZE.exec(value) ?? [];
      return Number(digits) * (BYTES_PER_UNIT[unit] ?? Number.NaN);
    })
    .pipe(z.number().int().min(min, { error: rule }).max(max, { error: rule }));
}

const PROXY_SUBNET_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An entry Express's `trust proxy` accepts: an IP, an IP/prefix, or one of proxy-addr's subnet names. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_SUBNET_NAMES.has(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** `false`, a hop count, or trusted proxy addresses; `true` is refused because any client could then pick its IP. */
function trustProxy(rule: string) {
  return z
    .string()
    .refine(
      (value) => {
        if (value === 'false') return true;
        if (/^\d{1,2}$/.test(value)) return Number(value) >= 1 && Number(value) <= 10;
        const entries = commaList(value);
        return entries.length > 0 && entries.every(isProxyAddress);
      },
      { error: rule },
    )
    .transform((value): false | number | readonly string[] => {
      if (value === 'false') return false;
      return /^\d+$/.test(value) ? Number(value) : Object.freeze(commaList(value));
    });
}

/** Values published in docs, frameworks and tutorials as defaults or examples: anyone can sign with them. */
const KNOWN_WEAK_SECRETS = new Set([
  'secret',
  'changeme',
  'change-me',
  'changeit',
  'password',
  'default',
  'your-256-bit-secret',
  'your-secret-key',
  'jwt-secret',
  'jwt_secret',
  'jwtsecret',
  'secretkey',
  'secret-key',
  'supersecret',
  'super-secret',
  'mysecret',
  'erpgo-secret-pepper-change-in-production',
  'erpgo-jwt-secret-change-in-production',
]);
// Placeholder wording such values carry, whatever their length: "…-change-in-production", "replace-me".
const PLACEHOLDER_WORDING =
  /change.?(me|it|this|in.?prod)|replace.?(me|this)|your.?256.?bit|example|placeholder|insecure|do.?not.?use/i;
const MIN_DISTINCT_CHARACTERS = 8;

/** Why `value` cannot be a signing secret or pepper (never quoting it), or undefined when it can. */
export function weakSecretReason(value: string, minBytes: number): string | undefined {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes < minBytes) return `it is ${bytes} bytes long; at least ${minBytes} are needed`;
  if (KNOWN_WEAK_SECRETS.has(value.toLowerCase()) || PLACEHOLDER_WORDING.test(value)) {
    return 'it is a published default or placeholder value';
  }
  if (/^(.{1,16})\1+$/su.test(value)) return 'it is one short sequence repeated';
  if (new Set(value).size < MIN_DISTINCT_CHARACTERS) {
    return `it has fewer than ${MIN_DISTINCT_CHARACTERS} different characters`;
  }
  return undefined;
}

const MIN_JWT_SECRET_BYTES = 32;
const MIN_PEPPER_BYTES = 16;

/** A secret variable checked by {@link weakSecretReason}; the issue says which rule failed, never the value. */
function strongSecret(minBytes: number, options: { readonly emptyAllowed?: boolean } = {}) {
  return z.string().superRefine((value, ctx) => {
    if (value === '' && options.emptyAllowed === true) return;
    const reason = weakSecretReason(value, minBytes);
    if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason });
  });
}

/** JWT_SECRETS: comma-separated, newest first; each secret must pass {@link weakSecretReason}. */
function jwtSecretList() {
  return z.string().superRefine((value, ctx) => {
    const secrets = commaList(value);
    secrets.forEach((secret, index) => {
      const reason = weakSecretReason(secret, MIN_JWT_SECRET_BYTES);
      if (reason !== undefined) {
        ctx.addIssue({ code: 'custom', message: `secret ${index + 1} of ${secrets.length}: ${reason}` });
      }
    });
  });
}

/** A default that is the same everywhere, or one per APP_ENV. */
export type ConfigDefault = string | Readonly<Record<AppEnv, string>>;

/** Where a variable's parsed value lands in {@link Config}: a top-level key, or a key of the `jobs` group. */
type Group = 'jobs' | undefined;

/** One variable as written once below; the schema is built from the rule so the zod error and the docs agree. */
interface VariableRow<
  S extends z.ZodType<unknown, string>,
  K extends string | undefined,
  G extends Group,
  R extends boolean,
> {
  /** The key of {@link Config} (or of its `group`) the parsed value becomes; undefined when derived across variables. */
  readonly key: K;
  readonly group?: G;
  readonly description: string;
  /** Absent when the variable is required. */
  readonly default?: ConfigDefault;
  /** Delivered from a secret store (the pod's Secret), never printed in full. */
  readonly secret: boolean;
  /** Applied again on SIGHUP without a restart (see config-reload.ts). */
  readonly reloadable?: R;
  /** What a valid value looks like, as a person reads it; also the zod error message. */
  readonly rule: string;
  readonly schema: (rule: string) => S;
  /** What to do when the value is missing or wrong. */
  readonly fix: string;
}

function variable<
  S extends z.ZodType<unknown, string>,
  K extends string | undefined,
  G extends Group = undefined,
  R extends boolean = false,
>(row: VariableRow<S, K, G, R>) {
  return { ...row, group: row.group as G, reloadable: (row.reloadable ?? false) as R, schema: row.schema(row.rule) };
}

/**
 * Every variable the service reads, one row each, in the order problems are reported. The parser, the generated
 * docs (app/generated/CONFIGURATION.md), the reload rules and infra's pod environment are all derived from these rows.
 */
const VARIABLES = {
  NODE_ENV: variable({
    key: 'nodeEnv',
    description: 'Node.js runtime mode; libraries such as Express read it. Use production in every deployed stack.',
    default: 'development',
    secret: false,
    rule: `must be one of ${NODE_ENVS.join(', ')}`,
    schema: (rule) => z.enum(NODE_ENVS, { error: rule }),
    fix: 'set NODE_ENV to production in deployed stacks, or unset it for development',
  }),
  APP_ENV: variable({
    key: 'appEnv',
    description: 'The stack this process belongs to; the per-environment defaults below follow it.',
    default: 'dev',
    secret: false,
    rule: `must be one of ${APP_ENVS.join(', ')}`,
    schema: (rule) => z.enum(APP_ENVS, { error: rule }),
    fix: 'set APP_ENV to the Pulumi stack name (dev, staging or prod)',
  }),
  HOST: variable({
    key: 'host',
    description: 'Address the HTTP server binds to.',
    default: '0.0.0.0',
    secret: false,
    rule: 'must be a host name or IP address to bind, such as 0.0.0.0, 127.0.0.1 or ::',
    schema: (rule) => z.string().regex(/^[\w.:[\]%-]{1,253}$/, { error: rule }),
    fix: 'set HOST to 0.0.0.0 (all IPv4 interfaces), 127.0.0.1 (loopback only) or unset it',
  }),
  PORT: variable({
    key: 'port',
    description: 'TCP port the HTTP server listens on.',
    default: '8080',
    secret: false,
    rule: 'must be a whole number from 1 to 65535',
    schema: (rule) => wholeNumber(1, 65535, rule),
    fix: 'set PORT to a free TCP port, or unset it to use 8080',
  }),
  DATABASE_URL: variable({
    key: 'databaseUrl',
    description: 'PostgreSQL connection URL, with user and password.',
    secret: true,
    rule: 'must be a postgres:// or postgresql:// URL with a host',
    schema: (rule) => connectionUrl(['postgres:', 'postgresql:'], rule),
    fix: 'set DATABASE_URL, for example postgres://erp:<password>@db.internal:5432/erp (percent-encode special characters in the password)',
  }),
  REDIS_URL: variable({
    key: 'redisUrl',
    description: 'Redis connection URL, with the password if Redis requires one.',
    secret: true,
    rule: 'must be a redis:// or rediss:// URL with a host',
    schema: (rule) => connectionUrl(['redis:', 'rediss:'], rule),
    fix: 'set REDIS_URL, for example redis://:<password>@cache.internal:6379/0 (rediss:// for TLS)',
  }),
  LOG_LEVEL: variable({
    key: 'logLevel',
    description: 'Lowest pino level written to the log.',
    default: 'info',
    secret: false,
    reloadable: true,
    rule: `must be one of ${LOG_LEVELS.join(', ')}`,
    schema: (rule) => z.enum(LOG_LEVELS, { error: rule }),
    fix: 'set LOG_LEVEL to info (or debug while investigating), or unset it',
  }),
  SHUTDOWN_DRAIN_MS: variable({
    key: 'shutdownDrainMs',
    description:
      'After SIGTERM, how long readiness reports 503 while the server still serves, so load balancers stop routing here first.',
    default: { dev: '0', staging: '5000', prod: '5000' },
    secret: false,
    rule: 'must be a whole number of milliseconds from 0 to 300000',
    schema: (rule) => wholeNumber(0, 300_000, rule),
    fix: 'set SHUTDOWN_DRAIN_MS to a bit more than the load balancer needs to deregister a target, or unset it',
  }),
  SHUTDOWN_TIMEOUT_MS: variable({
    key: 'shutdownTimeoutMs',
    description: 'After the listener closes, how long in-flight requests may run before their connections are cut.',
    default: '30000',
    secret: false,
    rule: 'must be a whole number of milliseconds from 0 to 600000',
    schema: (rule) => wholeNumber(0, 600_000, rule),
    fix: "set SHUTDOWN_TIMEOUT_MS below the pod's terminationGracePeriodSeconds minus SHUTDOWN_DRAIN_MS, or unset it",
  }),
  KEEP_ALIVE_TIMEOUT_MS: variable({
    key: 'keepAliveTimeoutMs',
    description:
      "How long an idle keep-alive connection stays open; above a cloud load balancer's 60 s idle timeout so the balancer, not the server, closes it.",
    default: '65000',
    secret: false,
    // headersTimeout is set 1 s above this and must stay below Node's 300 s requestTimeout
    rule: 'must be a whole number of milliseconds from 1000 to 240000',
    schema: (rule) => wholeNumber(1000, 240_000, rule),
    fix: "set KEEP_ALIVE_TIMEOUT_MS a few seconds above the load balancer's idle timeout, or unset it",
  }),
  HEALTH_CHECK_TIMEOUT_MS: variable({
    key: 'healthCheckTimeoutMs',
    description: 'Longest wait for each dependency check of the readiness probe.',
    default: '1000',
    secret: false,
    rule: 'must be a whole number of milliseconds from 1 to 60000',
    schema: (rule) => wholeNumber(1, 60_000, rule),
    fix: "set HEALTH_CHECK_TIMEOUT_MS below the probe's timeoutSeconds, or unset it",
  }),
  SLOW_QUERY_MS: variable({
    key: 'slowQueryMs',
    description:
      'Queries taking at least this long are logged at warn with their operation name, duration and parameter count (never the values); 0 logs every query.',
    default: '100',
    secret: false,
    rule: 'must be a whole number of milliseconds from 0 to 60000',
    schema: (rule) => wholeNumber(0, 60_000, rule),
    fix: 'set SLOW_QUERY_MS to the duration worth investigating (0 while profiling), or unset it to use 100',
  }),
  CORS_ORIGINS: variable({
    key: 'corsOrigins',
    description:
      'Browser origins allowed to call the API cross-origin, comma-separated and matched exactly; empty allows none (no CORS headers at all).',
    default: '',
    secret: false,
    rule: 'must be empty or a comma-separated list of exact origins such as https://erp.example.com (http or https, host, port only if not the default; no path, no trailing slash, no *)',
    schema: (rule) =>
      z
        .string()
        .refine((value) => commaList(value).every(isExactOrigin), { error: rule })
        .transform((value): readonly string[] => Object.freeze(commaList(value))),
    fix: 'set CORS_ORIGINS to the web front ends that call the API, e.g. https://erp.example.com,https://admin.example.com, or leave it empty',
  }),
  JSON_BODY_LIMIT: variable({
    key: 'jsonBodyLimitBytes',
    description:
      'Largest JSON request body accepted; a bigger one is refused with 413 PAYLOAD_TOO_LARGE before any handler runs.',
    default: '100kb',
    secret: false,
    rule: 'must be a size from 1kb to 10mb: digits and a unit of b, kb or mb, such as 100kb',
    schema: (rule) => byteSize(1024, 10 * 1024 * 1024, rule),
    fix: 'set JSON_BODY_LIMIT to the largest body a legitimate client sends, such as 100kb or 1mb, or unset it',
  }),
  RATE_LIMIT_PER_MINUTE: variable({
    key: 'rateLimitPerMinute',
    description:
      'Requests one client IP may make per minute across all replicas (counted in Redis; per process while Redis is away); health and metrics endpoints are exempt. Reloaded on SIGHUP.',
    default: '100',
    secret: false,
    reloadable: true,
    rule: 'must be a whole number of requests from 1 to 1000000',
    schema: (rule) => wholeNumber(1, 1_000_000, rule),
    fix: 'set RATE_LIMIT_PER_MINUTE to the most a legitimate client needs per minute, or unset it to use 100',
  }),
  TRUST_PROXY: variable({
    key: 'trustProxy',
    description:
      "Which proxies' X-Forwarded-For to believe when working out the client IP (Express's trust proxy): false, a hop count, or proxy addresses.",
    default: 'false',
    secret: false,
    rule: 'must be false, the number of proxies in front of the app from 1 to 10, or a comma-separated list of proxy IPs or subnets (10.0.0.0/8, loopback, linklocal, uniquelocal)',
    schema: (rule) => trustProxy(rule),
    fix: 'set TRUST_PROXY to 1 behind one load balancer (the usual cluster set-up), to its subnet, or to false when clients connect directly',
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: variable({
    key: 'otlpEndpoint',
    description:
      'OpenTelemetry collector base URL for OTLP/HTTP; spans go to <endpoint>/v1/traces. Empty turns tracing off and loads no SDK. Read before startup by dist/instrument.js.',
    default: '',
    secret: false,
    rule: 'must be empty or an http:// or https:// URL with a host, such as http://otel-collector:4318',
    schema: (rule) => optional(connectionUrl(['http:', 'https:'], rule)),
    fix: 'set OTEL_EXPORTER_OTLP_ENDPOINT to the collector, such as http://otel-collector.observability:4318, or leave it empty to turn tracing off',
  }),
  OTEL_TRACES_SAMPLER_ARG: variable({
    key: 'traceSampleRatio',
    description:
      "Share of new traces kept (parent-based ratio sampling): a request that arrives with a W3C traceparent follows its caller's decision, one without is kept with this probability. 1 keeps every trace.",
    default: '1',
    secret: false,
    rule: 'must be a ratio from 0 to 1 with at most 6 decimals, such as 0.1',
    schema: (rule) => ratio(rule),
    fix: 'set OTEL_TRACES_SAMPLER_ARG to a ratio such as 0.1 (one new trace in ten), or unset it to keep every trace',
  }),
  CONFIG_FILE: variable({
    key: 'configFile',
    description:
      'A file of NAME=value lines (such as a mounted ConfigMap) whose values override the environment; read at startup and again on SIGHUP, when LOG_LEVEL and RATE_LIMIT_PER_MINUTE take effect without a restart.',
    default: '',
    secret: false,
    rule: 'must be empty or an absolute path to a file',
    schema: (rule) => optional(z.string().refine(isAbsolute, { error: rule })),
    fix: 'set CONFIG_FILE to the absolute path of the mounted file, such as /etc/erp-api/config.env, or leave it empty',
  }),
  JWT_SECRETS: variable({
    key: undefined,
    description:
      'Secrets that sign access and refresh tokens (HS256), comma-separated, newest first: the first signs, every one verifies, so a new secret goes first and an old one leaves after the 7-day refresh lifetime. Each token names its secret by a kid derived from a hash, never the secret.',
    default: '',
    secret: true,
    rule: `must be one or more secrets, comma-separated, newest first, each at least ${MIN_JWT_SECRET_BYTES} bytes, not a published default and not a short repeated pattern; JWT_SECRETS or JWT_SECRET is required, not both`,
    schema: () => jwtSecretList(),
    fix: 'set JWT_SECRETS to the output of `openssl rand -base64 48` (prepend a new one with a comma to rotate), or set JWT_SECRET instead',
  }),
  JWT_SECRET: variable({
    key: undefined,
    description:
      'One token-signing secret, for deployments that do not rotate; JWT_SECRETS with one entry is the same.',
    default: '',
    secret: true,
    rule: `must be one secret of at least ${MIN_JWT_SECRET_BYTES} bytes, not a published default and not a short repeated pattern; JWT_SECRETS or JWT_SECRET is required, not both`,
    schema: () => strongSecret(MIN_JWT_SECRET_BYTES, { emptyAllowed: true }),
    fix: 'set JWT_SECRET to the output of `openssl rand -base64 48`, or unset it and use JWT_SECRETS',
  }),
  JWT_ISSUER: variable({
    key: 'jwtIssuer',
    description: 'The iss claim this service writes into its tokens and requires in the tokens it accepts.',
    default: 'erp-api',
    secret: false,
    rule: 'must be 1 to 200 printable characters without spaces, such as erp-api',
    schema: (rule) => z.string().regex(/^[\x21-\x7e]{1,200}$/, { error: rule }),
    fix: 'set JWT_ISSUER to the name of this service, or unset it to use erp-api',
  }),
  JWT_AUDIENCE: variable({
    key: 'jwtAudience',
    description: 'The aud claim this service writes into its tokens and requires in the tokens it accepts.',
    default: 'erp-api',
    secret: false,
    rule: 'must be 1 to 200 printable characters without spaces, such as erp-api',
    schema: (rule) => z.string().regex(/^[\x21-\x7e]{1,200}$/, { error: rule }),
    fix: 'set JWT_AUDIENCE to the API the tokens are for, or unset it to use erp-api',
  }),
  PASSWORD_PEPPER: variable({
    key: 'passwordPepper',
    description:
      'Secret key mixed into every password hash (argon2id secret input), kept out of the database so a stolen users table alone cannot be cracked. Changing it invalidates every stored password.',
    secret: true,
    rule: `must be at least ${MIN_PEPPER_BYTES} bytes, not a published default and not a short repeated pattern`,
    schema: () => strongSecret(MIN_PEPPER_BYTES),
    fix: 'set PASSWORD_PEPPER to the output of `openssl rand -base64 32` and keep it for the life of the stored passwords',
  }),
  SMTP_URL: variable({
    key: 'smtpUrl',
    description:
      'The SMTP server the worker sends the email outbox through (smtps:// for TLS from the first byte; smtp:// upgrades with STARTTLS when offered), with user and password if it needs them. Empty leaves outbox rows unsent.',
    default: '',
    secret: true,
    rule: 'must be empty or an smtp:// or smtps:// URL with a host, such as smtp://mail.internal:587',
    schema: (rule) => optional(connectionUrl(['smtp:', 'smtps:'], rule)),
    fix: 'set SMTP_URL to the mail relay, such as smtp://user:<password>@mail.internal:587, or leave it empty to send nothing',
  }),
  MAIL_FROM: variable({
    key: 'mailFrom',
    description: 'The From address of every mail the worker sends.',
    default: 'erp-api@erp.invalid',
    secret: false,
    rule: 'must be one e-mail address of 3 to 254 printable characters without spaces, such as erp@example.com',
    schema: (rule) => z.string().regex(/^(?=.{3,254}$)[\x21-\x3f\x41-\x7e]+@[\x21-\x3f\x41-\x7e]+$/, { error: rule }),
    fix: 'set MAIL_FROM to an address of your domain that the relay may send from, such as erp@example.com',
  }),
  JOB_ATTEMPTS: variable({
    key: 'attempts',
    group: 'jobs',
    description:
      'How many times a background job (invoice PDF, outgoing mail) runs before it moves to the dead-letter set.',
    default: '3',
    secret: false,
    rule: 'must be a whole number of attempts from 1 to 20',
    schema: (rule) => wholeNumber(1, 20, rule),
    fix: 'set JOB_ATTEMPTS to the tries a job deserves, or unset it to use 3',
  }),
  JOB_BACKOFF_MS: variable({
    key: 'backoffMs',
    group: 'jobs',
    description:
      'Delay before the second attempt of a failed job; each later attempt waits twice as long as the one before (exponential backoff).',
    default: '1000',
    secret: false,
    rule: 'must be a whole number of milliseconds from 100 to 600000',
    schema: (rule) => wholeNumber(100, 600_000, rule),
    fix: 'set JOB_BACKOFF_MS to the first retry delay, or unset it to use 1000',
  }),
  JOB_TIMEOUT_MS: variable({
    key: 'timeoutMs',
    group: 'jobs',
    description: 'Longest one attempt of a job may run; a longer one is abandoned and counts as a failed attempt.',
    default: '30000',
    secret: false,
    rule: 'must be a whole number of milliseconds from 1000 to 600000',
    schema: (rule) => wholeNumber(1000, 600_000, rule),
    fix: 'set JOB_TIMEOUT_MS above the slowest legitimate job, or unset it to use 30000',
  }),
  JOB_STALLED_INTERVAL_MS: variable({
    key: 'stalledIntervalMs',
    group: 'jobs',
    description:
      "How often workers look for jobs whose worker died, and how long a worker's lock on a running job lasts without renewal: a job of a killed worker runs again elsewhere within about twice this.",
    default: '30000',
    secret: false,
    rule: 'must be a whole number of milliseconds from 1000 to 600000',
    schema: (rule) => wholeNumber(1000, 600_000, rule),
    fix: 'set JOB_STALLED_INTERVAL_MS to how soon a dead worker’s job must be recovered, or unset it to use 30000',
  }),
  JOB_CONCURRENCY: variable({
    key: 'concurrency',
    group: 'jobs',
    description: 'Jobs one worker process runs at the same time, per queue.',
    default: '4',
    secret: false,
    rule: 'must be a whole number of jobs from 1 to 100',
    schema: (rule) => wholeNumber(1, 100, rule),
    fix: 'set JOB_CONCURRENCY to what one process’s CPU and database pool bear, or unset it to use 4',
  }),
  JOB_DEAD_LETTER_RETENTION_DAYS: variable({
    key: 'deadLetterRetentionMs',
    group: 'jobs',
    description:
      'How long a job that used up its attempts stays in the dead-letter set, where administrators list, retry or discard it.',
    default: '7',
    secret: false,
    rule: 'must be a whole number of days from 1 to 90',
    schema: (rule) => wholeNumber(1, 90, rule).transform((days) => days * 86_400_000),
    fix: 'set JOB_DEAD_LETTER_RETENTION_DAYS to how long someone may take to look, or unset it to use 7',
  }),
  JOB_QUEUE_LIMIT: variable({
    key: 'queueLimit',
    group: 'jobs',
    description:
      'Waiting jobs a queue holds; at this many, enqueueing answers 429 RATE_LIMITED with a Retry-After from the observed drain rate.',
    default: '500',
    secret: false,
    rule: 'must be a whole number of waiting jobs from 1 to 1000000',
    schema: (rule) => wholeNumber(1, 1_000_000, rule),
    fix: 'set JOB_QUEUE_LIMIT to the backlog the workers clear in acceptable time, or unset it to use 500',
  }),
  EMAIL_OUTBOX_POLL_MS: variable({
    key: 'outboxPollMs',
    group: 'jobs',
    description: 'How often one worker looks for unsent rows of email_outbox and queues them for sending.',
    default: '5000',
    secret: false,
    rule: 'must be a whole number of milliseconds from 1000 to 3600000',
    schema: (rule) => wholeNumber(1000, 3_600_000, rule),
    fix: 'set EMAIL_OUTBOX_POLL_MS to the delay a notification may wait, or unset it to use 5000',
  }),
  BACKUP_BUCKET: variable({
    key: 'backupBucket',
    description:
      'The S3 bucket `erp-api backup` writes to and `erp-api restore` reads from; the server itself never reads it. Empty: backup and restore refuse to run.',
    default: '',
    secret: false,
    rule: 'must be empty or an S3 bucket name: 3 to 63 lower-case letters, digits, dots and dashes',
    schema: (rule) => optional(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: rule })),
    fix: 'set BACKUP_BUCKET to the backup bucket (the Backups component outputs bucketName; npm start makes one locally)',
  }),
  BACKUP_PREFIX: variable({
    key: 'backupPrefix',
    description:
      'Key prefix of every backup object: backups live at <prefix>backups/<backup-id>/. In the cloud it selects the lifecycle tier (daily/).',
    default: '',
    secret: false,
    rule: "must be empty or a key prefix ending in /, of letters, digits and !-_.*'()/ (at most 200 characters), such as daily/",
    schema: (rule) =>
      z.string().refine((value) => value === '' || (value.endsWith('/') && /^[\w!.*'()/-]{1,200}$/.test(value)), {
        error: rule,
      }),
    fix: 'set BACKUP_PREFIX to a prefix ending in /, such as daily/, or leave it empty',
  }),
  BACKUP_S3_ENDPOINT: variable({
    key: 'backupS3Endpoint',
    description:
      'URL of a local S3-compatible server for backups; empty uses AWS S3 in AWS_REGION. Credentials come from the AWS SDK default chain (IRSA in the cluster, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY locally).',
    default: '',
    secret: false,
    rule: 'must be empty or an http:// or https:// URL with a host, such as http://127.0.0.1:9000',
    schema: (rule) => optional(connectionUrl(['http:', 'https:'], rule)),
    fix: 'set BACKUP_S3_ENDPOINT to the local store (npm start prints it), or leave it empty in the cloud',
  }),
  BACKUP_S3_FORCE_PATH_STYLE: variable({
    key: 'backupS3ForcePathStyle',
    description:
      'Address the bucket as <endpoint>/<bucket> rather than <bucket>.<endpoint>; local S3-compatible servers need true.',
    default: 'false',
    secret: false,
    rule: 'must be true or false',
    schema: (rule) => z.enum(['true', 'false'], { error: rule }).transform((value) => value === 'true'),
    fix: 'set BACKUP_S3_FORCE_PATH_STYLE to true with a local BACKUP_S3_ENDPOINT, or unset it',
  }),
  BACKUP_KMS_KEY_ID: variable({
    key: 'backupKmsKeyId',
    description:
      'KMS key every backup object is encrypted with (SSE-KMS); empty writes without naming a key (a local store, or the bucket default).',
    default: '',
    secret: false,
    rule: 'must be empty or a KMS key id, alias/<name> or key ARN (letters, digits and :/_-, at most 2048 characters)',
    schema: (rule) => optional(z.string().regex(/^[\w:/-]{1,2048}$/, { error: rule })),
    fix: 'set BACKUP_KMS_KEY_ID to the backup key ARN (infra sets it), or leave it empty for a local store',
  }),
  BACKUP_RETENTION_DAYS: variable({
    key: 'backupRetentionDays',
    description:
      'After a successful backup, `erp-api backup` deletes whole backups older than this many days, never the newest; 0 leaves expiry to the bucket lifecycle (the cloud).',
    default: '7',
    secret: false,
    rule: 'must be a whole number of days from 0 to 3650',
    schema: (rule) => wholeNumber(0, 3650, rule),
    fix: 'set BACKUP_RETENTION_DAYS to the days backups are kept (7), or 0 when the bucket lifecycle expires them',
  }),
};

type Rows = typeof VARIABLES;
export type ConfigVariableName = keyof Rows;
type Value<N extends ConfigVariableName> = z.output<Rows[N]['schema']>;
type KeyOf<N extends ConfigVariableName, G extends Group> = Rows[N]['group'] extends G
  ? Rows[N]['key'] extends string
    ? Rows[N]['key']
    : never
  : never;
type Section<G extends Group> = { readonly [N in ConfigVariableName as KeyOf<N, G>]: Value<N> };

export type Config = Readonly<
  Section<undefined> & {
    readonly jobs: Section<'jobs'>;
    /** Newest first: the first signs, every one verifies. Never log these. */
    readonly jwtSecrets: readonly string[];
  }
>;

/** The keys of {@link Config} whose variables are reloadable. */
export type ReloadableKey = {
  [N in ConfigVariableName]: Rows[N]['reloadable'] extends true ? KeyOf<N, undefined> : never;
}[ConfigVariableName];

const NAMES = Object.keys(VARIABLES) as ConfigVariableName[];

/** The settings a running process applies again on SIGHUP, read from the rows marked reloadable. */
export const RELOADABLE_KEYS = Object.freeze(
  NAMES.flatMap((name) => {
    const row: { readonly key: string | undefined; readonly reloadable: boolean } = VARIABLES[name];
    return row.reloadable && row.key !== undefined ? [row.key] : [];
  }),
) as readonly ReloadableKey[];

type Shape = { readonly [N in ConfigVariableName]: Rows[N]['schema'] };
const shape = Object.fromEntries(NAMES.map((name) => [name, VARIABLES[name].schema])) as unknown as Shape;

/** Lays each parsed value on its row's key, then adds what is derived across variables. */
function toConfig(env: { readonly [N in ConfigVariableName]: Value<N> }): Config {
  const top: Record<string, unknown> = {};
  const jobs: Record<string, unknown> = {};
  for (const name of NAMES) {
    const row: { readonly key: string | undefined; readonly group: Group } = VARIABLES[name];
    if (row.key === undefined) continue;
    if (row.group === 'jobs') {
      top.jobs = jobs;
      jobs[row.key] = env[name];
    } else top[row.key] = env[name];
  }
  top.jobs = Object.freeze(jobs);
  top.jwtSecrets = Object.freeze(env.JWT_SECRETS === '' ? [env.JWT_SECRET] : commaList(env.JWT_SECRETS));
  return top as Config;
}

/**
 * The one schema of the service's configuration: raw environment strings in (defaults already applied,
 * see {@link loadConfig}), typed values out.
 */
export const configSchema = z
  .object(shape)
  // Checked even when other variables are wrong, so one restart fixes every problem.
  .refine((env) => env.JWT_SECRETS !== '' || env.JWT_SECRET !== '', {
    error: 'neither JWT_SECRETS nor JWT_SECRET is set',
    path: ['JWT_SECRETS'],
    when: () => true,
  })
  .refine((env) => env.JWT_SECRETS === '' || env.JWT_SECRET === '', {
    error: 'JWT_SECRET is set as well; keep only JWT_SECRETS, newest secret first',
    path: ['JWT_SECRET'],
    when: () => true,
  })
  .transform(toConfig);

/** One environment variable, as plain data for generated docs and the Pulumi-side secret wiring. */
export interface ConfigVariable {
  readonly name: ConfigVariableName;
  readonly description: string;
  /** Absent when the variable is required. */
  readonly default?: ConfigDefault;
  /** No default: the server pod must receive it. */
  readonly required: boolean;
  /** Delivered from a secret store (the pod's Secret), never printed in full. */
  readonly secret: boolean;
  /** Applied again on SIGHUP without a restart. */
  readonly reloadable: boolean;
  /** What a valid value looks like. */
  readonly rule: string;
  /** What to do when the value is missing or wrong. */
  readonly fix: string;
}

/** Every variable the service reads, in row order, as plain data. */
export const configVariables: readonly ConfigVariable[] = Object.freeze(
  NAMES.map((name) => {
    const row: Omit<VariableRow<z.ZodType<unknown, string>, string | undefined, Group, boolean>, 'schema'> = VARIABLES[
      name
    ];
    return Object.freeze({
      name,
      description: row.description,
      ...(row.default === undefined ? {} : { default: row.default }),
      required: row.default === undefined,
      secret: row.secret,
      reloadable: row.reloadable ?? false,
      rule: row.rule,
      fix: row.fix,
    });
  }),
);

/** The configuration could not be loaded; `problems` has one line per bad variable, secrets redacted. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(readonly problems: readonly string[]) {
    super(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.join('\n')}`,
    );
  }
}

const SECRET_NAME = /SECRET|PASSWORD|PEPPER|TOKEN|KEY/i;
const MAX_SHOWN_LENGTH = 200;

/**
 * A value as it may appear in an error or a log: whole value hidden for secret-looking names,
 * the password part hidden in URLs, long values cut.
 */
export function redactValue(name: string, value: string): string {
  if (SECRET_NAME.test(name)) return '[redacted]';
  // Greedy up to the last '@', so an unencoded '@' inside the password cannot leak its tail.
  const shown = value.replace(/^([a-z][a-z\d+.-]*:\/\/[^/:@]*:).*@/i, '$1[redacted]@');
  return shown.length > MAX_SHOWN_LENGTH ? `${shown.slice(0, MAX_SHOWN_LENGTH)}…` : shown;
}

function defaultFor(variable: ConfigVariable, appEnv: AppEnv): string | undefined {
  const value = variable.default;
  return typeof value === 'object' ? value[appEnv] : value;
}

function isAppEnv(value: string | undefined): value is AppEnv {
  return (APP_ENVS as readonly (string | undefined)[]).includes(value);
}

/**
 * Reads, validates and freezes the configuration from `env`. An empty variable counts as unset.
 * @throws {ConfigError} listing every problem at once, so one restart fixes them all.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const given = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  const appEnvGiven = given('APP_ENV');
  // An invalid APP_ENV is reported on its own line; the other defaults then follow dev.
  const appEnv: AppEnv = isAppEnv(appEnvGiven) ? appEnvGiven : 'dev';

  const input: Partial<Record<ConfigVariableName, string>> = {};
  for (const variable of configVariables) {
    const value = given(variable.name) ?? defaultFor(variable, appEnv);
    if (value !== undefined) input[variable.name] = value;
  }

  const result = configSchema.safeParse(input);
  if (result.success) return Object.freeze(result.data);

  const problems = new Map<ConfigVariableName, string>();
  for (const issue of result.error.issues) {
    const variable = configVariables.find((candidate) => candidate.name === issue.path[0]);
    if (variable === undefined || problems.has(variable.name)) continue;
    const detail = issue.code === 'custom' && issue.message !== variable.rule ? issue.message : undefined;
    // An empty default (JWT_SECRETS) that is refused reads as missing, not as an invalid "[redacted]".
    const value = input[variable.name] === '' ? undefined : input[variable.name];
    problems.set(variable.name, problemLine(variable, value, detail));
  }
  // Schema order, whether the problem came from the variable itself or from a check across variables.
  throw new ConfigError(configVariables.flatMap((variable) => problems.get(variable.name) ?? []));
}

/** One line per bad variable: its name, its value (redacted), which check failed, the rule and the fix. */
function problemLine(variable: ConfigVariable, value: string | undefined, detail?: string): string {
  const what =
    value === undefined
      ? `${variable.name} is not set but is required`
      : `${variable.name}=${JSON.stringify(redactValue(variable.name, value))} is invalid`;
  return `${what}${detail === undefined ? '' : ` (${detail})`}: ${variable.rule}; ${variable.fix}`;
}

/**
 * Reads and validates only `names`, with the same problem lines {@link loadConfig} would give, for command-line
 * tools that need a few variables.
 * @throws {ConfigError} listing every problem at once.
 */
export function loadVariables<const N extends ConfigVariableName>(
  names: readonly N[],
  env: NodeJS.ProcessEnv = process.env,
): { readonly [K in N]: z.output<(typeof configSchema.in.shape)[K]> } {
  const appEnvGiven = env.APP_ENV === '' ? undefined : env.APP_ENV;
  const appEnv: AppEnv = isAppEnv(appEnvGiven) ? appEnvGiven : 'dev';
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const name of names) {
    const variable = configVariables.find((candidate) => candidate.name === name);
    if (variable === undefined) throw new Error(`${name} is missing from configVariables`);
    const value = (env[name] === '' ? undefined : env[name]) ?? defaultFor(variable, appEnv);
    const result = configSchema.in.shape[name].safeParse(value);
    if (result.success) values[name] = result.data;
    else problems.push(problemLine(variable, value === '' ? undefined : value));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values as { readonly [K in N]: z.output<(typeof configSchema.in.shape)[K]> };
}

/**
 * Reads and validates DATABASE_URL alone, for tools such as the migration CLI that need nothing else.
 * @throws {ConfigError} with the same problem line {@link loadConfig} would give.
 */
/** PASSWORD_PEPPER alone, checked by the service's own rule (for the admin CLI's create-user). */
export function loadPasswordPepper(env: NodeJS.ProcessEnv = process.env): string {
  const value = env.PASSWORD_PEPPER === '' ? undefined : env.PASSWORD_PEPPER;
  const result = configSchema.in.shape.PASSWORD_PEPPER.safeParse(value);
  if (result.success) return result.data;
  const variable = configVariables.find((candidate) => candidate.name === 'PASSWORD_PEPPER');
  if (variable === undefined) throw new Error('PASSWORD_PEPPER is missing from configVariables');
  throw new ConfigError([problemLine(variable, value)]);
}

export function loadDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const value = env.DATABASE_URL === '' ? undefined : env.DATABASE_URL;
  const result = configSchema.in.shape.DATABASE_URL.safeParse(value);
  if (result.success) return result.data;
  const variable = configVariables.find((candidate) => candidate.name === 'DATABASE_URL');
  if (variable === undefined) throw new Error('DATABASE_URL is missing from configVariables');
  throw new ConfigError([problemLine(variable, value)]);
}
