import { describe, expect, it } from 'vitest';

import { ConfigError, configVariables, loadConfig, loadDatabaseUrl, redactValue } from '../src/config.js';
import { expectOneProblemLine, problemsFor, REQUIRED_ENV } from './support/config.js';

const REQUIRED = REQUIRED_ENV;

describe('loadConfig defaults', () => {
  it('fills every optional variable for dev, with no drain period', () => {
    expect(loadConfig({ ...REQUIRED })).toEqual({
      nodeEnv: 'development',
      appEnv: 'dev',
      host: '0.0.0.0',
      port: 8080,
      databaseUrl: REQUIRED.DATABASE_URL,
      redisUrl: REQUIRED.REDIS_URL,
      logLevel: 'info',
      shutdownDrainMs: 0,
      shutdownTimeoutMs: 30_000,
      keepAliveTimeoutMs: 65_000,
      healthCheckTimeoutMs: 1_000,
      slowQueryMs: 100,
      corsOrigins: [],
      jsonBodyLimitBytes: 102_400,
      rateLimitPerMinute: 100,
      trustProxy: false,
      otlpEndpoint: undefined,
      traceSampleRatio: 1,
      configFile: undefined,
      jwtSecrets: [REQUIRED.JWT_SECRETS],
      jwtIssuer: 'erp-api',
      jwtAudience: 'erp-api',
      passwordPepper: REQUIRED.PASSWORD_PEPPER,
      smtpUrl: undefined,
      mailFrom: 'erp-api@erp.invalid',
      jobs: {
        attempts: 3,
        backoffMs: 1000,
        timeoutMs: 30_000,
        stalledIntervalMs: 30_000,
        concurrency: 4,
        deadLetterRetentionMs: 7 * 86_400_000,
        queueLimit: 500,
        outboxPollMs: 5000,
      },
      backupBucket: undefined,
      backupPrefix: '',
      backupS3Endpoint: undefined,
      backupS3ForcePathStyle: false,
      backupKmsKeyId: undefined,
      backupRetentionDays: 7,
    });
  });

  it.each([
    ['dev', 0],
    ['staging', 5_000],
    ['prod', 5_000],
  ])('APP_ENV=%s drains for %i ms by default', (appEnv, drainMs) => {
    expect(loadConfig({ ...REQUIRED, APP_ENV: appEnv }).shutdownDrainMs).toBe(drainMs);
  });

  it('lets an explicit value win over the per-environment default', () => {
    expect(loadConfig({ ...REQUIRED, APP_ENV: 'prod', SHUTDOWN_DRAIN_MS: '1500' }).shutdownDrainMs).toBe(1_500);
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig({ ...REQUIRED, PORT: '', LOG_LEVEL: '' });
    expect(config.port).toBe(8080);
    expect(config.logLevel).toBe('info');
  });

  it('parses every variable it is given', () => {
    const config = loadConfig({
      ...REQUIRED,
      NODE_ENV: 'production',
      APP_ENV: 'staging',
      HOST: '127.0.0.1',
      PORT: '3000',
      LOG_LEVEL: 'warn',
      SHUTDOWN_TIMEOUT_MS: '12000',
      KEEP_ALIVE_TIMEOUT_MS: '75000',
      HEALTH_CHECK_TIMEOUT_MS: '250',
      SLOW_QUERY_MS: '0',
    });
    expect(config).toMatchObject({
      nodeEnv: 'production',
      appEnv: 'staging',
      host: '127.0.0.1',
      port: 3000,
      logLevel: 'warn',
      shutdownTimeoutMs: 12_000,
      keepAliveTimeoutMs: 75_000,
      healthCheckTimeoutMs: 250,
      slowQueryMs: 0,
    });
  });

  it('returns a frozen object', () => {
    const config = loadConfig({ ...REQUIRED });
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});

describe('loadConfig problems', () => {
  it.each([
    ['NODE_ENV', 'prod', 'must be one of development, test, production'],
    ['APP_ENV', 'production', 'must be one of dev, staging, prod'],
    ['HOST', 'my host', 'host name or IP address'],
    ['PORT', '0', 'from 1 to 65535'],
    ['PORT', '65536', 'from 1 to 65535'],
    ['PORT', '80.5', 'from 1 to 65535'],
    ['PORT', '0x50', 'from 1 to 65535'],
    ['PORT', 'http', 'from 1 to 65535'],
    ['DATABASE_URL', 'mysql://erp@db.internal/erp', 'postgres:// or postgresql://'],
    ['DATABASE_URL', 'not a url', 'postgres:// or postgresql://'],
    ['REDIS_URL', 'http://cache.internal:6379', 'redis:// or rediss://'],
    ['LOG_LEVEL', 'verbose', 'must be one of fatal, error, warn, info, debug, trace, silent'],
    ['SHUTDOWN_DRAIN_MS', '-1', 'from 0 to 300000'],
    ['SHUTDOWN_TIMEOUT_MS', '5s', 'from 0 to 600000'],
    ['KEEP_ALIVE_TIMEOUT_MS', '500', 'from 1000 to 240000'],
    ['HEALTH_CHECK_TIMEOUT_MS', '0', 'from 1 to 60000'],
    ['SLOW_QUERY_MS', '60001', 'from 0 to 60000'],
    ['SLOW_QUERY_MS', '1.5', 'from 0 to 60000'],
  ])('%s=%j gives one line naming it, its value, the rule and a fix', (name, value, rule) => {
    expectOneProblemLine(name, value, rule);
  });

  it('names each missing required variable', () => {
    const problems = problemsFor({});
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^DATABASE_URL is not set but is required: .*; set DATABASE_URL, for example/);
    expect(problems[1]).toMatch(/^REDIS_URL is not set but is required: .*; set REDIS_URL, for example/);
    expect(problems[2]).toMatch(
      /^JWT_SECRETS is not set but is required \(neither JWT_SECRETS nor JWT_SECRET is set\)/,
    );
    expect(problems[3]).toMatch(/^PASSWORD_PEPPER is not set but is required: .*; set PASSWORD_PEPPER/);
  });

  it('reports every problem at once, in schema order, in the error message too', () => {
    let caught: unknown;
    try {
      loadConfig({
        PORT: 'x',
        APP_ENV: 'qa',
        REDIS_URL: REQUIRED.REDIS_URL,
        JWT_SECRETS: REQUIRED.JWT_SECRETS,
        PASSWORD_PEPPER: REQUIRED.PASSWORD_PEPPER,
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.problems.map((line) => line.split(/[= ]/)[0])).toEqual(['APP_ENV', 'PORT', 'DATABASE_URL']);
    expect(error.message).toContain('invalid configuration (3 problems)');
    for (const line of error.problems) expect(error.message).toContain(line);
  });

  it('never shows a URL password, even when the URL is rejected', () => {
    const error = (() => {
      try {
        loadConfig({
          DATABASE_URL: 'mysql://erp:hunter2-db@db.internal/erp',
          REDIS_URL: 'redis://:p@ss-w0rd@',
        });
      } catch (caught) {
        return caught as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    const text = `${error.message}\n${error.problems.join('\n')}`;
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('ss-w0rd');
    expect(text).not.toContain('p@ss');
    expect(error.problems[0]).toContain('DATABASE_URL="mysql://erp:[redacted]@db.internal/erp" is invalid');
    expect(error.problems[1]).toContain('REDIS_URL="redis://:[redacted]@" is invalid');
  });
});

describe('redactValue', () => {
  it.each(['SESSION_SECRET', 'DB_PASSWORD', 'PASSWORD_PEPPER', 'GITHUB_TOKEN', 'API_KEY', 'signing_key'])(
    'hides the whole value of %s',
    (name) => {
      expect(redactValue(name, 'correct-horse-battery')).toBe('[redacted]');
    },
  );

  it('keeps the user, host and path of a URL but not its password', () => {
    expect(redactValue('DATABASE_URL', 'postgresql://app:s3cr%40t@10.0.0.5:5432/erp?sslmode=require')).toBe(
      'postgresql://app:[redacted]@10.0.0.5:5432/erp?sslmode=require',
    );
  });

  it('leaves ordinary values as they are and cuts long ones', () => {
    expect(redactValue('PORT', '8080')).toBe('8080');
    expect(redactValue('HOST', 'x'.repeat(500))).toHaveLength(201);
  });
});

describe('configVariables', () => {
  it('lists every variable once, in schema order', () => {
    expect(configVariables.map((variable) => variable.name)).toEqual([
      'NODE_ENV',
      'APP_ENV',
      'HOST',
      'PORT',
      'DATABASE_URL',
      'REDIS_URL',
      'LOG_LEVEL',
      'SHUTDOWN_DRAIN_MS',
      'SHUTDOWN_TIMEOUT_MS',
      'KEEP_ALIVE_TIMEOUT_MS',
      'HEALTH_CHECK_TIMEOUT_MS',
      'SLOW_QUERY_MS',
      'CORS_ORIGINS',
      'JSON_BODY_LIMIT',
      'RATE_LIMIT_PER_MINUTE',
      'TRUST_PROXY',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_TRACES_SAMPLER_ARG',
      'CONFIG_FILE',
      'JWT_SECRETS',
      'JWT_SECRET',
      'JWT_ISSUER',
      'JWT_AUDIENCE',
      'PASSWORD_PEPPER',
      'SMTP_URL',
      'MAIL_FROM',
      'JOB_ATTEMPTS',
      'JOB_BACKOFF_MS',
      'JOB_TIMEOUT_MS',
      'JOB_STALLED_INTERVAL_MS',
      'JOB_CONCURRENCY',
      'JOB_DEAD_LETTER_RETENTION_DAYS',
      'JOB_QUEUE_LIMIT',
      'EMAIL_OUTBOX_POLL_MS',
      'BACKUP_BUCKET',
      'BACKUP_PREFIX',
      'BACKUP_S3_ENDPOINT',
      'BACKUP_S3_FORCE_PATH_STYLE',
      'BACKUP_KMS_KEY_ID',
      'BACKUP_RETENTION_DAYS',
    ]);
  });

  it('marks the connection URLs, token secrets and pepper as secrets; JWT_SECRETS or JWT_SECRET is checked apart', () => {
    // SMTP_URL may carry the relay's password, like the database and Redis URLs.
    const required = configVariables.filter((variable) => variable.required).map((variable) => variable.name);
    const secret = configVariables.filter((variable) => variable.secret).map((variable) => variable.name);
    expect(required).toEqual(['DATABASE_URL', 'REDIS_URL', 'PASSWORD_PEPPER']);
    expect(secret).toEqual(['DATABASE_URL', 'REDIS_URL', 'JWT_SECRETS', 'JWT_SECRET', 'PASSWORD_PEPPER', 'SMTP_URL']);
  });

  it('is plain data: it survives a JSON round trip unchanged', () => {
    expect(JSON.parse(JSON.stringify(configVariables))).toEqual(configVariables);
    const drain = configVariables.find((variable) => variable.name === 'SHUTDOWN_DRAIN_MS');
    expect(drain?.default).toEqual({ dev: '0', staging: '5000', prod: '5000' });
    for (const variable of configVariables) expect(variable.description.length).toBeGreaterThan(10);
  });
});

describe('loadDatabaseUrl', () => {
  it('returns DATABASE_URL alone, without needing REDIS_URL', () => {
    expect(loadDatabaseUrl({ DATABASE_URL: REQUIRED.DATABASE_URL })).toBe(REQUIRED.DATABASE_URL);
  });

  it.each([
    [{}, /^DATABASE_URL is not set but is required: /],
    [{ DATABASE_URL: '' }, /^DATABASE_URL is not set but is required: /],
    [{ DATABASE_URL: 'mysql://erp:hunter2@db/erp' }, /^DATABASE_URL="mysql:\/\/erp:\[redacted\]@db\/erp" is invalid: /],
  ])('gives the same problem line as loadConfig for %j', (env, line) => {
    let caught: unknown;
    try {
      loadDatabaseUrl(env);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(line);
    expect(problems[0]).not.toContain('hunter2');
  });
});
