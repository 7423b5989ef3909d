/**
 * `npm run release -- promote --to <stack> <digest>`, `rollback <stack>` and `record <stack> --outcome …`: the
 * GitOps commands. GitHub comes from GITHUB_TOKEN, GITHUB_REPOSITORY (owner/name) and GITHUB_API_URL.
 */
import { resolve } from 'node:path';

import { platformScope } from '../../platform/local.js';
import { repoRoot } from '../../platform/paths.js';
import type { Progress } from '../../platform/progress.js';
import { ensureSigningKey, type Signer } from '../cosign.js';
import { EXIT, parseReleaseArgs, ReleaseError } from '../errors.js';
import type { ReleaseRecord } from '../release-record.js';
import { DIGEST_PATTERN, type Stack, STACKS } from './environment-file.js';
import type { GitHubTarget } from './github.js';
import { type GitOpsOptions, type GitOpsResult, promote, recordStackDeploy, rollback } from './promote.js';

export const GITOPS_USAGE = `  promote --to <dev|staging|prod> <digest>
               open (or update) the pull request that pins the digest in infra/environments/<stack>.yaml; refused
               unless both images pass verify and the digest has a successful release record in the stage before
               (local rehearsal → dev → staging → prod). dev: [--gate-digest sha256:…] [--record <record.json>]
               [--report-url URL]; [--base main] [--remote origin] [--main-ref <remote>/<base>]
  rollback <stack>
               open the pull request that pins the last images with a successful release record in the stack
  record <stack> --outcome promoted|rolled-back [--reason TEXT]
               after pulumi up: record what the checked-out commit's deploy did on the release-records branch
               GitHub: GITHUB_TOKEN, GITHUB_REPOSITORY (owner/name), GITHUB_API_URL (https://api.github.com);
               without GITHUB_TOKEN the branch is committed locally and the pull request's text printed`;

/** True when argv is one of the GitOps commands (a bare `promote` is the canary executor's). */
export function isGitOpsCommand(argv: readonly string[]): boolean {
  const [command] = argv;
  return (
    command === 'rollback' ||
    command === 'record' ||
    (command === 'promote' && argv.some((arg) => arg === '--to' || arg.startsWith('--to=')))
  );
}

function stackOf(value: string | undefined, what: string): Stack {
  const stack = STACKS.find((s) => s === value);
  if (stack === undefined)
    throw new ReleaseError(
      `${what} ${JSON.stringify(value ?? '')} is not a stack`,
      `name one of ${STACKS.join(', ')}`,
      EXIT.usage,
    );
  return stack;
}

/** GitHub from the environment, or undefined without a token. */
export function gitHubFromEnv(env: NodeJS.ProcessEnv): GitHubTarget | undefined {
  const token = env.GITHUB_TOKEN;
  if (token === undefined || token === '') return undefined;
  const repository = env.GITHUB_REPOSITORY ?? '';
  if (!/^[\w.-]+\/[\w.-]+$/.test(repository))
    throw new ReleaseError(
      `GITHUB_REPOSITORY=${JSON.stringify(repository)} is not owner/name`,
      'set GITHUB_REPOSITORY=<owner>/<name> (GitHub Actions sets it)',
      EXIT.usage,
    );
  const apiUrl = env.GITHUB_API_URL ?? 'https://api.github.com';
  if (!URL.canParse(apiUrl) || !/^https?:$/.test(new URL(apiUrl).protocol))
    throw new ReleaseError(
      `GITHUB_API_URL=${JSON.stringify(apiUrl)} is not an http(s) URL`,
      'unset it for https://api.github.com, or give your GitHub Enterprise API URL',
      EXIT.usage,
    );
  return { token, repository, apiUrl: apiUrl.replace(/\/$/, '') };
}

export interface ParsedGitOps {
  readonly command: 'promote' | 'rollback' | 'record';
  readonly stack: Stack;
  readonly digest?: string;
  readonly outcome?: 'promoted' | 'rolled-back';
  readonly reason?: string;
  readonly json: boolean;
  readonly base: string;
  readonly remote: string;
  readonly mainRef: string;
  readonly registry: string;
  readonly gateDigest?: string;
  readonly recordFile?: string;
  readonly reportUrl?: string;
  readonly keyless?: Extract<Signer, { kind: 'keyless' }>;
}

