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

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(', ')}` });
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

/**
 * The rule each variable must follow, as a person reads it; the same text is the zod error message,
 * so a problem line and the generated docs say the same thing.
 */
const RULES = {
  PORT: 'must be a whole number from 1 to 65535',
  HOST: 'must be a host name or IP address to bind, such as 0.0.0.0, 127.0.0.1 or ::',
  DATABASE_URL: 'must be a postgres:// or postgresql:// URL with a host',
  REDIS_URL: 'must be a redis:// or rediss:// URL with a host',
  SHUTDOWN_DRAIN_MS: 'must be a whole number of milliseconds from 0 to 300000',
  SHUTDOWN_TIMEOUT_MS: 'must be a whole number of milliseconds from 0 to 600000',
  // headersTimeout is set 1 s above this and must stay below Node's 300 s requestTimeout
  KEEP_ALIVE_TIMEOUT_MS: 'must be a whole number of milliseconds from 1000 to 240000',
  HEALTH_CHECK_TIMEOUT_MS: 'must be a whole number of milliseconds from 1 to 60000',
  SLOW_QUERY_MS: 'must be a whole number of milliseconds from 0 to 60000',
  CORS_ORIGINS:
    'must be empty or a comma-separated list of exact origins such as https://erp.example.com (http or https, host, port only if not the default; no path, no trailing slash, no *)',
  JSON_BODY_LIMIT: 'must be a size from 1kb to 10mb: digits and a unit of b, kb or mb, such as 100kb',
  RATE_LIMIT_PER_MINUTE: 'must be a whole number of requests from 1 to 1000000',
  TRUST_PROXY:
    'must be false, the number of proxies in front of the app from 1 to 10, or a comma-separated list of proxy IPs or subnets (10.0.0.0/8, loopback, linklocal, uniquelocal)',
  OTEL_EXPORTER_OTLP_ENDPOINT:
    'must be empty or an http:// or https:// URL with a host, such as http://otel-collector:4318',
  OTEL_TRACES_SAMPLER_ARG: 'must be a ratio from 0 to 1 with at most 6 decimals, such as 0.1',
  CONFIG_FILE: 'must be empty or an absolute path to a file',
  JWT_SECRETS: `must be one or more secrets, comma-separated, newest first, each at least ${MIN_JWT_SECRET_BYTES} bytes, not a published default and not a short repeated pattern; JWT_SECRETS or JWT_SECRET is required, not both`,
  JWT_SECRET: `must be one secret of at least ${MIN_JWT_SECRET_BYTES} bytes, not a published default and not a short repeated pattern; JWT_SECRETS or JWT_SECRET is required, not both`,
  JWT_ISSUER: 'must be 1 to 200 printable characters without spaces, such as erp-api',
  JWT_AUDIENCE: 'must be 1 to 200 printable characters without spaces, such as erp-api',
  PASSWORD_PEPPER: `must be at least ${MIN_PEPPER_BYTES} bytes, not a published default and not a short repeated pattern`,
  SMTP_URL: 'must be empty or an smtp:// or smtps:// URL with a host, such as smtp://mail.internal:587',
  MAIL_FROM: 'must be one e-mail address of 3 to 254 printable characters without spaces, such as erp@example.com',
  JOB_ATTEMPTS: 'must be a whole number of attempts from 1 to 20',
  JOB_BACKOFF_MS: 'must be a whole number of milliseconds from 100 to 600000',
  JOB_TIMEOUT_MS: 'must be a whole number of milliseconds from 1000 to 600000',
  JOB_STALLED_INTERVAL_MS: 'must be a whole number of milliseconds from 1000 to 600000',
  JOB_CONCURRENCY: 'must be a whole number of jobs from 1 to 100',
  JOB_DEAD_LETTER_RETENTION_DAYS: 'must be a whole number of days from 1 to 90',
  JOB_QUEUE_LIMIT: 'must be a whole number of waiting jobs from 1 to 1000000',
  EMAIL_OUTBOX_POLL_MS: 'must be a whole number of milliseconds from 1000 to 3600000',
  BACKUP_BUCKET: 'must be empty or an S3 bucket name: 3 to 63 lower-case letters, digits, dots and dashes',
  BACKUP_PREFIX:
    "must be empty or a key prefix ending in /, of letters, digits and !-_.*'()/ (at most 200 characters), such as daily/",
  BACKUP_S3_ENDPOINT: 'must be empty or an http:// or https:// URL with a host, such as http://127.0.0.1:9000',
  BACKUP_S3_FORCE_PATH_STYLE: 'must be true or false',
  BACKUP_KMS_KEY_ID:
    'must be empty or a KMS key id, alias/<name> or key ARN (letters, digits and :/_-, at most 2048 characters)',
  BACKUP_RETENTION_DAYS: 'must be a whole number of days from 0 to 3650',
} as const;

/**
 * The one schema of the service's configuration: raw environment strings in (defaults already applied,
 * see {@link loadConfig}), typed values out.
 */
export const configSchema = z
  .object({
    NODE_ENV: oneOf(NODE_ENVS),
    APP_ENV: oneOf(APP_ENVS),
    HOST: z.string().regex(/^[\w.:[\]%-]{1,253}$/, { error: RULES.HOST }),
    PORT: wholeNumber(1, 65535, RULES.PORT),
    DATABASE_URL: connectionUrl(['postgres:', 'postgresql:'], RULES.DATABASE_URL),
    REDIS_URL: connectionUrl(['redis:', 'rediss:'], RULES.REDIS_URL),
    LOG_LEVEL: oneOf(LOG_LEVELS),
    SHUTDOWN_DRAIN_MS: wholeNumber(0, 300_000, RULES.SHUTDOWN_DRAIN_MS),
    SHUTDOWN_TIMEOUT_MS: wholeNumber(0, 600_000, RULES.SHUTDOWN_TIMEOUT_MS),
    KEEP_ALIVE_TIMEOUT_MS: wholeNumber(1000, 240_000, RULES.KEEP_ALIVE_TIMEOUT_MS),
    HEALTH_CHECK_TIMEOUT_MS: wholeNumber(1, 60_000, RULES.HEALTH_CHECK_TIMEOUT_MS),
    SLOW_QUERY_MS: wholeNumber(0, 60_000, RULES.SLOW_QUERY_MS),
    CORS_ORIGINS: z
      .string()
      .refine((value) => commaList(value).every(isExactOrigin), { error: RULES.CORS_ORIGINS })
      .transform((value): readonly string[] => Object.freeze(commaList(value))),
    JSON_BODY_LIMIT: byteSize(1024, 10 * 1024 * 1024, RULES.JSON_BODY_LIMIT),
    RATE_LIMIT_PER_MINUTE: wholeNumber(1, 1_000_000, RULES.RATE_LIMIT_PER_MINUTE),
    TRUST_PROXY: trustProxy(RULES.TRUST_PROXY),
    OTEL_EXPORTER_OTLP_ENDPOINT: optional(connectionUrl(['http:', 'https:'], RULES.OTEL_EXPORTER_OTLP_ENDPOINT)),
    OTEL_TRACES_SAMPLER_ARG: ratio(RULES.OTEL_TRACES_SAMPLER_ARG),
    CONFIG_FILE: optional(z.string().refine(isAbsolute, { error: RULES.CONFIG_FILE })),
    JWT_SECRETS: jwtSecretList(),
    JWT_SECRET: strongSecret(MIN_JWT_SECRET_BYTES, { emptyAllowed: true }),
    JWT_ISSUER: z.string().regex(/^[\x21-\x7e]{1,200}$/, { error: RULES.JWT_ISSUER }),
    JWT_AUDIENCE: z.string().regex(/^[\x21-\x7e]{1,200}$/, { error: RULES.JWT_AUDIENCE }),
    PASSWORD_PEPPER: strongSecret(MIN_PEPPER_BYTES),
    SMTP_URL: optional(connectionUrl(['smtp:', 'smtps:'], RULES.SMTP_URL)),
    MAIL_FROM: z
      .string()
      .regex(/^(?=.{3,254}$)[\x21-\x3f\x41-\x7e]+@[\x21-\x3f\x41-\x7e]+$/, { error: RULES.MAIL_FROM }),
    JOB_ATTEMPTS: wholeNumber(1, 20, RULES.JOB_ATTEMPTS),
    JOB_BACKOFF_MS: wholeNumber(100, 600_000, RULES.JOB_BACKOFF_MS),
    JOB_TIMEOUT_MS: wholeNumber(1000, 600_000, RULES.JOB_TIMEOUT_MS),
    JOB_STALLED_INTERVAL_MS: wholeNumber(1000, 600_000, RULES.JOB_STALLED_INTERVAL_MS),
    JOB_CONCURRENCY: wholeNumber(1, 100, RULES.JOB_CONCURRENCY),
    JOB_DEAD_LETTER_RETENTION_DAYS: wholeNumber(1, 90, RULES.JOB_DEAD_LETTER_RETENTION_DAYS),
    JOB_QUEUE_LIMIT: wholeNumber(1, 1_000_000, RULES.JOB_QUEUE_LIMIT),
    EMAIL_OUTBOX_POLL_MS: wholeNumber(1000, 3_600_000, RULES.EMAIL_OUTBOX_POLL_MS),
    BACKUP_BUCKET: optional(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: RULES.BACKUP_BUCKET })),
    BACKUP_PREFIX: z
      .string()
      .refine((value) => value === '' || (value.endsWith('/') && /^[\w!.*'()/-]{1,200}$/.test(value)), {
        error: RULES.BACKUP_PREFIX,
      }),
    BACKUP_S3_ENDPOINT: optional(connectionUrl(['http:', 'https:'], RULES.BACKUP_S3_ENDPOINT)),
    BACKUP_S3_FORCE_PATH_STYLE: z
      .enum(['true', 'false'], { error: RULES.BACKUP_S3_FORCE_PATH_STYLE })
      .transform((value) => value === 'true'),
    BACKUP_KMS_KEY_ID: optional(z.string().regex(/^[\w:/-]{1,2048}$/, { error: RULES.BACKUP_KMS_KEY_ID })),
    BACKUP_RETENTION_DAYS: wholeNumber(0, 3650, RULES.BACKUP_RETENTION_DAYS),
  })
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
  .transform((env) => ({
    nodeEnv: env.NODE_ENV,
    appEnv: env.APP_ENV,
    host: env.HOST,
    port: env.PORT,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    logLevel: env.LOG_LEVEL,
    shutdownDrainMs: env.SHUTDOWN_DRAIN_MS,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    keepAliveTimeoutMs: env.KEEP_ALIVE_TIMEOUT_MS,
    healthCheckTimeoutMs: env.HEALTH_CHECK_TIMEOUT_MS,
    slowQueryMs: env.SLOW_QUERY_MS,
    corsOrigins: env.CORS_ORIGINS,
    jsonBodyLimitBytes: env.JSON_BODY_LIMIT,
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    trustProxy: env.TRUST_PROXY,
    otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
    traceSampleRatio: env.OTEL_TRACES_SAMPLER_ARG,
    configFile: env.CONFIG_FILE,
    /** Newest first: the first signs, every one verifies. Never log these. */
    jwtSecrets: Object.freeze(env.JWT_SECRETS === '' ? [env.JWT_SECRET] : commaList(env.JWT_SECRETS)),
    jwtIssuer: env.JWT_ISSUER,
    jwtAudience: env.JWT_AUDIENCE,
    /** Keys every password hash (argon2's secret input); never log it. */
    passwordPepper: env.PASSWORD_PEPPER,
    /** Where the worker sends mail; undefined leaves the outbox unsent. May carry a password: never log it. */
    smtpUrl: env.SMTP_URL,
    mailFrom: env.MAIL_FROM,
    jobs: Object.freeze({
      attempts: env.JOB_ATTEMPTS,
      backoffMs: env.JOB_BACKOFF_MS,
      timeoutMs: env.JOB_TIMEOUT_MS,
      stalledIntervalMs: env.JOB_STALLED_INTERVAL_MS,
      concurrency: env.JOB_CONCURRENCY,
      deadLetterRetentionMs: env.JOB_DEAD_LETTER_RETENTION_DAYS * 86_400_000,
      queueLimit: env.JOB_QUEUE_LIMIT,
      outboxPollMs: env.EMAIL_OUTBOX_POLL_MS,
    }),
    backupBucket: env.BACKUP_BUCKET,
    backupPrefix: env.BACKUP_PREFIX,
    backupS3Endpoint: env.BACKUP_S3_ENDPOINT,
    backupS3ForcePathStyle: env.BACKUP_S3_FORCE_PATH_STYLE,
    backupKmsKeyId: env.BACKUP_KMS_KEY_ID,
    backupRetentionDays: env.BACKUP_RETENTION_DAYS,
  }));

export type ConfigVariableName = keyof z.input<typeof configSchema>;
export type Config = Readonly<z.output<typeof configSchema>>;

/** A default that is the same everywhere, or one per APP_ENV. */
export type ConfigDefault = string | Readonly<Record<AppEnv, string>>;

/** One environment variable, as plain data for generated docs and the Pulumi-side secret wiring. */
export interface ConfigVariable {
  readonly name: ConfigVariableName;
  readonly description: string;
  /** Absent when the variable is required. */
  readonly default?: ConfigDefault;
  readonly required: boolean;
  /** Delivered from a secret store, never printed in full. */
  readonly secret: boolean;
  /** What a valid value looks like. */
  readonly rule: string;
  /** What to do when the value is missing or wrong. */
  readonly fix: string;
}

type VariableDocs = Omit<ConfigVariable, 'name' | 'required'>;

// Typed as a Record over the schema's keys, so a variable added to the schema without docs fails to compile.
const docs: Record<ConfigVariableName, VariableDocs> = {
  NODE_ENV: {
    description: 'Node.js runtime mode; libraries such as Express read it. Use production in every deployed stack.',
    default: 'development',
    secret: false,
    rule: `must be one of ${NODE_ENVS.join(', ')}`,
    fix: 'set NODE_ENV to production in deployed stacks, or unset it for development',
  },
  APP_ENV: {
    description: 'The stack this process belongs to; the per-environment defaults below follow it.',
    default: 'dev',
    secret: false,
    rule: `must be one of ${APP_ENVS.join(', ')}`,
    fix: 'set APP_ENV to the Pulumi stack name (dev, staging or prod)',
  },
  HOST: {
    description: 'Address the HTTP server binds to.',
    default: '0.0.0.0',
    secret: false,
    rule: RULES.HOST,
    fix: 'set HOST to 0.0.0.0 (all IPv4 interfaces), 127.0.0.1 (loopback only) or unset it',
  },
  PORT: {
    description: 'TCP port the HTTP server listens on.',
    default: '8080',
    secret: false,
    rule: RULES.PORT,
    fix: 'set PORT to a free TCP port, or unset it to use 8080',
  },
  DATABASE_URL: {
    description: 'PostgreSQL connection URL, with user and password.',
    secret: true,
    rule: RULES.DATABASE_URL,
    fix: 'set DATABASE_URL, for example postgres://erp:<password>@db.internal:5432/erp (percent-encode special characters in the password)',
  },
  REDIS_URL: {
    description: 'Redis connection URL, with the password if Redis requires one.',
    secret: true,
    rule: RULES.REDIS_URL,
    fix: 'set REDIS_URL, for example redis://:<password>@cache.internal:6379/0 (rediss:// for TLS)',
  },
  LOG_LEVEL: {
    description: 'Lowest pino level written to the log.',
    default: 'info',
    secret: false,
    rule: `must be one of ${LOG_LEVELS.join(', ')}`,
    fix: 'set LOG_LEVEL to info (or debug while investigating), or unset it',
  },
  SHUTDOWN_DRAIN_MS: {
    description:
      'After SIGTERM, how long readiness reports 503 while the server still serves, so load balancers stop routing here first.',
    default: { dev: '0', staging: '5000', prod: '5000' },
    secret: false,
    rule: RULES.SHUTDOWN_DRAIN_MS,
    fix: 'set SHUTDOWN_DRAIN_MS to a bit more than the load balancer needs to deregister a target, or unset it',
  },
  SHUTDOWN_TIMEOUT_MS: {
    description: 'After the listener closes, how long in-flight requests may run before their connections are cut.',
    default: '30000',
    secret: false,
    rule: RULES.SHUTDOWN_TIMEOUT_MS,
    fix: "set SHUTDOWN_TIMEOUT_MS below the pod's terminationGracePeriodSeconds minus SHUTDOWN_DRAIN_MS, or unset it",
  },
  KEEP_ALIVE_TIMEOUT_MS: {
    description:
      "How long an idle keep-alive connection stays open; above a cloud load balancer's 60 s idle timeout so the balancer, not the server, closes it.",
    default: '65000',
    secret: false,
    rule: RULES.KEEP_ALIVE_TIMEOUT_MS,
    fix: "set KEEP_ALIVE_TIMEOUT_MS a few seconds above the load balancer's idle timeout, or unset it",
  },
  HEALTH_CHECK_TIMEOUT_MS: {
    description: 'Longest wait for each dependency check of the readiness probe.',
    default: '1000',
    secret: false,
    rule: RULES.HEALTH_CHECK_TIMEOUT_MS,
    fix: "set HEALTH_CHECK_TIMEOUT_MS below the probe's timeoutSeconds, or unset it",
  },
  SLOW_QUERY_MS: {
    description:
      'Queries taking at least this long are logged at warn with their operation name, duration and parameter count (never the values); 0 logs every query.',
    default: '100',
    secret: false,
    rule: RULES.SLOW_QUERY_MS,
    fix: 'set SLOW_QUERY_MS to the duration worth investigating (0 while profiling), or unset it to use 100',
  },
  CORS_ORIGINS: {
    description:
      'Browser origins allowed to call the API cross-origin, comma-separated and matched exactly; empty allows none (no CORS headers at all).',
    default: '',
    secret: false,
    rule: RULES.CORS_ORIGINS,
    fix: 'set CORS_ORIGINS to the web front ends that call the API, e.g. https://erp.example.com,https://admin.example.com, or leave it empty',
  },
  JSON_BODY_LIMIT: {
    description:
      'Largest JSON request body accepted; a bigger one is refused with 413 PAYLOAD_TOO_LARGE before any handler runs.',
    default: '100kb',
    secret: false,
    rule: RULES.JSON_BODY_LIMIT,
    fix: 'set JSON_BODY_LIMIT to the largest body a legitimate client sends, such as 100kb or 1mb, or unset it',
  },
  RATE_LIMIT_PER_MINUTE: {
    description:
      'Requests one client IP may make per minute across all replicas (counted in Redis; per process while Redis is away); health and metrics endpoints are exempt. Reloaded on SIGHUP.',
    default: '100',
    secret: false,
    rule: RULES.RATE_LIMIT_PER_MINUTE,
    fix: 'set RATE_LIMIT_PER_MINUTE to the most a legitimate client needs per minute, or unset it to use 100',
  },
  TRUST_PROXY: {
    description:
      "Which proxies' X-Forwarded-For to believe when working out the client IP (Express's trust proxy): false, a hop count, or proxy addresses.",
    default: 'false',
    secret: false,
    rule: RULES.TRUST_PROXY,
    fix: 'set TRUST_PROXY to 1 behind one load balancer (the usual cluster set-up), to its subnet, or to false when clients connect directly',
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    description:
      'OpenTelemetry collector base URL for OTLP/HTTP; spans go to <endpoint>/v1/traces. Empty turns tracing off and loads no SDK. Read before startup by dist/instrument.js.',
    default: '',
    secret: false,
    rule: RULES.OTEL_EXPORTER_OTLP_ENDPOINT,
    fix: 'set OTEL_EXPORTER_OTLP_ENDPOINT to the collector, such as http://otel-collector.observability:4318, or leave it empty to turn tracing off',
  },
  OTEL_TRACES_SAMPLER_ARG: {
    description:
      "Share of new traces kept (parent-based ratio sampling): a request that arrives with a W3C traceparent follows its caller's decision, one without is kept with this probability. 1 keeps every trace.",
    default: '1',
    secret: false,
    rule: RULES.OTEL_TRACES_SAMPLER_ARG,
    fix: 'set OTEL_TRACES_SAMPLER_ARG to a ratio such as 0.1 (one new trace in ten), or unset it to keep every trace',
  },
  CONFIG_FILE: {
    description:
      'A file of NAME=value lines (such as a mounted ConfigMap) whose values override the environment; read at startup and again on SIGHUP, when LOG_LEVEL and RATE_LIMIT_PER_MINUTE take effect without a restart.',
    default: '',
    secret: false,
    rule: RULES.CONFIG_FILE,
    fix: 'set CONFIG_FILE to the absolute path of the mounted file, such as /etc/erp-api/config.env, or leave it empty',
  },
  JWT_SECRETS: {
    description:
      'Secrets that sign access and refresh tokens (HS256), comma-separated, newest first: the first signs, every one verifies, so a new secret goes first and an old one leaves after the 7-day refresh lifetime. Each token names its secret by a kid derived from a hash, never the secret.',
    default: '',
    secret: true,
    rule: RULES.JWT_SECRETS,
    fix: 'set JWT_SECRETS to the output of `openssl rand -base64 48` (prepend a new one with a comma to rotate), or set JWT_SECRET instead',
  },
  JWT_SECRET: {
    description:
      'One token-signing secret, for deployments that do not rotate; JWT_SECRETS with one entry is the same.',
    default: '',
    secret: true,
    rule: RULES.JWT_SECRET,
    fix: 'set JWT_SECRET to the output of `openssl rand -base64 48`, or unset it and use JWT_SECRETS',
  },
  JWT_ISSUER: {
    description: 'The iss claim this service writes into its tokens and requires in the tokens it accepts.',
    default: 'erp-api',
    secret: false,
    rule: RULES.JWT_ISSUER,
    fix: 'set JWT_ISSUER to the name of this service, or unset it to use erp-api',
  },
  JWT_AUDIENCE: {
    description: 'The aud claim this service writes into its tokens and requires in the tokens it accepts.',
    default: 'erp-api',
    secret: false,
    rule: RULES.JWT_AUDIENCE,
    fix: 'set JWT_AUDIENCE to the API the tokens are for, or unset it to use erp-api',
  },
  PASSWORD_PEPPER: {
    description:
      'Secret key mixed into every password hash (argon2id secret input), kept out of the database so a stolen users table alone cannot be cracked. Changing it invalidates every stored password.',
    secret: true,
    rule: RULES.PASSWORD_PEPPER,
    fix: 'set PASSWORD_PEPPER to the output of `openssl rand -base64 32` and keep it for the life of the stored passwords',
  },
  SMTP_URL: {
    description:
      'The SMTP server the worker sends the email outbox through (smtps:// for TLS from the first byte; smtp:// upgrades with STARTTLS when offered), with user and password if it needs them. Empty leaves outbox rows unsent.',
    default: '',
    secret: true,
    rule: RULES.SMTP_URL,
    fix: 'set SMTP_URL to the mail relay, such as smtp://user:<password>@mail.internal:587, or leave it empty to send nothing',
  },
  MAIL_FROM: {
    description: 'The From address of every mail the worker sends.',
    default: 'erp-api@erp.invalid',
    secret: false,
    rule: RULES.MAIL_FROM,
    fix: 'set MAIL_FROM to an address of your domain that the relay may send from, such as erp@example.com',
  },
  JOB_ATTEMPTS: {
    description:
      'How many times a background job (invoice PDF, outgoing mail) runs before it moves to the dead-letter set.',
    default: '3',
    secret: false,
    rule: RULES.JOB_ATTEMPTS,
    fix: 'set JOB_ATTEMPTS to the tries a job deserves, or unset it to use 3',
  },
  JOB_BACKOFF_MS: {
    description:
      'Delay before the second attempt of a failed job; each later attempt waits twice as long as the one before (exponential backoff).',
    default: '1000',
    secret: false,
    rule: RULES.JOB_BACKOFF_MS,
    fix: 'set JOB_BACKOFF_MS to the first retry delay, or unset it to use 1000',
  },
  JOB_TIMEOUT_MS: {
    description: 'Longest one attempt of a job may run; a longer one is abandoned and counts as a failed attempt.',
    default: '30000',
    secret: false,
    rule: RULES.JOB_TIMEOUT_MS,
    fix: 'set JOB_TIMEOUT_MS above the slowest legitimate job, or unset it to use 30000',
  },
  JOB_STALLED_INTERVAL_MS: {
    description:
      "How often workers look for jobs whose worker died, and how long a worker's lock on a running job lasts without renewal: a job of a killed worker runs again elsewhere within about twice this.",
    default: '30000',
    secret: false,
    rule: RULES.JOB_STALLED_INTERVAL_MS,
    fix: 'set JOB_STALLED_INTERVAL_MS to how soon a dead worker’s job must be recovered, or unset it to use 30000',
  },
  JOB_CONCURRENCY: {
    description: 'Jobs one worker process runs at the same time, per queue.',
    default: '4',
    secret: false,
    rule: RULES.JOB_CONCURRENCY,
    fix: 'set JOB_CONCURRENCY to what one process’s CPU and database pool bear, or unset it to use 4',
  },
  JOB_DEAD_LETTER_RETENTION_DAYS: {
    description:
      'How long a job that used up its attempts stays in the dead-letter set, where administrators list, retry or discard it.',
    default: '7',
    secret: false,
    rule: RULES.JOB_DEAD_LETTER_RETENTION_DAYS,
    fix: 'set JOB_DEAD_LETTER_RETENTION_DAYS to how long someone may take to look, or unset it to use 7',
  },
  JOB_QUEUE_LIMIT: {
    description:
      'Waiting jobs a queue holds; at this many, enqueueing answers 429 RATE_LIMITED with a Retry-After from the observed drain rate.',
    default: '500',
    secret: false,
    rule: RULES.JOB_QUEUE_LIMIT,
    fix: 'set JOB_QUEUE_LIMIT to the backlog the workers clear in acceptable time, or unset it to use 500',
  },
  EMAIL_OUTBOX_POLL_MS: {
    description: 'How often one worker looks for unsent rows of email_outbox and queues them for sending.',
    default: '5000',
    secret: false,
    rule: RULES.EMAIL_OUTBOX_POLL_MS,
    fix: 'set EMAIL_OUTBOX_POLL_MS to the delay a notification may wait, or unset it to use 5000',
  },
  BACKUP_BUCKET: {
    description:
      'The S3 bucket `erp-api backup` writes to and `erp-api restore` reads from; the server itself never reads it. Empty: backup and restore refuse to run.',
    default: '',
    secret: false,
    rule: RULES.BACKUP_BUCKET,
    fix: 'set BACKUP_BUCKET to the backup bucket (the Backups component outputs bucketName; npm start makes one locally)',
  },
  BACKUP_PREFIX: {
    description:
      'Key prefix of every backup object: backups live at <prefix>backups/<backup-id>/. In the cloud it selects the lifecycle tier (daily/).',
    default: '',
    secret: false,
    rule: RULES.BACKUP_PREFIX,
    fix: 'set BACKUP_PREFIX to a prefix ending in /, such as daily/, or leave it empty',
  },
  BACKUP_S3_ENDPOINT: {
    description:
      'URL of a local S3-compatible server for backups; empty uses AWS S3 in AWS_REGION. Credentials come from the AWS SDK default chain (IRSA in the cluster, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY locally).',
    default: '',
    secret: false,
    rule: RULES.BACKUP_S3_ENDPOINT,
    fix: 'set BACKUP_S3_ENDPOINT to the local store (npm start prints it), or leave it empty in the cloud',
  },
  BACKUP_S3_FORCE_PATH_STYLE: {
    description:
      'Address the bucket as <endpoint>/<bucket> rather than <bucket>.<endpoint>; local S3-compatible servers need true.',
    default: 'false',
    secret: false,
    rule: RULES.BACKUP_S3_FORCE_PATH_STYLE,
    fix: 'set BACKUP_S3_FORCE_PATH_STYLE to true with a local BACKUP_S3_ENDPOINT, or unset it',
  },
  BACKUP_KMS_KEY_ID: {
    description:
      'KMS key every backup object is encrypted with (SSE-KMS); empty writes without naming a key (a local store, or the bucket default).',
    default: '',
    secret: false,
    rule: RULES.BACKUP_KMS_KEY_ID,
    fix: 'set BACKUP_KMS_KEY_ID to the backup key ARN (infra sets it), or leave it empty for a local store',
  },
  BACKUP_RETENTION_DAYS: {
    description:
      'After a successful backup, `erp-api backup` deletes whole backups older than this many days, never the newest; 0 leaves expiry to the bucket lifecycle (the cloud).',
    default: '7',
    secret: false,
    rule: RULES.BACKUP_RETENTION_DAYS,
    fix: 'set BACKUP_RETENTION_DAYS to the days backups are kept (7), or 0 when the bucket lifecycle expires them',
  },
};

/** Every variable the service reads, in schema order, as plain data. */
export const configVariables: readonly ConfigVariable[] = Object.freeze(
  (Object.keys(configSchema.in.shape) as ConfigVariableName[]).map((name) =>
    Object.freeze({ name, ...docs[name], required: docs[name].default === undefined }),
  ),
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
