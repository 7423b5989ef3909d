import { readFileSync } from 'node:fs';

import { describe, expect, test } from 'vitest';

import { configVariables } from '../src/config.js';
import { CONFIG_DOCS_PATH, configDocs, REGENERATE_CONFIG_DOCS } from '../src/config-docs.js';

describe('app/generated/CONFIGURATION.md matches the rows of config.ts', () => {
  test('the committed file is what the rows generate', () => {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the committed docs file, a fixed path
    const committed = readFileSync(CONFIG_DOCS_PATH, 'utf8');
    expect(
      committed === configDocs(),
      `app/generated/CONFIGURATION.md differs from app/src/config.ts: run ${REGENERATE_CONFIG_DOCS} and commit the result`,
    ).toBe(true);
  });

  test('has one table line per variable, naming it, and marks the reloadable ones', () => {
    const rows = configDocs()
      .split('\n')
      .filter((line) => line.startsWith('| `'));
    expect(rows.map((line) => /^\| `(\w+)`/.exec(line)?.[1])).toEqual(configVariables.map(({ name }) => name));
    const reloadable = rows.filter((line) => line.split(' | ')[3] === 'yes').map((line) => /`(\w+)`/.exec(line)?.[1]);
    expect(reloadable).toEqual(['LOG_LEVEL', 'RATE_LIMIT_PER_MINUTE']);
  });
});
