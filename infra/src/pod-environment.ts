import type * as pulumi from '@pulumi/pulumi';

import { configVariables, type ConfigVariableName } from '@slipway/app/config';

/** The server pod's environment, split the way the app's config schema marks each variable. */
export interface PodEnvironment {
  /** Plain variables, for the ConfigMap. */
  readonly config: Readonly<Record<string, string>>;
  /** Variables the app marks secret, for the Secret. */
  readonly secret: Readonly<Record<string, pulumi.Input<string>>>;
}

/** Values infra sets; a name the app does not read fails to compile, and a secret must come as an Input. */
export type PodValues = Partial<Record<ConfigVariableName, pulumi.Input<string>>>;

/**
 * Splits `values` by the app's own config schema (app/src/config.ts): secret variables to the Secret, the rest to
 * the ConfigMap. Throws when a variable the app requires (no default) is left out, or one it does not read is set,
 * naming each one.
 */
export function podEnvironment(values: PodValues): PodEnvironment {
  const known = new Set<string>(configVariables.map((variable) => variable.name));
  const unknown = Object.keys(values).filter((name) => !known.has(name));
  if (unknown.length > 0)
    throw new Error(
      `the erp-api pod environment sets ${unknown.join(', ')}, which the app does not read (app/src/config.ts): rename or remove ${unknown.length === 1 ? 'it' : 'them'}`,
    );
  const missing = configVariables
    .filter((variable) => variable.required && values[variable.name] === undefined)
    .map((variable) => `${variable.name} (${variable.fix})`);
  if (missing.length > 0)
    throw new Error(`the erp-api pod environment lacks variables the app requires: ${missing.join('; ')}`);
  const config: Record<string, string> = {};
  const secret: Record<string, pulumi.Input<string>> = {};
  for (const variable of configVariables) {
    const value = values[variable.name];
    if (value === undefined) continue;
    if (variable.secret) secret[variable.name] = value;
    else if (typeof value === 'string') config[variable.name] = value;
    else throw new Error(`${variable.name} is not secret in the app's schema; give infra a plain string for it`);
  }
  return { config, secret };
}
