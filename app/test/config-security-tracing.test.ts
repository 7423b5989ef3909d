import { describe, expect, it } from 'vitest';

import { configVariables, loadConfig } from '../src/config.js';
import { expectOneProblemLine, REQUIRED_ENV } from './support/config.js';

const REQUIRED = REQUIRED_ENV;

describe('security, rate-limit and tracing variables', () => {
  it('default to: no CORS, 100kb bodies, 100 requests a minute, no trusted proxy, no tracing, no config file', () => {
    expect(loadConfig({ ...REQUIRED })).toMatchObject({
      corsOrigins: [],
      jsonBodyLimitBytes: 100 * 1024,
      rateLimitPerMinute: 100,
      trustProxy: false,
      otlpEndpoint: undefined,
      traceSampleRatio: 1,
      configFile: undefined,
    });
  });

  it('parses each of them', () => {
    const config = loadConfig({
      ...REQUIRED,
      CORS_ORIGINS: 'https://erp.example.com, http://localhost:5173 ,https://admin.example.com',
      JSON_BODY_LIMIT: '2mb',
      RATE_LIMIT_PER_MINUTE: '600',
      TRUST_PROXY: '2',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability:4318',
      OTEL_TRACES_SAMPLER_ARG: '0.05',
      CONFIG_FILE: '/etc/erp-api/config.env',
    });
    expect(config).toMatchObject({
      corsOrigins: ['https://erp.example.com', 'http://localhost:5173', 'https://admin.example.com'],
      jsonBodyLimitBytes: 2 * 1024 * 1024,
      rateLimitPerMinute: 600,
      trustProxy: 2,
      otlpEndpoint: 'http://otel-collector.observability:4318',
      traceSampleRatio: 0.05,
      configFile: '/etc/erp-api/config.env',
    });
    expect(Object.isFrozen(config.corsOrigins)).toBe(true);
  });

  it.each([
    ['false', false],
    ['1', 1],
    ['10', 10],
    ['loopback', ['loopback']],
    ['10.0.0.0/8, 192.168.1.10', ['10.0.0.0/8', '192.168.1.10']],
    ['fd00::/8,uniquelocal', ['fd00::/8', 'uniquelocal']],
  ])('TRUST_PROXY=%j means %j', (value, expected) => {
    expect(loadConfig({ ...REQUIRED, TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it.each([
    ['1kb', 1024],
    ['100kb', 102_400],
    ['10mb', 10_485_760],
    ['4096b', 4096],
  ])('JSON_BODY_LIMIT=%j is %i bytes', (value, bytes) => {
    expect(loadConfig({ ...REQUIRED, JSON_BODY_LIMIT: value }).jsonBodyLimitBytes).toBe(bytes);
  });

  it.each([
    ['CORS_ORIGINS', '*', 'exact origins'],
    ['CORS_ORIGINS', 'https://erp.example.com/', 'no trailing slash'],
    ['CORS_ORIGINS', 'https://erp.example.com/app', 'no path'],
    ['CORS_ORIGINS', 'erp.example.com', 'exact origins'],
    ['CORS_ORIGINS', 'https://ERP.example.com', 'exact origins'],
    ['CORS_ORIGINS', 'https://erp.example.com:443', 'port only if not the default'],
    ['CORS_ORIGINS', 'ftp://files.example.com', 'http or https'],
    ['JSON_BODY_LIMIT', '100', 'a unit of b, kb or mb'],
    ['JSON_BODY_LIMIT', '100 kb', 'a unit of b, kb or mb'],
    ['JSON_BODY_LIMIT', '1gb', 'a unit of b, kb or mb'],
    ['JSON_BODY_LIMIT', '512b', 'from 1kb to 10mb'],
    ['JSON_BODY_LIMIT', '11mb', 'from 1kb to 10mb'],
    ['RATE_LIMIT_PER_MINUTE', '0', 'from 1 to 1000000'],
    ['RATE_LIMIT_PER_MINUTE', '1000001', 'from 1 to 1000000'],
    ['RATE_LIMIT_PER_MINUTE', '10/s', 'from 1 to 1000000'],
    ['TRUST_PROXY', 'true', 'the number of proxies in front of the app'],
    ['TRUST_PROXY', '0', 'from 1 to 10'],
    ['TRUST_PROXY', '11', 'from 1 to 10'],
    ['TRUST_PROXY', '10.0.0.0/33', 'proxy IPs or subnets'],
    ['TRUST_PROXY', 'lb.internal', 'proxy IPs or subnets'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'otel-collector:4318', 'http:// or https:// URL'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'grpc://otel-collector:4317', 'http:// or https:// URL'],
    ['OTEL_TRACES_SAMPLER_ARG', '1.5', 'a ratio from 0 to 1'],
    ['OTEL_TRACES_SAMPLER_ARG', '10%', 'a ratio from 0 to 1'],
    ['CONFIG_FILE', 'config.env', 'absolute path'],
  ])('%s=%j gives one line naming it, its value, the rule and a fix', (name, value, rule) => {
    expectOneProblemLine(name, value, rule);
  });

  it('documents each new variable as optional, not secret, with a default the schema accepts', () => {
    const names = [
      'CORS_ORIGINS',
      'JSON_BODY_LIMIT',
      'RATE_LIMIT_PER_MINUTE',
      'TRUST_PROXY',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_TRACES_SAMPLER_ARG',
      'CONFIG_FILE',
    ];
    for (const name of names) {
      const variable = configVariables.find((candidate) => candidate.name === name);
      expect(variable, name).toMatchObject({ required: false, secret: false });
      expect(typeof variable?.default).toBe('string');
      expect(variable?.fix.startsWith(`set ${name} `)).toBe(true);
    }
  });
});
