import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, test } from 'vitest';

import { missingPrerequisites } from '../src/preview.js';

const script = fileURLToPath(new URL('../src/preview.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

/** Runs the preview script as `npm run preview` would, with nothing but node on PATH and an empty HOME. */
function preview(...args: string[]) {
  const home = mkdtempSync(join(tmpdir(), 'slipway-preview-'));
  const result = spawnSync(tsx, [script, ...args], {
    encoding: 'utf8',
    env: { PATH: dirname(process.execPath), HOME: home },
  });
  return { status: result.status, stderr: result.stderr };
}

describe('npm run preview -- <stack>', () => {
  test('without the CLI, a backend or AWS credentials, says what is missing and how to get each', () => {
    const { status, stderr } = preview('staging');
    expect(status).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      'preview staging: cannot run pulumi preview; missing:',
      expect.stringMatching(/^ {2}- pulumi CLI: not found on PATH\. Install it: curl -fsSL https:\/\/get\.pulumi\.com/),
      expect.stringMatching(/^ {2}- Pulumi state backend: not logged in\. Set PULUMI_ACCESS_TOKEN .* pulumi login s3:/),
      expect.stringMatching(/^ {2}- AWS credentials: none found .* aws configure sso/),
    ]);
  });

  test('refuses an unknown stack by name', () => {
    const { status, stderr } = preview('production');
    expect(status).toBe(2);
    expect(stderr).toContain('unknown stack "production": use one of dev, staging, prod');
  });

  test('counts a logged-in backend, an AWS profile and a pulumi on PATH as present', () => {
    const home = mkdtempSync(join(tmpdir(), 'slipway-preview-home-'));
    mkdirSync(join(home, '.pulumi'));
    writeFileSync(join(home, '.pulumi', 'credentials.json'), JSON.stringify({ current: 'https://api.pulumi.com' }));
    const bin = mkdtempSync(join(tmpdir(), 'slipway-preview-bin-'));
    writeFileSync(join(bin, 'pulumi'), '#!/bin/sh\n', { mode: 0o755 });
    expect(missingPrerequisites({ env: { PATH: bin, AWS_PROFILE: 'slipway-prod' }, home })).toEqual([]);
  });
});
