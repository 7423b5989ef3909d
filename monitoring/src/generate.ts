import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { stringify } from 'yaml';

import { ALERTMANAGER_STACKS, alertmanagerConfig, STACKS } from './alertmanager.js';
import { runbookBaseUrl } from './config.js';
import { renderDashboards } from './dashboards/index.js';
import { lokiConfig, lokiRuleGroups } from './loki.js';
import { promtoolTestFile } from './promtool-tests.js';
import { ALERTS, ruleGroups } from './rules.js';

/** monitoring/generated/, committed; infra and the local platform read it. */
export const GENERATED_DIR = fileURLToPath(new URL('../generated/', import.meta.url));

export const REGENERATE_COMMAND = 'npm run generate -w monitoring';

const YAML_HEADER = `# Generated from monitoring/src by ${REGENERATE_COMMAND}: do not edit by hand.\n`;

export interface GenerateOptions {
  readonly runbookBaseUrl: string;
}

function yaml(value: unknown): string {
  // lineWidth 0: long PromQL stays on one line, as people grep for it.
  return YAML_HEADER + stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Every generated file, by path relative to generated/, with its exact content. */
export function generatedFiles(options: GenerateOptions): Map<string, string> {
  const files = new Map<string, string>();
  const groups = { groups: ruleGroups(options.runbookBaseUrl) };
  files.set('rules.yaml', yaml(groups));
  files.set('rules.json', json(groups));
  for (const alert of ALERTS)
    files.set(`tests/${alert.name}.test.yaml`, yaml(promtoolTestFile(alert, options.runbookBaseUrl)));
  for (const [uid, dashboard] of renderDashboards()) files.set(`dashboards/${uid}.json`, json(dashboard));
  for (const stack of STACKS)
    files.set(`alertmanager/${stack}.yaml`, yaml(alertmanagerConfig(ALERTMANAGER_STACKS[stack])));
  files.set('loki/config.yaml', yaml(lokiConfig()));
  files.set('loki/rules.yaml', yaml(lokiRuleGroups(options.runbookBaseUrl)));
  return files;
}

/** Paths of every file under `dir`, relative to it. */
export function listFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch {
    return [];
  }
  return entries
    .filter((entry) => {
      try {
        readFileSync(join(dir, entry));
        return true;
      } catch {
        return false;
      }
    })
    .sort();
}

/** Writes the generated files into `dir` and removes files there that the source no longer generates. */
export function writeGenerated(
  dir: string,
  files: ReadonlyMap<string, string>,
): { written: number; removed: string[] } {
  const removed = listFiles(dir).filter((path) => !files.has(path));
  for (const path of removed) rmSync(join(dir, path));
  for (const [path, content] of files) {
    const target = join(dir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
  return { written: files.size, removed };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = generatedFiles({ runbookBaseUrl: runbookBaseUrl() });
  const { written, removed } = writeGenerated(GENERATED_DIR, files);
  const where = relative(process.cwd(), GENERATED_DIR) || '.';
  process.stdout.write(
    `wrote ${written} files to ${where}${removed.length > 0 ? `, removed ${removed.join(', ')}` : ''}\n`,
  );
}
