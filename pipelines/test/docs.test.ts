import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

import { describe, expect, test } from 'vitest';

import { repoRoot } from '../src/platform/paths.js';

/**
 * Every relative link and every repository path in backticks in the tracked Markdown files names something that
 * exists. The rules:
 * - a link `[text](target)` that is not a URL (`scheme:`) or an anchor (`#…`) must exist, relative to its page;
 * - a code span counts as a path when it has a `/`, no spaces, and starts with a top-level folder of the repository
 *   or ends in a file extension; it must exist relative to the repository root or to its page (a workspace README
 *   writes `src/config.ts` for its own `src/`);
 * - placeholders are not paths: spans with `<`, `>`, `*`, `{`, `}`, `$`, `…` or `...`;
 * - fenced code blocks are commands and output, not references, and are skipped, as are absolute paths (`/proc/…`),
 *   URLs, and what only exists at run time or after install (`.local/`, `.tools/`, `node_modules/`, `coverage/`,
 *   `load/results/` that `npm run bench` writes).
 */
const TOP_LEVEL = [
  'app',
  'infra',
  'monitoring',
  'policies',
  'pipelines',
  'load',
  'runbooks',
  'scripts',
  '.github',
  '.ci',
];
const EXTENSION = /\.(ts|js|mjs|cjs|json|ya?ml|md|sh|toml|txt|conf|lock|sql|html|png|svg)\/?$/;
const PLACEHOLDER = /[<>*{}$…]|\.\.\./;
const RUNTIME_ONLY = ['.local/', '.tools/', 'node_modules/', 'coverage/', 'load/results/'];

function trackedMarkdown(): string[] {
  const result = spawnSync('git', ['ls-files', '-z', '--', '*.md'], { cwd: repoRoot, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`git ls-files failed: ${result.stderr}`);
  return result.stdout.split('\0').filter((file) => file !== '');
}

/** The page's text without fenced code blocks, line numbers kept. */
function prose(text: string): string[] {
  let fenced = false;
  return text.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line;
  });
}

function looksLikeRepoPath(span: string): boolean {
  if (!span.includes('/') || /\s/.test(span) || PLACEHOLDER.test(span)) return false;
  if (span.startsWith('/') || span.includes('://') || span.startsWith('@')) return false;
  if (RUNTIME_ONLY.some((prefix) => span.startsWith(prefix) || span.includes(`/${prefix}`))) return false;
  const first = span.split('/')[0] ?? '';
  return TOP_LEVEL.includes(first) || EXTENSION.test(span);
}

/** What a page names that does not exist: `file:line: what`. */
function missingReferences(file: string, text: string): string[] {
  const pageDir = dirname(join(repoRoot, file));
  const missing: string[] = [];
  prose(text).forEach((line, index) => {
    const where = `${file}:${String(index + 1)}`;
    for (const [, target = ''] of line.matchAll(/\]\(([^)\s]+)[^)]*\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
      const path = decodeURIComponent(target.split('#')[0] ?? '');
      if (!existsSync(join(pageDir, path))) missing.push(`${where}: link ${target}`);
    }
    for (const [, span = ''] of line.matchAll(/`([^`]+)`/g)) {
      if (!looksLikeRepoPath(span)) continue;
      const path = span.replace(/:\d+$/, '');
      if (!existsSync(join(repoRoot, path)) && !existsSync(join(pageDir, path))) missing.push(`${where}: \`${span}\``);
    }
  });
  return missing;
}

describe('Markdown references', () => {
  const pages = trackedMarkdown();

  test('there are pages to check', () => {
    expect(pages.length).toBeGreaterThan(20);
  });

  test('every relative link and every repository path in backticks exists', () => {
    const missing = pages.flatMap((file) => missingReferences(file, readFileSync(join(repoRoot, file), 'utf8')));
    expect(missing).toEqual([]);
  });

  test('the check catches a broken link and a stale path, and lets placeholders and code blocks be', () => {
    const page = relative(repoRoot, join(repoRoot, 'pipelines', 'README.md'));
    const text = [
      'See [the plan](src/release/plan.ts), [nothing](src/release/nope.ts) and [docs](https://example.com/x).',
      'Paths: `src/release/cli.ts`, `pipelines/src/release/scan/`, `infra/environments/<stack>.yaml`, `.local/x/y`.',
      '```sh',
      'cat pipelines/src/gone.ts',
      '```',
    ].join('\n');
    expect(missingReferences(page, text)).toEqual([
      'pipelines/README.md:1: link src/release/nope.ts',
      'pipelines/README.md:2: `pipelines/src/release/scan/`',
    ]);
  });
});
