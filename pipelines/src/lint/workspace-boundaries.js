// The ESLint rule `slipway/workspace-boundaries`, built from the table under "Workspace boundaries" in
// CONTRIBUTING.md, the one place the direction is written. JavaScript, because eslint.config.js loads it as is.
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CONTRIBUTING = resolve(repoRoot, 'CONTRIBUTING.md');
const HEADING = '### Workspace boundaries';
/** Test harness code: runtime code never imports it, whichever workspace it is in. */
const HARNESS = /^[a-z]+\/test\/|^pipelines\/src\/testing\//;

/**
 * @typedef {{ imports: string[], published: string[] }} Boundary
 * imports: the workspaces its runtime code may import; published: the paths (a file, or a folder ending in /) the
 * others may import from it.
 */

/**
 * The boundaries table of CONTRIBUTING.md: `| \`ws\` | \`a\`, \`b\` or none | \`path\`, … or none |`.
 * @param {string} text
 * @returns {Record<string, Boundary>}
 */
export function readBoundaries(text) {
  const start = text.indexOf(HEADING);
  if (start < 0) throw new Error(`${CONTRIBUTING} has no "${HEADING}" section: the lint rule reads its table`);
  const lines = text.slice(start).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const end = lines.findIndex((line, index) => index > first && !line.startsWith('|'));
  // the section's first table only: header, separator, then one row per workspace
  const rows = first < 0 ? [] : lines.slice(first, end < 0 ? undefined : end);
  /** @type {Record<string, Boundary>} */
  const boundaries = {};
  for (const row of rows.slice(2)) {
    const [workspace, imports, published] = row
      .split('|')
      .slice(1, 4)
      .map((cell) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? ''));
    const name = workspace?.[0];
    if (name === undefined || imports === undefined || published === undefined)
      throw new Error(`${CONTRIBUTING}: the row ${JSON.stringify(row)} is not | \`workspace\` | imports | published |`);
    boundaries[name] = { imports, published };
  }
  if (Object.keys(boundaries).length === 0) throw new Error(`${CONTRIBUTING}: "${HEADING}" has no table rows`);
  return boundaries;
}

const posix = (path) => path.split(sep).join('/');

/**
 * Where an import goes: a repository path for a relative one, `<workspace>/` for `@slipway/<workspace>`.
 * @param {string} file the importing file, absolute
 * @param {string} specifier
 * @returns {string | undefined}
 */
function targetOf(file, specifier) {
  if (specifier.startsWith('.')) return posix(relative(repoRoot, resolve(dirname(file), specifier)));
  const scoped = /^@slipway\/([a-z]+)(\/.*)?$/.exec(specifier);
  return scoped === null ? undefined : `${scoped[1] ?? ''}/`;
}

/** @param {Record<string, Boundary>} boundaries */
export function workspaceBoundaries(boundaries) {
  const direction = Object.entries(boundaries)
    .map(([name, b]) => `${name} → ${b.imports.length > 0 ? b.imports.join(', ') : 'nothing'}`)
    .join('; ');
  return {
    meta: {
      type: 'problem',
      docs: { description: 'imports between workspaces follow the direction in CONTRIBUTING.md' },
      schema: [],
      messages: {
        harness:
          'runtime code of {{own}} imports the test harness {{target}}: move what it needs out of test code ' +
          '(tests may import runtime code, never the other way)',
        direction:
          '{{own}} may not import {{other}} ({{target}}) at run time; the agreed direction (CONTRIBUTING.md, ' +
          '"Workspace boundaries") is: {{direction}}',
        unpublished:
          '{{target}} is not published by {{other}}; import only {{published}} (CONTRIBUTING.md, "Workspace boundaries")',
      },
    },
    create(context) {
      const file = context.filename;
      const path = posix(relative(repoRoot, file));
      const own = path.split('/')[0] ?? '';
      // tests may cross every line; so may the harness, which is test code
      if (!(own in boundaries) || HARNESS.test(path)) return {};
      const allowed = boundaries[own]?.imports ?? [];
      const check = (node) => {
        const source = node.source;
        if (source?.type !== 'Literal' || typeof source.value !== 'string') return;
        const target = targetOf(file, source.value);
        const other = target?.split('/')[0];
        if (target === undefined || other === undefined || other === own || !(other in boundaries)) return;
        const data = { own, other, target: source.value, direction };
        if (HARNESS.test(target)) context.report({ node, messageId: 'harness', data });
        else if (!allowed.includes(other)) context.report({ node, messageId: 'direction', data });
        else if (target !== `${other}/`) {
          const published = boundaries[other]?.published ?? [];
          const file = target.replace(/\.js$/, '.ts');
          if (!published.some((entry) => (entry.endsWith('/') ? file.startsWith(entry) : file === entry)))
            context.report({
              node,
              messageId: 'unpublished',
              data: { ...data, published: published.length > 0 ? published.join(', ') : 'nothing' },
            });
        }
      };
      return {
        ImportDeclaration: check,
        ExportAllDeclaration: check,
        ExportNamedDeclaration: check,
        ImportExpression: check,
      };
    },
  };
}

/** The plugin eslint.config.js registers, built from CONTRIBUTING.md as it is now. */
export const slipwayPlugin = {
  rules: { 'workspace-boundaries': workspaceBoundaries(readBoundaries(readFileSync(CONTRIBUTING, 'utf8'))) },
};
