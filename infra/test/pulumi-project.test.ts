import { readFileSync } from 'node:fs';

import { describe, expect, test } from 'vitest';

import { CONFIG_KEYS } from '../src/config.js';
import { PULUMI_YAML, renderPulumiYaml } from './support/pulumi-project.js';

describe("Pulumi.yaml's config block", () => {
  const committed = readFileSync(PULUMI_YAML, 'utf8');

  test('is what CONFIG_KEYS generates (npm run render-pulumi-config -w infra rewrites it)', () => {
    expect(renderPulumiYaml(committed)).toBe(committed);
  });

  test('follows a renamed key, and keeps what precedes the block', () => {
    const { owner, ...rest } = CONFIG_KEYS;
    const renamed = renderPulumiYaml(committed, { teamOwner: owner, ...rest });
    expect(renamed).not.toBe(committed);
    expect(renamed).toContain('\n  teamOwner:\n    type: string\n');
    expect(renamed.slice(0, committed.search(/^config:/m))).toBe(committed.slice(0, committed.search(/^config:/m)));
  });

  test('refuses a file without a config block, saying what to do', () => {
    expect(() => renderPulumiYaml('name: slipway\n')).toThrow(/no top-level config: block/);
  });
});