export function parseGitOps(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedGitOps {
  const parsed = parseReleaseArgs(
    {
      args: [...argv],
      allowPositionals: true,
      options: {
        to: { type: 'string' },
        'gate-digest': { type: 'string' },
        record: { type: 'string' },
        'report-url': { type: 'string' },
        base: { type: 'string', default: 'main' },
        remote: { type: 'string', default: 'origin' },
        'main-ref': { type: 'string' },
        registry: { type: 'string' },
        outcome: { type: 'string' },
        reason: { type: 'string' },
        'certificate-identity': { type: 'string' },
        'certificate-oidc-issuer': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    },
    `see the usage (npm run release -- --help):\n${GITOPS_USAGE}`,
  );
  const [command, ...rest] = parsed.positionals;
  const v = parsed.values;
  const common = {
    json: v.json,
    base: v.base,
    remote: v.remote,
    mainRef: v['main-ref'] ?? `${v.remote}/${v.base}`,
    registry: v.registry ?? env.SLIPWAY_REGISTRY ?? '127.0.0.1:5000',
  };
  const onlyFor = (flags: Record<string, unknown>, allowed: string): void => {
    const given = Object.entries(flags)
      .filter(([, value]) => value !== undefined)
      .map(([flag]) => `--${flag}`);
    if (given.length > 0)
      throw new ReleaseError(
        `${given.join(', ')} do not apply to ${command ?? ''}`,
        `they apply to ${allowed}`,
        EXIT.usage,
      );
  };
  const keyless = keylessFlags(v['certificate-identity'], v['certificate-oidc-issuer']);
  if (command === 'promote') {
    const [digest, ...more] = rest;
    if (digest === undefined || more.length > 0)
      throw new ReleaseError(
        `promote takes --to <stack> and one digest, got ${JSON.stringify(rest.join(' '))}`,
        'npm run release -- promote --to dev sha256:<64 hex>',
        EXIT.usage,
      );
    onlyFor({ outcome: v.outcome, reason: v.reason }, 'record');
    for (const [what, value] of [
      ['the digest', digest],
      ['--gate-digest', v['gate-digest']],
    ] as const)
      if (value !== undefined && !DIGEST_PATTERN.test(value))
        throw new ReleaseError(
          `${what} ${JSON.stringify(value)} is not sha256: followed by 64 lowercase hex digits`,
          'pass the digest sign printed: npm run release -- promote --to dev sha256:<64 hex>',
          EXIT.usage,
        );
    return {
      command,
      stack: stackOf(v.to, '--to'),
      digest,
      ...common,
      ...(v['gate-digest'] === undefined ? {} : { gateDigest: v['gate-digest'] }),
      ...(v.record === undefined ? {} : { recordFile: resolve(v.record) }),
      ...(v['report-url'] === undefined ? {} : { reportUrl: v['report-url'] }),
      ...(keyless === undefined ? {} : { keyless }),
    };
  }
  const [stackName, ...more] = rest;
  if (more.length > 0)
    throw new ReleaseError(
      `${command ?? ''} takes one stack, got ${JSON.stringify(rest.join(' '))}`,
      `name one of ${STACKS.join(', ')}`,
      EXIT.usage,
    );
  onlyFor(
    { to: v.to, 'gate-digest': v['gate-digest'], record: v.record, 'report-url': v['report-url'] },
    'promote --to',
  );
  const stack = stackOf(stackName, command ?? '');
  if (command === 'rollback') {
    onlyFor({ outcome: v.outcome, reason: v.reason }, 'record');
    return { command, stack, ...common };
  }
  const outcome = v.outcome;
  if (outcome !== 'promoted' && outcome !== 'rolled-back')
    throw new ReleaseError(
      `record needs --outcome promoted or rolled-back, got ${JSON.stringify(outcome ?? null)}`,
      `npm run release -- record ${stack} --outcome promoted (after a pulumi up that succeeded)`,
      EXIT.usage,
    );
  return { command: 'record', stack, outcome, ...(v.reason === undefined ? {} : { reason: v.reason }), ...common };
}

function keylessFlags(identity: string | undefined, issuer: string | undefined): ParsedGitOps['keyless'] {
  if (identity === undefined && issuer === undefined) return undefined;
  if (identity === undefined || issuer === undefined || !URL.canParse(identity) || !URL.canParse(issuer))
    throw new ReleaseError(
      '--certificate-identity and --certificate-oidc-issuer go together, each an https:// URL',
      'pass both, as for npm run release -- verify',
      EXIT.usage,
    );
  return { kind: 'keyless', identity, issuer };
}

/** What a promotion or rollback prints: the pull request, or without a token the branch and the text to open it with. */
export function describeResult(result: GitOpsResult, remote: string, base: string): string {
  const lines: string[] = [];
  if (result.pullRequest !== undefined) {
    lines.push(
      `${result.pullRequest.updated ? 'updated' : 'opened'} pull request #${String(result.pullRequest.number)}: ${result.pullRequest.url}`,
      `  branch  ${result.branch} at ${result.commit}${result.pullRequest.updated ? ' (force-pushed)' : ''}`,
      `  files   ${result.files.join(', ')}`,
      `  labels  ${result.labels.join(', ')}`,
    );
    if (result.reviewers.length + result.teamReviewers.length > 0)
      lines.push(`  review  ${[...result.reviewers, ...result.teamReviewers.map((t) => `team ${t}`)].join(', ')}`);
    return `${lines.join('\n')}\n`;
  }
  lines.push(
    `GITHUB_TOKEN is not set: the branch ${result.branch} is committed in this checkout only (${result.commit});`,
    'nothing was pushed and no pull request was opened. To open it yourself:',
    `  git push --force ${remote} ${result.branch}`,
    `  then a pull request from ${result.branch} into ${base} with:`,
    `title:     ${result.title}`,
    `labels:    ${result.labels.join(', ')}`,
    `reviewers: ${[...result.reviewers, ...result.teamReviewers.map((t) => `team ${t}`)].join(', ') || 'none'}`,
    `files:     ${result.files.join(', ')}`,
    '',
    result.body,
  );
  return `${lines.join('\n')}\n`;
}

/** Runs a GitOps command; returns its exit code. */
export async function gitOpsCommand(
  argv: readonly string[],
  out: NodeJS.WritableStream,
  progress: Progress,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const parsed = parseGitOps(argv, env);
  if (parsed.command === 'record') {
    const release = await recordStackDeploy(parsed.stack, parsed.outcome ?? 'promoted', {
      cwd: repoRoot,
      remote: parsed.remote,
      ...(parsed.reason === undefined ? {} : { reason: parsed.reason }),
    });
    if (parsed.json) out.write(`${JSON.stringify({ command: 'record', ok: true, release })}\n`);
    else
      out.write(`recorded ${parsed.stack}/${release.record.id}.json (${release.record.outcome}) on release-records\n`);
    return EXIT.ok;
  }
  const signer: Signer = parsed.keyless ?? { kind: 'key', publicKey: (await ensureSigningKey()).publicKey };
  const github = gitHubFromEnv(env);
  const options: GitOpsOptions = {
    cwd: repoRoot,
    remote: parsed.remote,
    base: parsed.base,
    registry: parsed.registry,
    signer,
    mainRef: parsed.mainRef,
    ...(github === undefined ? {} : { github }),
    scope: platformScope(env),
    ...(parsed.recordFile === undefined ? {} : { recordFile: parsed.recordFile }),
    ...(parsed.gateDigest === undefined ? {} : { gateDigest: parsed.gateDigest }),
    ...(parsed.reportUrl === undefined ? {} : { reportUrl: parsed.reportUrl }),
    progress,
  };
  const result =
    parsed.command === 'promote'
      ? await promote(parsed.stack, parsed.digest ?? '', options)
      : await rollback(parsed.stack, options);
  if (parsed.json) out.write(`${JSON.stringify({ command: parsed.command, ok: true, ...result })}\n`);
  else out.write(describeResult(result, parsed.remote, parsed.base));
  return EXIT.ok;
}

/**
 * `deploy … --rollback-pr <stack>`: after a local canary that ended rolled back, opens the rollback pull request of
 * the stack; any other outcome opens nothing.
 */
export async function rollbackAfterAbort(
  record: ReleaseRecord,
  stack: Stack | undefined,
  open: (stack: Stack) => Promise<unknown>,
): Promise<boolean> {
  if (stack === undefined || record.outcome !== 'rolled-back') return false;
  await open(stack);
  return true;
}
