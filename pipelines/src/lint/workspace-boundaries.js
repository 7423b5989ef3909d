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

/** @type {Map<string, Record<string, unknown> | undefined>} */
const exportsCache = new Map();

/**
 * The `exports` map of a workspace's package.json (read once per lint run).
 * @param {string} workspace
 * @returns {Record<string, unknown>}
 */
function exportsOf(workspace) {
  if (!exportsCache.has(workspace)) {
    const manifest = JSON.parse(readFileSync(resolve(repoRoot, workspace, 'package.json'), 'utf8'));
    const map = manifest.exports;
    exportsCache.set(workspace, typeof map === 'string' ? { '.': map } : (map ?? {}));
  }
  return exportsCache.get(workspace) ?? {};
}

/**
 * The file a package subpath (`.`, `./slo`) of a workspace resolves to, as Node reads `exports`: an exact key first,
 * then the pattern with the longest prefix. A repository path, or undefined when the workspace does not export it.
 * @param {string} workspace
 * @param {string} subpath
 * @returns {string | undefined}
 */
export function exportedFile(workspace, subpath) {
  const map = exportsOf(workspace);
  let target = map[subpath];
  if (typeof target !== 'string') {
    const key = Object.keys(map)
      .filter((k) => {
        const [before = '', after = ''] = k.split('*');
        return (
          k.includes('*') && subpath.startsWith(before) && subpath.endsWith(after) && subpath.length >= k.length - 1
        );
      })
      .sort((a, b) => b.indexOf('*') - a.indexOf('*'))[0];
    if (key === undefined) return undefined;
    const [before = '', after = ''] = key.split('*');
    const pattern = map[key];
    if (typeof pattern !== 'string') return undefined;
    target = pattern.replace('*', subpath.slice(before.length, subpath.length - after.length));
  }
  return posix(relative(repoRoot, resolve(repoRoot, workspace, target)));
}

/**
 * The package specifier that reaches a repository file through its workspace's exports, if one does.
 * @param {string} file a repository path, e.g. monitoring/src/slo.ts
 * @returns {string | undefined}
 */
function specifierFor(file) {
  const [workspace = '', ...rest] = file.split('/');
  const inside = `./${rest.join('/')}`;
  for (const [key, value] of Object.entries(exportsOf(workspace))) {
    if (typeof value !== 'string') continue;
    const [before = '', after = ''] = value.split('*');
    const middle =
      value.includes('*') && inside.startsWith(before) && inside.endsWith(after)
        ? inside.slice(before.length, inside.length - after.length)
        : value === inside
          ? ''
          : undefined;
    if (middle === undefined) continue;
    const subpath = key.replace('*', middle);
    if (exportedFile(workspace, subpath) === file)
      return subpath === '.' ? `@slipway/${workspace}` : `@slipway/${workspace}/${subpath.slice(2)}`;
  }
  return undefined;
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
        relative:
          '{{target}} reaches into {{other}} by a relative path; import it by package name through the exports of ' +
          '{{other}}/package.json ({{suggestion}})',
        unexported:
          '{{target}} is not exported by {{other}}/package.json: add the subpath to its "exports" (tests may import ' +
          'anything exported; runtime code only what CONTRIBUTING.md, "Workspace boundaries", lets it)',
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
      if (!(own in boundaries)) return {};
      // tests may cross every line (by package name); so may the harness, which is test code
      const test = HARNESS.test(path);
      const allowed = boundaries[own]?.imports ?? [];
      const check = (node) => {
        const source = node.source;
        if (source?.type !== 'Literal' || typeof source.value !== 'string') return;
        const specifier = source.value;
        if (specifier.startsWith('.')) {
          const target = posix(relative(repoRoot, resolve(dirname(file), specifier)));
          const other = target.split('/')[0] ?? '';
          if (other === own || !(other in boundaries)) return;
          const suggestion = specifierFor(target.replace(/\.js$/, '.ts')) ?? `@slipway/${other}/…, exported first`;
          context.report({ node, messageId: 'relative', data: { target: specifier, other, suggestion } });
          return;
        }
        const scoped = /^@slipway\/([a-z]+)(\/.*)?$/.exec(specifier);
        const other = scoped?.[1];
        if (other === undefined || other === own || !(other in boundaries)) return;
        const target = exportedFile(other, `.${scoped?.[2] ?? ''}`);
        const data = { own, other, target: specifier, direction };
        if (target === undefined) {
          context.report({ node, messageId: 'unexported', data });
          return;
        }
        if (test) return;
        if (HARNESS.test(target)) context.report({ node, messageId: 'harness', data });
        else if (!allowed.includes(other)) context.report({ node, messageId: 'direction', data });
        else {
          const published = boundaries[other]?.published ?? [];
          if (!published.some((entry) => (entry.endsWith('/') ? target.startsWith(entry) : target === entry)))
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
