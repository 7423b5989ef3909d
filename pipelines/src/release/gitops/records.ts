/**
 * Release records of the cloud stacks. The local canary executor keeps its records under `.local/<scope>/releases/`;
 * a stack's records are what its deploy did (`pulumi up` awaited the Rollout, or it failed), kept in Git on the
 * branch `release-records` of the repository's remote as `<stack>/<id>.json`: append-only, outside main (which only
 * pull requests change), and readable by every promotion from any checkout.
 */
import { z } from 'zod';

import { releaseId } from '../canary/store.js';
import { EXIT, ReleaseError } from '../errors.js';
import { RELEASE_PLAN } from '../plan.js';
import type { ReleaseEvidence, ReleaseRecord } from '../release-record.js';
import { parseReleaseRecord } from '../report/record-file.js';
import { DIGEST_PATTERN, type Stack, STACKS } from './environment-file.js';
import { commitFiles, git, listAt, readAt, resolveRef } from './git.js';
import { run } from '../exec.js';

export const RECORDS_BRANCH = 'release-records';

/** One deploy of one stack: both digests it ran and the release record of it. */
export interface StackRelease {
  readonly schemaVersion: 1;
  readonly environment: Stack;
  readonly images: { readonly app: string; readonly gate: string };
  /** The commit of main that was deployed. */
  readonly commit: string;
  readonly record: ReleaseRecord;
}

const digest = z.string().regex(DIGEST_PATTERN);
const stackReleaseSchema = z.looseObject({
  schemaVersion: z.literal(1),
  environment: z.enum(STACKS),
  images: z.strictObject({ app: digest, gate: digest }),
  commit: z.string().regex(/^[0-9a-f]{40}$/),
  record: z.unknown(),
});

const trackingRef = (remote: string): string => `refs/remotes/${remote}/${RECORDS_BRANCH}`;

/** Brings the remote's records branch into `refs/remotes/<remote>/release-records`; false when it has none yet. */
async function fetchRecords(cwd: string, remote: string): Promise<boolean> {
  const result = await run(
    'git',
    ['fetch', '--quiet', remote, `+refs/heads/${RECORDS_BRANCH}:${trackingRef(remote)}`],
    {
      cwd,
    },
  );
  if (result.code === 0) return true;
  if (/couldn't find remote ref/i.test(result.stderr)) return false;
  throw new ReleaseError(
    `fetching ${RECORDS_BRANCH} from ${remote} failed: ${result.stderr.trim()}`,
    `check that the remote ${remote} is reachable (git remote -v; git fetch ${remote})`,
    EXIT.failed,
  );
}

/** Every recorded deploy of `stack`, oldest first. */
export async function stackReleases(cwd: string, remote: string, stack: Stack): Promise<StackRelease[]> {
  if (!(await fetchRecords(cwd, remote))) return [];
  const ref = trackingRef(remote);
  const names = (await listAt(cwd, ref, stack)).filter((name) => name.endsWith('.json')).sort();
  const releases: StackRelease[] = [];
  for (const name of names) {
    const where = `${RECORDS_BRANCH}:${stack}/${name}`;
    const text = (await readAt(cwd, ref, `${stack}/${name}`)) ?? '';
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ReleaseError(
        `${where} is not JSON: ${(error as Error).message}`,
        `restore it from the branch's history (git log ${RECORDS_BRANCH} -- ${stack}/${name})`,
        EXIT.usage,
      );
    }
    const parsed = stackReleaseSchema.safeParse(value);
    if (!parsed.success) {
      throw new ReleaseError(
        `${where} is not a stack release: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
        `restore it from the branch's history (git log ${RECORDS_BRANCH} -- ${stack}/${name})`,
        EXIT.usage,
      );
    }
    releases.push({ ...parsed.data, record: parseReleaseRecord(parsed.data.record, where) });
  }
  // ids resolve seconds only; the finish time orders two deploys of one second
  const at = (release: StackRelease): string => release.record.finishedAt ?? release.record.startedAt;
  return releases.sort((a, b) => at(a).localeCompare(at(b)) || a.record.id.localeCompare(b.record.id));
}

export interface RecordDeployOptions {
  readonly cwd: string;
  readonly remote: string;
  readonly stack: Stack;
  readonly images: { readonly app: string; readonly gate: string };
  readonly commit: string;
  readonly outcome: 'promoted' | 'rolled-back';
  readonly reason?: string;
  readonly startedAt?: string;
  readonly evidence?: ReleaseEvidence;
  readonly now?: Date;
}

/**
 * Records one deploy of a stack on the records branch and pushes it; a push that loses a race with another record
 * fetches and tries again on top.
 */
export async function recordDeploy(options: RecordDeployOptions): Promise<StackRelease> {
  const now = options.now ?? new Date();
  const id = releaseId(now, options.images.app);
  const record: ReleaseRecord = {
    schemaVersion: 1,
    id,
    plan: RELEASE_PLAN.name,
    profile: 'production',
    canary: {
      digest: options.images.app,
      namespace: 'erp',
      podTemplateHash: options.images.app.replace(/^sha256:/, '').slice(0, 10),
    },
    startedAt: options.startedAt ?? now.toISOString(),
    finishedAt: now.toISOString(),
    outcome: options.outcome,
    ...(options.reason === undefined ? {} : { reason: options.reason }),
    // the cluster's AnalysisRuns judged each stage; their verdicts stay in the cluster (Argo Rollouts)
    stages: [],
    ...(options.evidence === undefined ? {} : { evidence: options.evidence }),
    timings: {},
  };
  const release: StackRelease = {
    schemaVersion: 1,
    environment: options.stack,
    images: options.images,
    commit: options.commit,
    record,
  };
  for (let attempt = 1; ; attempt += 1) {
    const exists = await fetchRecords(options.cwd, options.remote);
    const parent = exists ? await resolveRef(options.cwd, trackingRef(options.remote)) : undefined;
    const commit = await commitFiles(
      options.cwd,
      parent,
      { [`${options.stack}/${id}.json`]: `${JSON.stringify(release, null, 2)}\n` },
      `record(${options.stack}): ${options.outcome} ${options.images.app}`,
    );
    const push = await run('git', ['push', '--quiet', options.remote, `${commit}:refs/heads/${RECORDS_BRANCH}`], {
      cwd: options.cwd,
    });
    if (push.code === 0) {
      await git(options.cwd, ['update-ref', trackingRef(options.remote), commit], 'updating the records ref');
      return release;
    }
    if (attempt >= 3 || !/rejected|non-fast-forward|fetch first/i.test(push.stderr)) {
      throw new ReleaseError(
        `pushing the record of ${options.stack} to ${options.remote} ${RECORDS_BRANCH} failed: ${push.stderr.trim()}`,
        `check the token may push to ${RECORDS_BRANCH} (contents: write), then run the command again`,
        EXIT.failed,
      );
    }
  }
}
