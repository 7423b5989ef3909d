import { describe, expect, test } from 'vitest';

import { CONFIG_KEYS, ENVIRONMENTS, loadStackConfig, PLACEHOLDER_DIGEST, StackConfigError } from '../src/config.js';
import { isYamlMap, PROJECT, readRepoYaml, readStackFile, TEST_SECRETS } from './support/stack.js';

function load(stack: string, values: Record<string, string>, environmentFile?: string) {
  return loadStackConfig(
    stack,
    PROJECT,
    (key) => values[key],
    environmentFile === undefined ? undefined : () => environmentFile,
  );
}

function problemsOf(stack: string, values: Record<string, string>, environmentFile?: string): readonly string[] {
  try {
    load(stack, values, environmentFile);
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
      expect.stringContaining(`run: pulumi config set --secret ${PROJECT}:smtpUrl <value> -s ${stack}`),
    ]);
  });
});

describe('the environment file (infra/environments/<stack>.yaml)', () => {
  const prod = { ...readStackFile('prod'), ...TEST_SECRETS };
  const good = `sha256:${'ab'.repeat(32)}`;
  const file = (app: string, gate: string, extra = '') =>
    `environment: prod\nimages:\n  app: ${app}\n  gate: ${gate}\nrelease: null\n${extra}`;
  const fix =
    'change it only through `npm run release -- promote --to <stack> <digest>` or `rollback <stack>`; by hand, ' +
    'restore the file from main (git checkout main -- <file>)';

  test('is the one source of both digests', () => {
    const config = load('prod', prod, file(good, PLACEHOLDER_DIGEST));
    expect([config.imageDigest, config.gateImageDigest, config.release]).toEqual([good, PLACEHOLDER_DIGEST, null]);
    expect(Object.keys(CONFIG_KEYS)).not.toContain('imageDigest');
    expect(Object.keys(CONFIG_KEYS)).not.toContain('gateImageDigest');
  });

  test.each(['dev', 'staging', 'prod'] as const)('the committed %s file is valid and pins both images', (stack) => {
    const config = load(stack, { ...readStackFile(stack), ...TEST_SECRETS });
    expect(config.imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(config.gateImageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  test('a digest that is not sha256: and 64 hex names the file, the field, the value and the fix', () => {
    expect(problemsOf('prod', prod, file('sha256:abc', good.toUpperCase()))).toEqual([
      `infra/environments/prod.yaml: images.app="sha256:abc" is invalid: must be sha256: followed by 64 lowercase hex digits; ${fix}`,
      `infra/environments/prod.yaml: images.gate="${good.toUpperCase()}" is invalid: must be sha256: followed by 64 lowercase hex digits; ${fix}`,
    ]);
  });

  test('a malformed file fails the stack with the same kind of message', () => {
    expect(problemsOf('prod', prod, 'images: [unclosed')).toEqual([
      expect.stringMatching(/^infra\/environments\/prod\.yaml is not YAML: .*; change it only through/),
    ]);
    expect(problemsOf('prod', prod, file(good, good, 'digest: extra\n'))).toEqual([
      `infra/environments/prod.yaml: (top)=digest is invalid: are not fields of an environment file; ${fix}`,
    ]);
    expect(problemsOf('prod', prod, file(good, good).replace('environment: prod', 'environment: staging'))).toEqual([
      `infra/environments/prod.yaml: environment="staging" is invalid: the file of stack prod must say environment: prod; ${fix}`,
    ]);
    expect(problemsOf('prod', prod, 'environment: prod\nimages:\n  app: sha256:1\nrelease: {}\n')).toEqual([
      expect.stringContaining('images.app="sha256:1" is invalid'),
      expect.stringContaining('images.gate=null is invalid: must be sha256: followed by 64 lowercase hex digits'),
      expect.stringContaining('release.kind=null is invalid: must be promotion or rollback'),
      expect.stringContaining('release.record=null is invalid'),
      expect.stringContaining('release.recordEnvironment=null is invalid'),
    ]);
  });

  test('a missing file says how to restore it', () => {
    expect(
      (() => {
        try {
          loadStackConfig(
            'prod',
            PROJECT,
            (key) => prod[key],
            () => undefined,
          );
        } catch (error) {
          if (error instanceof StackConfigError) return error.problems;
        }
        return [];
      })(),
    ).toEqual([
      "infra/environments/prod.yaml is missing: it holds the stack's image digests; restore it from main (git checkout main -- infra/environments/prod.yaml)",
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
    expect(problemsOf('prod', { ...prod, 'slipway:logLevel': 'loud' })).toEqual([
      'slipway:logLevel="loud" is invalid: must be one of fatal, error, warn, info, debug, trace; ' +
        'set slipway:logLevel in Pulumi.prod.yaml (or: pulumi config set slipway:logLevel <value> -s prod)',
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

describe('the job worker’s SMTP relay (slipway:smtpUrl)', () => {
  const prod = { ...readStackFile('prod'), ...TEST_SECRETS };
  const withSmtp = (url: string) => ({ ...prod, [`${PROJECT}:smtpUrl`]: url });

  test('gives the NetworkPolicy its port: the URL’s, else 587 for smtp:// and 465 for smtps://', () => {
    expect(load('prod', withSmtp('smtp://u:p@relay.example:2525')).smtpPort).toBe(2525);
    expect(load('prod', withSmtp('smtp://relay.example')).smtpPort).toBe(587);
    expect(load('prod', withSmtp('smtps://u:p@relay.example')).smtpPort).toBe(465);
  });

  test('refuses another scheme or no host, without printing the URL (it holds the relay password)', () => {
    for (const url of ['https://u:SecretRelayPassword@relay.example', 'smtp://', 'relay.example:587'])
      expect(problemsOf('prod', withSmtp(url))).toEqual([
        `${PROJECT}:smtpUrl=[secret] is invalid: must be an smtp:// or smtps:// URL with a host, such as smtp://user:<password>@email-smtp.eu-west-1.amazonaws.com:587; run: pulumi config set --secret ${PROJECT}:smtpUrl <value> -s prod`,
      ]);
  });
});
