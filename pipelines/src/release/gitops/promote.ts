/**
 * Promotion and rollback by pull request. Each is a list of small steps: read what main pins, find the release record
 * that allows the move, verify the images, write the stack's file and its evidence in one commit on a branch of its
 * own, push it, and open (or update) the pull request. A failure after the push removes what this run made.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { Progress } from '../../platform/progress.js';
import { listRecords } from '../canary/store.js';
import { describeSigner, type Signer } from '../cosign.js';
import { EXIT, ReleaseError } from '../errors.js';
import { readBuildRecordIfAny } from '../record.js';
import type { ReleaseRecord } from '../release-record.js';
import { readReleaseRecord } from '../report/record-file.js';
import { verifyImage } from '../verify.js';
import { ownersOf } from './codeowners.js';
import {
  DIGEST_PATTERN,
  environmentFilePath,
  type EnvironmentFile,
  evidenceFilePath,
  parseEnvironmentFile,
  PREDECESSOR,
  renderEnvironmentFile,
  type Stack,
} from './environment-file.js';
import { bundleMarkdown, bundleTitle, type BundleImage, type EvidenceBundle } from './evidence.js';
import { changedFiles, commitFiles, git, readAt, remoteBranch, resolveRef } from './git.js';
import { type GitHubTarget, type OpenedPullRequest, type PullRequestSpec, PullRequests } from './github.js';
import { recordDeploy, stackReleases, type StackRelease } from './records.js';

export const APP_IMAGE = 'slipway/erp-api';
export const GATE_IMAGE = 'slipway/erp-api-gate';
export const CODEOWNERS_FILE = '.github/CODEOWNERS';

export interface GitOpsOptions {
  /** The checkout whose remote receives the branch. */
  readonly cwd: string;
  readonly remote: string;
  /** The branch pull requests merge into. */
  readonly base: string;
  /** The OCI registry verify reads the images from (`host:port`). */
  readonly registry: string;
  readonly signer: Signer;
  /** The ref a released commit must be on, for verify's provenance check. */
  readonly mainRef: string;
  /** Absent: no GITHUB_TOKEN, so the branch stays local and the pull request's text is printed. */
  readonly github?: GitHubTarget;
  /** The local platform's scope, whose `.local/<scope>/releases/` hold the canary rehearsal's records (dev). */
  readonly scope: string;
  /** dev: the rehearsal's record file, instead of the newest matching one of the scope. */
  readonly recordFile?: string;
  /** dev: the gate image's digest, instead of this checkout's build record. */
  readonly gateDigest?: string;
  /** A link to the release report, for the pull request body. */
  readonly reportUrl?: string;
  readonly progress: Progress;
}

export interface GitOpsResult {
  readonly stack: Stack;
  readonly branch: string;
  readonly commit: string;
  readonly files: readonly string[];
  readonly title: string;
  readonly body: string;
  readonly labels: readonly string[];
  readonly reviewers: readonly string[];
  readonly teamReviewers: readonly string[];
  readonly bundle: EvidenceBundle;
  /** Absent when no token was given: the branch is local only. */
  readonly pullRequest?: OpenedPullRequest;
}

const refused = (message: string, fix: string): ReleaseError => new ReleaseError(message, fix, EXIT.refused);

function checkDigest(value: string, what: string): void {
  if (!DIGEST_PATTERN.test(value))
    throw new ReleaseError(
      `${what} ${JSON.stringify(value)} is not sha256: followed by 64 lowercase hex digits`,
      'pass the digest sign printed, e.g. sha256:3f1c…(64 hex digits)',
      EXIT.usage,
    );
}

