import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import { repoRoot } from '../src/platform/paths.js';
import { pinnedTools, toolPath } from '../src/platform/tools.js';

const bootstrap = join(repoRoot, 'scripts', 'bootstrap');

describe('scripts/bootstrap', () => {
  test('--check finds nothing missing on a machine it has set up', () => {
    const result = spawnSync(bootstrap, ['--check'], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).not.toContain('missing');
    expect(result.status).toBe(0);
    for (const tool of pinnedTools()) expect(result.stdout).toContain(`✓ ${tool.name} ${tool.version}`);
  });

  test('an unknown option is refused with usage exit code 64', () => {
    const result = spawnSync(bootstrap, ['--frobnicate'], { encoding: 'utf8' });
    expect(result.status).toBe(64);
    expect(result.stderr).toContain("unknown option '--frobnicate'");
  });

  test('without root it prints the one sudo apt-get line for what is missing and exits non-zero', () => {
    // A copy of the script in a folder any account can read, and a dpkg-query that says nginx is absent.
    const dir = mkdtempSync(join(tmpdir(), 'slipway-bootstrap-'));
    mkdirSync(join(dir, 'scripts'));
    mkdirSync(join(dir, 'bin'));
    copyFileSync(bootstrap, join(dir, 'scripts', 'bootstrap'));
    copyFileSync(join(repoRoot, 'tools.versions'), join(dir, 'tools.versions'));
    writeFileSync(
      join(dir, 'bin', 'dpkg-query'),
      '#!/bin/sh\nfor last; do :; done\n[ "$last" = nginx ] && { echo "deinstall ok config-files"; exit 0; }\necho "install ok installed"\n',
    );
    for (const path of [dir, join(dir, 'scripts'), join(dir, 'bin')]) chmodSync(path, 0o755);
    chmodSync(join(dir, 'bin', 'dpkg-query'), 0o755);
    chmodSync(join(dir, 'scripts', 'bootstrap'), 0o755);

    const asRoot = process.getuid?.() === 0;
    const nobody = 65534;
    const result = spawnSync(join(dir, 'scripts', 'bootstrap'), [], {
      encoding: 'utf8',
      env: { PATH: `${join(dir, 'bin')}:/usr/local/bin:/usr/bin:/bin`, HOME: dir },
      ...(asRoot ? { uid: nobody, gid: nobody } : {}),
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('missing Debian packages: nginx');
    expect(result.stderr).toContain('sudo apt-get update && sudo apt-get install -y --no-install-recommends nginx');
  });
});

describe('pinned tools', () => {
  test('tools.versions pins vegeta, cosign, actionlint, gitleaks, osv-scanner, alertmanager, amtool, jaeger and gofakes3 exactly', () => {
    expect(pinnedTools().map((t) => t.name)).toEqual([
      'vegeta',
      'cosign',
      'actionlint',
      'gitleaks',
      'osv-scanner',
      'alertmanager',
      'amtool',
      'jaeger',
      'gofakes3',
    ]);
  });

  test.each(pinnedTools().map((t) => [t.name, t] as const))(
    '%s in .tools/bin is built from the pinned version',
    (_, tool) => {
      const info = execFileSync('go', ['version', '-m', toolPath(tool.name)], { encoding: 'utf8' });
      // the module holding the package: the main module after `go install`, a dependency in scripts/go-tools/<name>
      const holder = info
        .split('\n')
        .map((line) => line.trim().split('\t'))
        .find(
          ([kind, path]) => (kind === 'mod' || kind === 'dep') && `${tool.goPackage}/`.startsWith(`${path ?? ''}/`),
        );
      expect(holder?.[2]).toBe(tool.version);
    },
  );

  test('vegeta is built static (CGO_ENABLED=0, -trimpath): the gate image copies the binary onto its base', () => {
    const info = execFileSync('go', ['version', '-m', toolPath('vegeta')], { encoding: 'utf8' });
    expect(info).toMatch(/\bbuild\tCGO_ENABLED=0\n/);
    expect(info).toMatch(/\bbuild\t-trimpath=true\n/);
  });

  test('cosign reports the pinned version itself', () => {
    const versionOf = (name: string): string => pinnedTools().find((t) => t.name === name)?.version ?? 'unpinned';
    const cosign = execFileSync(toolPath('cosign'), ['version'], { encoding: 'utf8' });
    const gitVersion = cosign.split('\n').find((line) => line.startsWith('GitVersion:'));
    expect(gitVersion?.split(/\s+/)[1]).toBe(versionOf('cosign'));
  });

  test("jaeger's build module requires the version tools.versions pins", () => {
    const jaeger = pinnedTools().find((t) => t.name === 'jaeger');
    const goMod = readFileSync(join(repoRoot, 'scripts', 'go-tools', 'jaeger', 'go.mod'), 'utf8');
    expect(goMod).toContain(`tool ${jaeger?.goPackage ?? 'jaeger'}\n`);
    const required = goMod.split('\n').filter((line) => line.startsWith('\tgithub.com/jaegertracing/jaeger '));
    expect(required.map((line) => line.trim().split(' ')[1])).toEqual([jaeger?.version]);
  });

  test('a malformed tools.versions line is reported with its content', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'slipway-tools-')), 'tools.versions');
    writeFileSync(file, 'vegeta github.com/tsenart/vegeta/v12 latest\n');
    expect(() => pinnedTools(file)).toThrow(
      'tools.versions entry 1 is not "name go-package vX.Y.Z": "vegeta github.com/tsenart/vegeta/v12 latest"',
    );
  });
});
