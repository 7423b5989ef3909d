/** Who owns a path, by GitHub's CODEOWNERS rules: the last matching line wins; `@org/team` is a team. */

export interface Owners {
  readonly users: readonly string[];
  readonly teams: readonly string[];
}

/** A CODEOWNERS pattern as a regular expression over a repository path (gitignore-style, as GitHub reads it). */
function patternToRegExp(pattern: string): RegExp {
  const anchored = pattern.startsWith('/') || pattern.slice(0, -1).includes('/');
  let body = pattern.replace(/^\//, '');
  const directory = body.endsWith('/');
  if (directory) body = body.slice(0, -1);
  const source = body
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((piece) => piece.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('.*');
  // eslint-disable-next-line security/detect-non-literal-regexp -- every pattern character is escaped above
  return new RegExp(`^${anchored ? '' : '(?:.*/)?'}${source}${directory ? '/.*' : '(?:/.*)?'}$`);
}

/** The owners of `path` in a CODEOWNERS file's text; none when no line matches. */
export function ownersOf(codeowners: string, path: string): Owners {
  let owners: string[] = [];
  for (const raw of codeowners.split('\n')) {
    const line = raw.replace(/\s#.*$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const [pattern = '', ...names] = line.split(/\s+/);
    if (patternToRegExp(pattern).test(path)) owners = names;
  }
  const handles = owners.filter((name) => name.startsWith('@')).map((name) => name.slice(1));
  return {
    users: handles.filter((name) => !name.includes('/')),
    teams: handles.filter((name) => name.includes('/')).map((name) => name.split('/')[1] ?? name),
  };
}
