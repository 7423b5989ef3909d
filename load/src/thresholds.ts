import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { K6_THRESHOLDS } from '../../monitoring/src/slo.js';

/**
 * The SLO thresholds as JSON beside the scenarios. k6 cannot load monitoring/src/slo.ts itself (it imports
 * `./config.js`, which only Node's TypeScript resolution maps to config.ts), so the scenarios read this file.
 */
export const THRESHOLDS_JSON = fileURLToPath(new URL('./scenarios/thresholds.json', import.meta.url));

/** The file's exact text: K6_THRESHOLDS, one metric a line, laid out as prettier lays it out. */
export function thresholdsJson(): string {
  const lines = Object.entries(K6_THRESHOLDS).map(
    ([metric, rules]) => `  ${JSON.stringify(metric)}: [${rules.map((rule) => JSON.stringify(rule)).join(', ')}]`,
  );
  return `{\n${lines.join(',\n')}\n}\n`;
}

/** Whether the committed file equals what monitoring defines now. */
export function thresholdsUpToDate(path = THRESHOLDS_JSON): boolean {
  try {
    return readFileSync(path, 'utf8') === thresholdsJson();
  } catch {
    return false;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(THRESHOLDS_JSON, thresholdsJson());
  process.stdout.write(`wrote ${THRESHOLDS_JSON}\n`);
}
