import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { APP_ENVS, configVariables } from './config.js';
import type { ConfigVariable } from './config.js';
import { isEntryPoint } from './bin/entry-point.js';

/** app/generated/CONFIGURATION.md, committed; a test checks it against the rows of config.ts. */
export const CONFIG_DOCS_PATH = fileURLToPath(new URL('../generated/CONFIGURATION.md', import.meta.url));

export const REGENERATE_CONFIG_DOCS = 'npm run docs:config -w app';

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function defaultCell(variable: ConfigVariable): string {
  const value = variable.default;
  if (value === undefined) return '**required**';
  if (typeof value === 'string') return value === '' ? '(empty)' : `\`${value}\``;
  return APP_ENVS.map((env) => `${env}: \`${value[env]}\``).join(', ');
}

/** The variables table, one line per row of config.ts. */
export function configDocs(): string {
  const lines = [
    '# erp-api configuration',
    '',
    `Generated from the rows of \`app/src/config.ts\` by \`${REGENERATE_CONFIG_DOCS}\`: do not edit by hand.`,
    'An empty variable counts as unset. Secret variables come from the pod’s Secret and are never printed;',
    'a variable without a default must reach the pod, or the process exits at startup naming it.',
    '',
    '| Variable | Default | Secret | Reloads on SIGHUP | What it does | Valid values | When it is wrong |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...configVariables.map((variable) =>
      [
        `\`${variable.name}\``,
        defaultCell(variable),
        variable.secret ? 'yes' : 'no',
        variable.reloadable ? 'yes' : 'no',
        cell(variable.description),
        cell(variable.rule),
        cell(variable.fix),
      ]
        .join(' | ')
        .replace(/^/, '| ')
        .concat(' |'),
    ),
    '',
  ];
  return lines.join('\n');
}

if (isEntryPoint(import.meta.url)) {
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- a fixed path inside the repository
  mkdirSync(dirname(CONFIG_DOCS_PATH), { recursive: true });
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- a fixed path inside the repository
  writeFileSync(CONFIG_DOCS_PATH, configDocs());
  process.stdout.write(`wrote ${CONFIG_DOCS_PATH} (${configVariables.length} variables)\n`);
}
