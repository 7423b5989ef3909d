import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, test } from 'vitest';

import { repoRoot } from '../src/platform/paths.js';
import { CONTRIBUTING, exportedFile, readBoundaries, slipwayPlugin } from '../src/lint/workspace-boundaries.js';

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

  test('a relative import into another workspace fails everywhere, tests included, naming the package specifier', () => {
    expect(lint('infra/src/probe.ts', '../../monitoring/src/slo.js')).toEqual([
      '../../monitoring/src/slo.js reaches into monitoring by a relative path; import it by package name through the ' +
        'exports of monitoring/package.json (@slipway/monitoring/slo)',
    ]);
    expect(lint('monitoring/test/probe.test.ts', '../../app/test/support/database.js')[0]).toMatch(
      /reaches into app by a relative path.*\(@slipway\/app\/testing\/database\)/,
    );
    expect(lint('pipelines/src/testing/probe.ts', '../../../app/src/db/pool.js')[0]).toMatch(
      /reaches into app by a relative path/,
    );
  });

  test('an import against the direction fails', () => {
    expect(lint('monitoring/src/probe.ts', '@slipway/pipelines/release/plan')).toEqual([
      expect.stringMatching(/^monitoring may not import pipelines \(@slipway\/pipelines\/release\/plan\) at run time/),
    ]);
    expect(lint('pipelines/src/release/probe.ts', '@slipway/load/gate')[0]).toMatch(/may not import load/);
    expect(lint('app/src/probe.ts', '@slipway/monitoring/slo')[0]).toMatch(/app may not import monitoring/);
  });

  test('runtime code never imports a test harness', () => {
    expect(lint('load/src/bench/probe.ts', '@slipway/pipelines/testing/app-under-test')[0]).toMatch(
      /runtime code of load imports the test harness/,
    );
    expect(lint('infra/src/probe.ts', '@slipway/app/testing/database')[0]).toMatch(/test harness/);
  });

  test('only what a workspace publishes, and only what its package.json exports', () => {
    expect(lint('infra/src/probe.ts', '@slipway/app/db/pool')[0]).toMatch(
      /@slipway\/app\/db\/pool is not published by app; import only app\/src\/config\.ts/,
    );
    expect(lint('infra/src/probe.ts', '@slipway/app/config')).toEqual([]);
    expect(lint('infra/test/probe.test.ts', '@slipway/app/components/auth/service')[0]).toMatch(
      /is not exported by app\/package\.json/,
    );
    expect(exportedFile('monitoring', './slo')).toBe('monitoring/src/slo.ts');
    expect(exportedFile('app', './testing/database')).toBe('app/test/support/database.ts');
    expect(exportedFile('app', './components/auth/service')).toBeUndefined();
  });

  test('the agreed direction, imports within a workspace and tests pass', () => {
    expect(lint('infra/src/components/probe.ts', '@slipway/monitoring/slo')).toEqual([]);
    expect(lint('load/src/bench/probe.ts', '@slipway/pipelines/platform/app-admin')).toEqual([]);
    expect(lint('infra/src/components/probe.ts', '../config.js')).toEqual([]);
    expect(lint('monitoring/test/probe.test.ts', '@slipway/infra/components/backups')).toEqual([]);
    expect(lint('load/test/probe.test.ts', '@slipway/pipelines/testing/app-under-test')).toEqual([]);
  });

  test('a table without its heading is refused with what to do', () => {
    expect(() => readBoundaries('# Contributing\n')).toThrow(/no "### Workspace boundaries" section/);
  });
});