/** The stack's file as the base branch holds it on the remote now. */
async function pinnedNow(options: GitOpsOptions, stack: Stack): Promise<{ base: string; file: EnvironmentFile }> {
  await git(
    options.cwd,
    ['fetch', '--quiet', options.remote, options.base],
    `fetching ${options.remote} ${options.base}`,
  );
  const base = await resolveRef(options.cwd, `refs/remotes/${options.remote}/${options.base}`);
  if (base === undefined)
    throw new ReleaseError(
      `${options.remote} has no branch ${options.base}`,
      'pass --base <branch> naming the branch pull requests merge into',
      EXIT.usage,
    );
  const path = environmentFilePath(stack);
  const text = await readAt(options.cwd, base, path);
  if (text === undefined)
    throw new ReleaseError(
      `${options.remote}/${options.base} has no ${path}`,
      'merge the environment files (infra/environments/) into the base branch first',
      EXIT.usage,
    );
  const parsed = parseEnvironmentFile(text, `${options.remote}/${options.base}:${path}`, stack);
  if (parsed.problems)
    throw new ReleaseError(parsed.problems.join('\n'), 'fix the file on the base branch by a pull request', EXIT.usage);
  return { base, file: parsed.file };
}

/** dev: the local canary rehearsal's successful record of this digest. */
function rehearsalRecord(options: GitOpsOptions, digest: string): { record: ReleaseRecord; file?: string } {
  const wrong = (record: ReleaseRecord, file: string): ReleaseError =>
    refused(
      `the release record ${file} is of ${record.canary.digest} with outcome ${record.outcome}, not a successful release of ${digest}`,
      `pass the record of a release of ${digest} that reached 100 % (outcome promoted)`,
    );
  if (options.recordFile !== undefined) {
    const record = readReleaseRecord(options.recordFile);
    if (record.canary.digest !== digest || record.outcome !== 'promoted') throw wrong(record, options.recordFile);
    return { record, file: options.recordFile };
  }
  const records = listRecords(options.scope);
  const found = records.filter((r) => r.canary.digest === digest && r.outcome === 'promoted').at(-1);
  if (found === undefined) {
    const tried = records.filter((r) => r.canary.digest === digest).map((r) => `${r.id} ${r.outcome}`);
    throw refused(
      `${digest} has no successful release record in local, the stage before dev` +
        (tried.length > 0
          ? ` (its releases there: ${tried.join(', ')})`
          : ` (no release of it in .local/${options.scope}/releases/)`),
      `take it through the local canary first: npm run release -- deploy ${digest} (SLIPWAY_SCOPE=${options.scope}), or pass --record <record.json> of a release that reached 100 %`,
    );
  }
  return { record: found };
}

/** staging and prod: the previous stack's successful deploy of this digest. */
async function stackRecord(
  options: GitOpsOptions,
  previous: Stack,
  stack: Stack,
  digest: string,
): Promise<StackRelease> {
  const releases = await stackReleases(options.cwd, options.remote, previous);
  const found = releases.filter((r) => r.images.app === digest && r.record.outcome === 'promoted').at(-1);
  if (found === undefined) {
    const tried = releases.filter((r) => r.images.app === digest).map((r) => `${r.record.id} ${r.record.outcome}`);
    throw refused(
      `${digest} has no successful release record in ${previous}, the stage before ${stack}; environments are not skipped` +
        (tried.length > 0 ? ` (its releases in ${previous}: ${tried.join(', ')})` : ''),
      `promote it to ${previous} first (npm run release -- promote --to ${previous} ${digest}), merge, and let its deploy succeed`,
    );
  }
  return found;
}

async function verifyBoth(
  options: GitOpsOptions,
  images: { app: string; gate: string },
  pinned: EnvironmentFile,
): Promise<BundleImage[]> {
  const result: BundleImage[] = [];
  for (const [name, digest, replaces] of [
    [APP_IMAGE, images.app, pinned.images.app],
    [GATE_IMAGE, images.gate, pinned.images.gate],
  ] as const) {
    const reference = `${options.registry}/${name}@${digest}`;
    options.progress.step(`verify ${reference}`);
    const verification = await verifyImage({
      reference,
      signer: options.signer,
      root: options.cwd,
      mainRef: options.mainRef,
    });
    const failed = verification.checks.filter((check) => !check.ok);
    if (!verification.ok)
      throw refused(
        `${reference} did not pass verify: ${failed.map((check) => `${check.check}: ${check.detail}`).join('; ')}`,
        'only a signed, attested and scanned build of main is promoted: npm run release -- scan, sign, then verify',
      );
    result.push({ name, reference, digest, replaces, checks: verification.checks });
  }
  return result;
}

