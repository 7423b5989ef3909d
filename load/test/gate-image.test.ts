import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';

import { afterAll, describe, expect, test } from 'vitest';

import { repoRoot } from '../../pipelines/src/platform/paths.js';
import { pinnedTools, toolPath } from '../../pipelines/src/platform/tools.js';
import { GATE_IMAGE_SCENARIO_DIR, GATE_SCENARIO } from '../../pipelines/src/release/plan.js';

const SCENARIOS = 'load/src/scenarios';
const dockerfile = readFileSync(join(repoRoot, 'load', 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(join(repoRoot, 'load', 'Dockerfile.dockerignore'), 'utf8');
const instructions = dockerfile
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.startsWith('#'))
  .map((line) => {
    const [keyword = '', ...args] = line.trim().split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: args.join(' ') };
  });
const scratch = mkdtempSync(join(tmpdir(), 'slipway-gate-image-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the canary gate image (load/Dockerfile)', () => {
  test('is the pinned k6, so the gate runs the k6 the tests run', () => {
    const k6 = pinnedTools().find((tool) => tool.name === 'k6');
    const arg = instructions.find((i) => i.keyword === 'ARG' && i.args.startsWith('K6_IMAGE='));
    expect(arg?.args).toBe(`K6_IMAGE=grafana/k6:${k6?.version.replace(/^v/, '') ?? '?'}`);
    expect(instructions.find((i) => i.keyword === 'FROM')?.args).toBe('${K6_IMAGE}');
  });

  test('holds the scenarios where the release plan looks for the gate, and runs k6 as a non-root user', () => {
    expect(instructions.find((i) => i.keyword === 'COPY')?.args).toBe(`${SCENARIOS}/ ${GATE_IMAGE_SCENARIO_DIR}/`);
    expect(GATE_SCENARIO.repositoryPath.startsWith(`${SCENARIOS}/`)).toBe(true);
    const inImage = posix.join(GATE_IMAGE_SCENARIO_DIR, relative(SCENARIOS, GATE_SCENARIO.repositoryPath));
    expect(GATE_SCENARIO.script).toBe(inImage);
    expect(instructions.find((i) => i.keyword === 'ENTRYPOINT')?.args).toBe('["k6"]');
    expect(instructions.find((i) => i.keyword === 'USER')?.args).toBe('12345');
    // the build context lets exactly the scenarios in
    const patterns = dockerignore.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(patterns).toEqual(['*', `!${SCENARIOS}/**`]);
  });

  test('the gate script loads from a copy of the scenarios folder alone, as in the image', () => {
    // the image's layout: the folder copied elsewhere; k6 inspect parses the script and its options without running it
    const dir = join(scratch, 'scenarios');
    cpSync(join(repoRoot, SCENARIOS), dir, { recursive: true });
    const script = join(dir, relative(SCENARIOS, GATE_SCENARIO.repositoryPath));
    const result = spawnSync(toolPath('k6'), ['inspect', script], {
      env: { PATH: process.env.PATH ?? '', [GATE_SCENARIO.targetUrlVariable]: 'http://canary.invalid' },
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const options = JSON.parse(result.stdout) as { scenarios: Record<string, unknown>; thresholds: object };
    expect(Object.keys(options.scenarios)).toEqual([GATE_SCENARIO.name]);
    expect(Object.keys(options.thresholds)).toContain('http_req_failed');
  });
});
