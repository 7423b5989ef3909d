import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, test } from 'vitest';

import { repoRoot } from '../src/platform/paths.js';
import { CONTRIBUTING, readBoundaries, slipwayPlugin } from '../src/lint/workspace-boundaries.js';

const linter = new Linter({ configType: 'flat' });
const config = [
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { slipway: slipwayPlugin },
    rules: { 'slipway/workspace-boundaries': 'error' as const },
  },
];

/** The rule's messages for one import written in the file at `path` (relative to the repository). */
function lint(path: string, specifier: string): string[] {
  return linter
    .verify(`import { x } from '${specifier}';\nexport const y = x;\n`, config, { filename: join(repoRoot, path) })
    .map((message) => message.message);
}

describe('slipway/workspace-boundaries', () => {
  test('reads the direction from CONTRIBUTING.md, one row per workspace', () => {
    const boundaries = readBoundaries(readFileSync(CONTRIBUTING, 'utf8'));
    expect(Object.keys(boundaries).sort()).toEqual(['app', 'infra', 'load', 'monitoring', 'pipelines', 'policies']);
    expect(boundaries.app?.imports).toEqual([]);
    expect(boundaries.infra?.imports).toContain('pipelines');
  });

  test('a cross-workspace relative import against the direction fails', () => {
    expect(lint('monitoring/src/probe.ts', '../../infra/src/config.js')).toEqual([
      expect.stringMatching(/^monitoring may not import infra \(\.\.\/\.\.\/infra\/src\/config\.js\) at run time/),
    ]);
    expect(lint('pipelines/src/release/probe.ts', '../../../load/src/cli.js')[0]).toMatch(/may not import load/);
    expect(lint('app/src/probe.ts', '@slipway/monitoring')[0]).toMatch(/app may not import monitoring/);
  });

  test('runtime code never imports a test harness', () => {
    expect(lint('load/src/bench/probe.ts', '../../../pipelines/src/testing/app-under-test.js')[0]).toMatch(
      /runtime code of load imports the test harness/,
    );
    expect(lint('infra/src/probe.ts', '../../app/test/support/database.js')[0]).toMatch(/test harness/);
  });

  test('only what a workspace publishes', () => {
    expect(lint('infra/src/probe.ts', '../../app/src/db/pool.js')[0]).toMatch(
      /app\/src\/db\/pool\.js is not published by app; import only app\/src\/config\.ts/,
    );
    expect(lint('infra/src/probe.ts', '../../app/src/config.js')).toEqual([]);
  });

  test('the agreed direction, imports within a workspace and tests pass', () => {
    expect(lint('infra/src/components/probe.ts', '../../../monitoring/src/slo.js')).toEqual([]);
    expect(lint('load/src/bench/probe.ts', '../../../pipelines/src/platform/app-admin.js')).toEqual([]);
    expect(lint('infra/src/components/probe.ts', '../config.js')).toEqual([]);
    expect(lint('monitoring/test/probe.test.ts', '../../infra/src/config.js')).toEqual([]);
  });

  test('a table without its heading is refused with what to do', () => {
    expect(() => readBoundaries('# Contributing\n')).toThrow(/no "### Workspace boundaries" section/);
  });
});