/** The previous stack's evidence bundle, when its file came there by the promotion of these images. */
async function upstreamBundle(
  options: GitOpsOptions,
  base: string,
  previous: Stack,
  digest: string,
): Promise<EvidenceBundle | undefined> {
  const text = await readAt(options.cwd, base, evidenceFilePath(previous));
  if (text === undefined) return undefined;
  try {
    const bundle = JSON.parse(text) as EvidenceBundle;
    return bundle.images.some((image) => image.digest === digest) ? bundle : undefined;
  } catch {
    return undefined;
  }
}

async function reviewersFor(
  options: GitOpsOptions,
  base: string,
  stack: Stack,
): Promise<{ users: string[]; teams: string[] }> {
  if (stack !== 'prod') return { users: [], teams: [] };
  const codeowners = await readAt(options.cwd, base, CODEOWNERS_FILE);
  if (codeowners === undefined)
    throw new ReleaseError(
      `${options.remote}/${options.base} has no ${CODEOWNERS_FILE}: a prod promotion requests its reviewers from it`,
      `add ${CODEOWNERS_FILE} naming the owners of ${environmentFilePath('prod')}`,
      EXIT.usage,
    );
  const owners = ownersOf(codeowners, environmentFilePath(stack));
  if (owners.users.length + owners.teams.length === 0)
    throw new ReleaseError(
      `${CODEOWNERS_FILE} names no owner of ${environmentFilePath('prod')}: a prod promotion needs reviewers`,
      `add a line: /${environmentFilePath('prod')} @<org>/<team>`,
      EXIT.usage,
    );
  return { users: [...owners.users], teams: [...owners.teams] };
}

/** Puts the commit on the branch, pushes it and opens or updates the pull request; removes what it made on failure. */
async function publish(
  options: GitOpsOptions,
  spec: PullRequestSpec,
  commit: string,
): Promise<OpenedPullRequest | undefined> {
  const ref = `refs/heads/${spec.branch}`;
  const localBefore = await resolveRef(options.cwd, ref);
  const restoreLocal = async (): Promise<void> => {
    if (localBefore === undefined) await git(options.cwd, ['update-ref', '-d', ref], `deleting ${spec.branch}`);
    else await git(options.cwd, ['update-ref', ref, localBefore], `restoring ${spec.branch}`);
  };
  const checkedOut = (
    await git(options.cwd, ['symbolic-ref', '--quiet', '--short', 'HEAD'], 'reading HEAD').catch(() => '')
  ).trim();
  if (checkedOut === spec.branch)
    throw new ReleaseError(
      `${spec.branch} is checked out here; the release CLI moves it`,
      `switch to another branch (git switch ${options.base}) and run the command again`,
      EXIT.usage,
    );
  await git(options.cwd, ['update-ref', ref, commit], `writing ${spec.branch}`);
  if (options.github === undefined) return undefined;

  const pulls = new PullRequests(options.github);
  let existing;
  try {
    existing = await pulls.findOpen(spec.branch, spec.base);
  } catch (error) {
    await restoreLocal();
    throw error;
  }
  const remoteBefore = await remoteBranch(options.cwd, options.remote, spec.branch);
  options.progress.step(`push ${spec.branch} to ${options.remote}`);
  await git(
    options.cwd,
    ['push', '--quiet', `--force-with-lease=${ref}:${remoteBefore ?? ''}`, options.remote, `${commit}:${ref}`],
    `pushing ${spec.branch}`,
  ).catch(async (error: unknown) => {
    await restoreLocal();
    throw error;
  });
  try {
    return await pulls.openOrUpdate(spec, existing);
  } catch (error) {
    const made = (error as { pullRequest?: { number: number; created: boolean } }).pullRequest;
    if (made?.created === true) await pulls.close(made.number).catch(() => undefined);
    if (remoteBefore === undefined)
      await git(
        options.cwd,
        ['push', '--quiet', options.remote, '--delete', ref],
        `deleting ${spec.branch} on ${options.remote}`,
      );
    else
      await git(
        options.cwd,
        ['push', '--quiet', `--force-with-lease=${ref}:${commit}`, options.remote, `${remoteBefore}:${ref}`],
        `restoring ${spec.branch} on ${options.remote}`,
      );
    await restoreLocal();
    throw error;
  }
}

