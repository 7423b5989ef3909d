import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import ts from 'typescript';
import { describe, expect, test } from 'vitest';

import { repoRoot } from '../src/platform/paths.js';
import { toolPath } from '../src/platform/tools.js';

function run(command: string, args: readonly string[]): { status: number | null; output: string } {
  const result = spawnSync(command, args, { cwd: repoRoot, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A tsconfig as TypeScript reads it (comments and trailing commas allowed). */
function readTsconfig(path: string): unknown {
  const result: { config?: unknown; error?: ts.Diagnostic } = ts.readConfigFile(path, (file) =>
    readFileSync(file, 'utf8'),
  );
  if (result.error) throw new Error(`${path}: ${ts.flattenDiagnosticMessageText(result.error.messageText, '\n')}`);
  return result.config;
}

function scratch(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `slipway-${prefix}-`));
}

describe('GitHub workflows', () => {
  test('pass actionlint (with shellcheck on their run: steps)', () => {
    const { status, output } = run(toolPath('actionlint'), []);
    expect(output).toBe('');
    expect(status).toBe(0);
  });

  test('actionlint catches a broken workflow', () => {
    const dir = scratch('actionlint');
    mkdirSync(join(dir, '.github', 'workflows'), { recursive: true });
    const workflow = join(dir, '.github', 'workflows', 'broken.yml');
    writeFileSync(
      workflow,
      'on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n',
    );
    const { status, output } = run(toolPath('actionlint'), [workflow]);
    expect(status).toBe(1);
    expect(output).toContain('nope');
  });

  // SHA pinning, permissions per job and zizmor: workflows.test.ts
});

describe('secret scanning', () => {
  const gitleaks = (dir: string) =>
    run(toolPath('gitleaks'), ['dir', dir, '--no-banner', '--redact', '--config', join(repoRoot, '.gitleaks.toml')]);

  test('the repository holds no secrets', () => {
    const { status, output } = gitleaks(repoRoot);
    expect(output).toContain('no leaks found');
    expect(status).toBe(0);
  });

  test('gitleaks with our config catches a committed token', () => {
    const dir = scratch('gitleaks');
    // assembled at run time so this file itself holds no token
    const token = ['ghp', 'Zq7R2mXk9Lp4Tn8Wc3Vb6Hy1Jd5Fg0Se2Au7'].join('_');
    writeFileSync(join(dir, 'settings.env'), `GITHUB_TOKEN=${token}\n`);
    const { status, output } = gitleaks(dir);
    expect(output).toContain('leaks found: 1');
    expect(status).toBe(1);
  });
});

describe('code quality gates', () => {
  // The same commands a contributor runs; here so that `npm test` passes only when they do.
  test('npm run typecheck is clean', () => {
    const { status, output } = run('npm', ['run', '--silent', 'typecheck']);
    expect(output).not.toMatch(/error TS\d+/);
    expect(status).toBe(0);
  }, 600_000);

  test('npm run lint is clean (eslint, shellcheck, prettier)', () => {
    const { status, output } = run('npm', ['run', '--silent', 'lint']);
    expect(output).not.toMatch(/\d+ problems?|warning|\[warn\]/);
    expect(status).toBe(0);
  }, 600_000);
});

describe('workspaces', () => {
  const workspaces = ['app', 'infra', 'monitoring', 'policies', 'pipelines', 'load'];

  test.each(workspaces)('%s has a package.json, tsconfig.json extending the strict base, and a README', (name) => {
    const dir = join(repoRoot, name);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name: string;
      scripts: Record<string, string>;
    };
    expect(pkg.name).toBe(`@slipway/${name}`);
    expect(pkg.scripts.test).toContain(`--project ${name}`);
    const tsconfig = readTsconfig(join(dir, 'tsconfig.json')) as { extends: string };
    expect(tsconfig.extends).toBe('../tsconfig.base.json');
    expect(existsSync(join(dir, 'README.md'))).toBe(true);
  });

  test.each(workspaces)('%s is type-checked as soon as it has TypeScript', (name) => {
    const dir = join(repoRoot, name);
    const hasTypeScript = ['src', 'test'].some((sub) =>
      existsSync(join(dir, sub))
        ? readdirSync(join(dir, sub), { recursive: true }).some((f) => String(f).endsWith('.ts'))
        : false,
    );
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    if (hasTypeScript) expect(pkg.scripts.typecheck).toBe('tsc --noEmit -p tsconfig.json');
  });

  test('the strict base keeps strict, noUncheckedIndexedAccess and noImplicitOverride on', () => {
    const base = readTsconfig(join(repoRoot, 'tsconfig.base.json')) as {
      compilerOptions: Record<string, unknown>;
    };
    expect(base.compilerOptions).toMatchObject({
      strict: true,
      noUncheckedIndexedAccess: true,
      noImplicitOverride: true,
    });
  });
});
