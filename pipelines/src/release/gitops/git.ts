import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { EXIT, ReleaseError } from '../errors.js';
import { run } from '../exec.js';

/** The identity of commits the release CLI makes where the checkout has none configured (a fresh CI runner). */
const FALLBACK_IDENTITY = { name: 'slipway-release', email: 'release@slipway.invalid' };

/** Runs git in `cwd`; a non-zero exit is a ReleaseError with git's own words. */
export async function git(
  cwd: string,
  args: readonly string[],
  what: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const result = await run('git', args, { cwd, env });
  if (result.code !== 0) {
    throw new ReleaseError(
      `${what} failed (git ${args.join(' ')}): ${result.stderr.trim().split('\n').slice(-3).join(' ')}`,
      'check the checkout and its remote (git status, git remote -v)',
      EXIT.failed,
    );
  }
  return result.stdout;
}

/** The text of `path` at `ref`, or undefined when the file is not there. */
export async function readAt(cwd: string, ref: string, path: string): Promise<string | undefined> {
  const result = await run('git', ['show', `${ref}:${path}`], { cwd });
  return result.code === 0 ? result.stdout : undefined;
}

/** The files directly under `dir` at `ref` (names only); empty when the ref or folder does not exist. */
export async function listAt(cwd: string, ref: string, dir: string): Promise<string[]> {
  const result = await run('git', ['ls-tree', '--name-only', `${ref}:${dir}`], { cwd });
  return result.code === 0 ? result.stdout.split('\n').filter((line) => line !== '') : [];
}

/** The commit a ref names, or undefined. */
export async function resolveRef(cwd: string, ref: string): Promise<string | undefined> {
  const result = await run('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd });
  return result.code === 0 ? result.stdout.trim() : undefined;
}

/** The commit a branch of `remote` points at now, asked of the remote itself; undefined when it has none. */
export async function remoteBranch(cwd: string, remote: string, branch: string): Promise<string | undefined> {
  const out = await git(cwd, ['ls-remote', '--heads', remote, `refs/heads/${branch}`], `asking ${remote}`);
  const commit = out.split(/\s/)[0] ?? '';
  return commit === '' ? undefined : commit;
}

async function identityEnv(cwd: string): Promise<NodeJS.ProcessEnv> {
  const configured = async (key: string): Promise<boolean> =>
    (await run('git', ['config', key], { cwd })).stdout.trim() !== '';
  const env = { ...process.env };
  if (!(await configured('user.name'))) {
    env.GIT_AUTHOR_NAME ??= FALLBACK_IDENTITY.name;
    env.GIT_COMMITTER_NAME ??= FALLBACK_IDENTITY.name;
  }
  if (!(await configured('user.email'))) {
    env.GIT_AUTHOR_EMAIL ??= FALLBACK_IDENTITY.email;
    env.GIT_COMMITTER_EMAIL ??= FALLBACK_IDENTITY.email;
  }
  return env;
}

/**
 * One commit on top of `parent` (or a root commit) that writes `files` (path → text) and nothing else, built in a
 * scratch index so the working tree and the checked-out branch stay as they are. Returns the commit's id.
 */
export async function commitFiles(
  cwd: string,
  parent: string | undefined,
  files: Readonly<Record<string, string>>,
  message: string,
): Promise<string> {
  const scratch = mkdtempSync(join(tmpdir(), 'slipway-index-'));
  const env = { ...(await identityEnv(cwd)), GIT_INDEX_FILE: join(scratch, 'index') };
  try {
    if (parent === undefined) await git(cwd, ['read-tree', '--empty'], 'starting an empty tree', env);
    else await git(cwd, ['read-tree', parent], `reading ${parent}`, env);
    for (const [path, text] of Object.entries(files)) {
      const blob = (await run('git', ['hash-object', '-w', '--stdin'], { cwd, input: text })).stdout.trim();
      await git(cwd, ['update-index', '--add', '--cacheinfo', `100644,${blob},${path}`], `staging ${path}`, env);
    }
    const tree = (await git(cwd, ['write-tree'], 'writing the tree', env)).trim();
    const parents = parent === undefined ? [] : ['-p', parent];
    return (await git(cwd, ['commit-tree', tree, ...parents, '-m', message], 'committing', env)).trim();
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Paths a commit changed against its first parent. */
export async function changedFiles(cwd: string, commit: string): Promise<string[]> {
  const out = await git(cwd, ['diff-tree', '--no-commit-id', '--name-only', '-r', commit], 'listing a commit');
  return out.split('\n').filter((line) => line !== '');
}