/** The branch a move is proposed on, by the bundle's kind. */
const BRANCH_PREFIX = { promotion: 'promote', rollback: 'rollback' } as const;

/** The bundle's account of the release record that allows the move. */
function recordSummary(
  environment: EvidenceBundle['record']['environment'],
  record: ReleaseRecord,
): EvidenceBundle['record'] {
  return {
    environment,
    id: record.id,
    outcome: record.outcome,
    startedAt: record.startedAt,
    ...(record.finishedAt === undefined ? {} : { finishedAt: record.finishedAt }),
  };
}

/** Commits the stack's new pins with the evidence of the record that allows them, and proposes the move. */
async function finish(
  options: GitOpsOptions,
  base: string,
  bundle: EvidenceBundle,
  images: EnvironmentFile['images'],
  message: string,
): Promise<GitOpsResult> {
  const { stack } = bundle;
  const next: EnvironmentFile = {
    environment: stack,
    images,
    release: { kind: bundle.kind, record: bundle.record.id, recordEnvironment: bundle.record.environment },
  };
  const branch = `${BRANCH_PREFIX[bundle.kind]}/${stack}`;
  const files = {
    [environmentFilePath(stack)]: renderEnvironmentFile(next),
    [evidenceFilePath(stack)]: `${JSON.stringify(bundle, null, 2)}\n`,
  };
  const commit = await commitFiles(options.cwd, base, files, message);
  const reviewers = await reviewersFor(options, base, stack);
  const spec: PullRequestSpec = {
    branch,
    base: options.base,
    title: bundleTitle(bundle),
    body: bundleMarkdown(bundle, evidenceFilePath(stack)),
    labels: [`environment:${stack}`, bundle.kind],
    reviewers: reviewers.users,
    teamReviewers: reviewers.teams,
  };
  const pullRequest = await publish(options, spec, commit);
  return {
    stack,
    branch,
    commit,
    files: await changedFiles(options.cwd, commit),
    title: spec.title,
    body: spec.body,
    labels: spec.labels,
    reviewers: spec.reviewers,
    teamReviewers: spec.teamReviewers,
    bundle,
    ...(pullRequest === undefined ? {} : { pullRequest }),
  };
}

/**
 * `promote --to <stack> <digest>`: refuses unless both images pass verify and the digest has a successful release
 * record in the stage before (local rehearsal → dev → staging → prod).
 */
export async function promote(stack: Stack, digest: string, options: GitOpsOptions): Promise<GitOpsResult> {
  checkDigest(digest, 'the digest');
  if (options.gateDigest !== undefined) checkDigest(options.gateDigest, '--gate-digest');
  const { base, file: pinned } = await pinnedNow(options, stack);
  if (pinned.images.app === digest)
    throw refused(
      `${stack} already pins ${digest} on ${options.remote}/${options.base}`,
      'nothing to promote; promote a newer build',
    );
  const previous = PREDECESSOR[stack];
  let record: ReleaseRecord;
  let gate: string | undefined;
  let report = options.reportUrl;
  if (previous === 'local') {
    const found = rehearsalRecord(options, digest);
    record = found.record;
    gate = options.gateDigest ?? readBuildRecordIfAny(GATE_IMAGE)?.digest;
    const html = join(
      dirname(found.file ?? join(options.cwd, '.local', options.scope, 'releases', 'x')),
      `${record.id}.html`,
    );
    if (report === undefined && existsSync(html)) report = html;
    if (gate === undefined)
      throw new ReleaseError(
        `no digest of ${GATE_IMAGE} to promote with ${digest}: this checkout has no build record of it`,
        'pass --gate-digest sha256:<the gate image digest sign printed>',
        EXIT.usage,
      );
  } else {
    const found = await stackRecord(options, previous, stack, digest);
    record = found.record;
    gate = found.images.gate;
    if (options.gateDigest !== undefined && options.gateDigest !== gate)
      throw refused(
        `--gate-digest ${options.gateDigest} is not the gate image ${previous} ran with ${digest} (${gate})`,
        `leave --gate-digest out: a promotion moves the pair that passed ${previous}`,
      );
  }
  const images = await verifyBoth(options, { app: digest, gate }, pinned);
  const upstream = previous === 'local' ? undefined : await upstreamBundle(options, base, previous, digest);
  const bundle: EvidenceBundle = {
    schemaVersion: 1,
    kind: 'promotion',
    stack,
    images,
    signer: describeSigner(options.signer),
    record: recordSummary(previous, record),
    ...(record.evidence === undefined
      ? upstream?.evidence === undefined
        ? {}
        : { evidence: upstream.evidence }
      : { evidence: record.evidence }),
    stages: record.stages,
    ...(report === undefined ? {} : { report }),
    ...(upstream === undefined ? {} : { upstream }),
  };
  return finish(
    options,
    base,
    bundle,
    { app: digest, gate },
    `release(${stack}): promote erp-api ${digest}\n\nIt passed verify and release ${record.id} in ${previous}.`,
  );
}

