import { describe, expect, test } from 'vitest';

import { CONFIG_KEYS, ENVIRONMENTS, loadStackConfig, StackConfigError } from '../src/config.js';
import { isYamlMap, PROJECT, readRepoYaml, readStackFile, TEST_SECRETS } from './support/stack.js';

function load(stack: string, values: Record<string, string>) {
  return loadStackConfig(stack, PROJECT, (key) => values[key]);
}

function problemsOf(stack: string, values: Record<string, string>): readonly string[] {
  try {
    load(stack, values);
  } catch (error) {
    if (error instanceof StackConfigError) return error.problems;
    throw error;
  }
  return [];
}

const projectFile = readRepoYaml('Pulumi.yaml');
const schema = isYamlMap(projectFile) && isYamlMap(projectFile.config) ? projectFile.config : {};

describe('Pulumi.yaml', () => {
  test('keeps the project name, runtime and program folder', () => {
    expect(isYamlMap(projectFile) && [projectFile.name, projectFile.main]).toEqual(['slipway', 'infra/']);
  });

  test('declares exactly the keys config.ts validates', () => {
    expect(Object.keys(schema).sort()).toEqual(Object.keys(CONFIG_KEYS).sort());
  });

  test.each(Object.entries(CONFIG_KEYS))('%s has the same type, description and default as config.ts', (name, key) => {
    const declared = schema[name];
    if (!isYamlMap(declared)) throw new Error(`Pulumi.yaml does not declare ${name}`);
    expect(declared.type).toBe(key.type);
    expect(declared.description).toBe(key.description);
    if ('secret' in key) {
      expect(declared.secret).toBe(true);
      // Pulumi refuses a default on a secret key (pulumi/pulumi#21865): it must be set per stack.
      expect(declared.default).toBeUndefined();
    } else expect(declared.default).toEqual(key.default);
  });
});

describe.each(ENVIRONMENTS)('Pulumi.%s.yaml', (stack) => {
  const values = readStackFile(stack);

  test('holds only keys of the schema (and aws:region)', () => {
    const unknown = Object.keys(values).filter(
      (key) => key !== 'aws:region' && !(key.startsWith(`${PROJECT}:`) && key.slice(PROJECT.length + 1) in CONFIG_KEYS),
    );
    expect(unknown).toEqual([]);
  });

  test('holds no secret in plain text', () => {
    const secretKeys = Object.entries(CONFIG_KEYS)
      .filter(([, key]) => 'secret' in key)
      .map(([name]) => `${PROJECT}:${name}`);
    expect(Object.keys(values).filter((key) => secretKeys.includes(key))).toEqual([]);
  });

  test('is valid config once its secrets are set', () => {
    expect(problemsOf(stack, { ...values, ...TEST_SECRETS })).toEqual([]);
  });

  test('without its secrets, says which command sets them', () => {
    expect(problemsOf(stack, values)).toEqual([
      expect.stringContaining(`run: pulumi config set --secret ${PROJECT}:alertSlackWebhookUrl <value> -s ${stack}`),
      expect.stringContaining(
        `run: pulumi config set --secret ${PROJECT}:alertPagerDutyRoutingKey <value> -s ${stack}`,
      ),
      expect.stringContaining(`run: pulumi config set --secret ${PROJECT}:alertHeartbeatUrl <value> -s ${stack}`),
    ]);
  });
});

describe('config validation', () => {
  test.each(Object.entries(CONFIG_KEYS).filter(([, key]) => 'default' in key))(
    'the default of %s passes its own schema',
    (_name, key) => {
      expect(key.schema.safeParse('default' in key ? key.default : undefined).success).toBe(true);
    },
  );

  const prod = { ...readStackFile('prod'), ...TEST_SECRETS };

  test('names the key, the value, the rule and the fix', () => {
    expect(problemsOf('prod', { ...prod, 'slipway:imageDigest': 'sha256:abc' })).toEqual([
      'slipway:imageDigest="sha256:abc" is invalid: must be sha256: followed by 64 lowercase hex digits; ' +
        'set slipway:imageDigest in Pulumi.prod.yaml (or: pulumi config set slipway:imageDigest <value> -s prod)',
    ]);
  });

  test('reports every problem at once', () => {
    const problems = problemsOf('prod', {
      ...prod,
      'slipway:dbBackupRetentionDays': '40',
      'slipway:natGatewayPerAz': 'yes',
      'slipway:clusterPublicAccessCidrs': '["0.0.0.0/0"]',
      'slipway:appMinReplicas': '30',
    });
    expect(problems.map((line) => line.split('=')[0])).toEqual([
      'slipway:natGatewayPerAz',
      'slipway:clusterPublicAccessCidrs',
      'slipway:dbBackupRetentionDays',
      'slipway:appMinReplicas',
    ]);
    expect(problems.join('\n')).toContain('must not be 0.0.0.0/0');
    expect(problems.join('\n')).toContain('whole number of days from 1 to 35');
  });

  test('refuses the documentation range and every other reserved range for the API allow-list', () => {
    expect(problemsOf('prod', { ...prod, 'slipway:clusterPublicAccessCidrs': '["203.0.113.0/24"]' })).toEqual([
      'slipway:clusterPublicAccessCidrs=["203.0.113.0/24"] is invalid: 203.0.113.0/24 overlaps 203.0.113.0/24, ' +
        'documentation TEST-NET-3 (RFC 5737), which no client connects from: list the public ranges of your office ' +
        'and CI; set slipway:clusterPublicAccessCidrs in Pulumi.prod.yaml ' +
        '(or: pulumi config set slipway:clusterPublicAccessCidrs <value> -s prod)',
    ]);
    for (const reserved of ['10.1.0.0/16', '192.168.1.0/24', '100.64.0.0/10', '198.51.100.7/32', '172.0.0.0/8'])
      expect(
        problemsOf('prod', { ...prod, 'slipway:clusterPublicAccessCidrs': JSON.stringify([reserved]) }),
        reserved,
      ).toEqual([expect.stringContaining(`${reserved} overlaps`)]);
    expect(problemsOf('prod', { ...prod, 'slipway:clusterPublicAccessCidrs': '["81.2.69.0/24"]' })).toEqual([]);
  });

  test('never shows a secret value', () => {
    const problems = problemsOf('prod', { ...prod, 'slipway:alertSlackWebhookUrl': 'http://leaky-value' });
    expect(problems).toEqual([expect.stringContaining('slipway:alertSlackWebhookUrl=[secret] is invalid')]);
    expect(problems.join()).not.toContain('leaky-value');
  });

  test('refuses a PagerDuty routing key that is not 32 letters and digits, without showing it', () => {
    const problems = problemsOf('prod', { ...prod, 'slipway:alertPagerDutyRoutingKey': 'leaky-short-key' });
    expect(problems).toEqual([
      'slipway:alertPagerDutyRoutingKey=[secret] is invalid: must be the 32-character PagerDuty Events API v2 ' +
        'integration key; run: pulumi config set --secret slipway:alertPagerDutyRoutingKey <value> -s prod',
    ]);
    expect(problems.join()).not.toContain('leaky-short-key');
  });

  test('refuses a stack name that is not an environment, and a missing region', () => {
    const noRegion = Object.fromEntries(Object.entries(prod).filter(([key]) => key !== 'aws:region'));
    expect(problemsOf('qa', noRegion)).toEqual([
      'stack name "qa" is not one of dev, staging, prod: the stack name is the environment',
      expect.stringContaining('aws:region=null is invalid'),
    ]);
  });
});
