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
    const value = input[variable.name];
    const what =
      value === undefined
        ? `${variable.name} is not set but is required`
        : `${variable.name}=${JSON.stringify(redactValue(variable.name, value))} is invalid`;
    problems.set(variable.name, `${what}: ${variable.rule}; ${variable.fix}`);
  }
  throw new ConfigError([...problems.values()]);
}