/** `rollback <stack>`: pins the newest images with a successful record in the stack that differ from what it pins. */
export async function rollback(stack: Stack, options: GitOpsOptions): Promise<GitOpsResult> {
  const { base, file: pinned } = await pinnedNow(options, stack);
  const releases = await stackReleases(options.cwd, options.remote, stack);
  const good = releases
    .filter(
      (r) =>
        r.record.outcome === 'promoted' && (r.images.app !== pinned.images.app || r.images.gate !== pinned.images.gate),
    )
    .at(-1);
  if (good === undefined)
    throw refused(
      `${stack} has no successful release other than what it pins now (${pinned.images.app}) to go back to`,
      `there is nothing to roll back to; fix forward: npm run release -- promote --to ${stack} <digest>`,
    );
  const bundle: EvidenceBundle = {
    schemaVersion: 1,
    kind: 'rollback',
    stack,
    images: [
      {
        name: APP_IMAGE,
        reference: `${APP_IMAGE}@${good.images.app}`,
        digest: good.images.app,
        replaces: pinned.images.app,
      },
      {
        name: GATE_IMAGE,
        reference: `${GATE_IMAGE}@${good.images.gate}`,
        digest: good.images.gate,
        replaces: pinned.images.gate,
      },
    ],
    record: recordSummary(stack, good.record),
    ...(good.record.evidence === undefined ? {} : { evidence: good.record.evidence }),
    stages: good.record.stages,
  };
  return finish(
    options,
    base,
    bundle,
    good.images,
    `release(${stack}): roll back erp-api to ${good.images.app}\n\nThe last successful release there: ${good.record.id}.`,
  );
}

/** `record <stack> --outcome …`: what the deploy of the checked-out commit did, on the records branch. */
export async function recordStackDeploy(
  stack: Stack,
  outcome: 'promoted' | 'rolled-back',
  options: Pick<GitOpsOptions, 'cwd' | 'remote'> & { reason?: string },
): Promise<StackRelease> {
  const commit = (await git(options.cwd, ['rev-parse', 'HEAD'], 'reading HEAD')).trim();
  const path = environmentFilePath(stack);
  const text = await readAt(options.cwd, commit, path);
  if (text === undefined)
    throw new ReleaseError(`${path} is not in ${commit}`, 'run it in the checkout of the deployed commit', EXIT.usage);
  const parsed = parseEnvironmentFile(text, path, stack);
  if (parsed.problems) throw new ReleaseError(parsed.problems.join('\n'), 'fix the file by a pull request', EXIT.usage);
  const bundleText = await readAt(options.cwd, commit, evidenceFilePath(stack));
  const evidence = bundleText === undefined ? undefined : (JSON.parse(bundleText) as EvidenceBundle).evidence;
  return recordDeploy({
    cwd: options.cwd,
    remote: options.remote,
    stack,
    images: parsed.file.images,
    commit,
    outcome,
    ...(options.reason === undefined ? {} : { reason: options.reason }),
    ...(evidence === undefined ? {} : { evidence }),
  });
}
