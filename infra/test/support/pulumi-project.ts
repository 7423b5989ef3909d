/**
 * Pulumi.yaml's `config:` block, generated from `CONFIG_KEYS` (infra/src/config.ts), the one definition of every key:
 * its type, description, default and whether it is secret. `npm run render-pulumi-config -w infra` rewrites it;
 * `test/pulumi-project.test.ts` fails when the committed file differs.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { stringify } from 'yaml';

import { CONFIG_KEYS, type ConfigKey } from '../../src/config.js';

export const PULUMI_YAML = join(fileURLToPath(new URL('../../../', import.meta.url)), 'Pulumi.yaml');

/** One key as Pulumi's project schema declares it. */
function declaration(name: string, key: ConfigKey<unknown>): Record<string, unknown> {
  const declared: Record<string, unknown> = { type: key.type };
  if (key.type === 'array') {
    // every array key is a list of strings; a list of anything else needs an items type in ConfigKey first
    if (!Array.isArray(key.default) || key.default.some((item) => typeof item !== 'string'))
      throw new Error(`config key ${name}: an array key needs a default list of strings to declare its items`);
    declared.items = { type: 'string' };
  }
  declared.description = key.description;
  // Pulumi refuses a default on a secret key (pulumi/pulumi#21865): it is set per stack
  if (key.secret === true) declared.secret = true;
  else declared.default = key.default;
  return declared;
}

/** The `config:` block for these keys, in their order. */
export function configBlock(keys: Readonly<Record<string, ConfigKey<unknown>>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(keys).map(([name, key]) => [name, declaration(name, key)]));
}

/** `current` (Pulumi.yaml's text) with everything from the top-level `config:` on generated from the keys. */
export function renderPulumiYaml(
  current: string,
  keys: Readonly<Record<string, ConfigKey<unknown>>> = CONFIG_KEYS,
): string {
  const at = current.search(/^config:/m);
  if (at < 0) throw new Error(`${PULUMI_YAML} has no top-level config: block to generate; end the file with one`);
  return current.slice(0, at) + stringify({ config: configBlock(keys) }, { lineWidth: 0, singleQuote: true });
}
