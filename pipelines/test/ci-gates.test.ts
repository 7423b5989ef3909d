import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import config from '../../vitest.config.js';
import { repoRoot } from '../src/platform/paths.js';

const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};

describe('CI gates', () => {
  test('.ci/run runs the tests with the coverage thresholds on', () => {
    const lines = readFileSync(join(repoRoot, '.ci', 'run'), 'utf8').split('\n');
    expect(lines).toContain('npm test -- --coverage.enabled');
    expect(lines).not.toContain('npm test');
  });

  test('the thresholds exist, and the coverage provider is pinned to the vitest it runs under', () => {
    const coverage = config.test?.coverage;
    expect(coverage?.provider).toBe('v8');
    expect(Object.keys(coverage?.thresholds ?? {}).length).toBeGreaterThan(0);
    expect(manifest.devDependencies['@vitest/coverage-v8']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(manifest.devDependencies['@vitest/coverage-v8']).toBe(manifest.devDependencies.vitest);
  });
});
