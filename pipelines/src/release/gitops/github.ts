/** The pull-request calls promotion and rollback make, through @octokit/rest, and what their failures mean. */
import { Octokit } from '@octokit/rest';

import { EXIT, ReleaseError } from '../errors.js';

export interface GitHubTarget {
  readonly token: string;
  /** `owner/name`, as GITHUB_REPOSITORY holds it. */
  readonly repository: string;
  /** GITHUB_API_URL; https://api.github.com by default. */
  readonly apiUrl: string;
}

export interface PullRequestSpec {
  readonly branch: string;
  readonly base: string;
  readonly title: string;
  readonly body: string;
  readonly labels: readonly string[];
  readonly reviewers: readonly string[];
  readonly teamReviewers: readonly string[];
}

export interface OpenedPullRequest {
  readonly number: number;
  readonly url: string;
  /** True when a pull request for the branch was already open and this one updated it. */
  readonly updated: boolean;
}

interface RequestFailure {
  readonly status: number;
  readonly message: string;
  readonly request?: { method?: string; url?: string };
  readonly response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
}

const isRequestFailure = (error: unknown): error is RequestFailure =>
  typeof error === 'object' && error !== null && typeof (error as { status?: unknown }).status === 'number';

/** When GitHub says the call may be made again: Retry-After (seconds), else x-ratelimit-reset (epoch seconds). */
function retryAt(headers: Record<string, string | number | undefined>, now: Date): Date | undefined {
  const after = headers['retry-after'];
  if (after !== undefined && /^\d+$/.test(String(after))) return new Date(now.getTime() + Number(after) * 1000);
  const reset = headers['x-ratelimit-reset'];
  if (reset !== undefined && /^\d+$/.test(String(reset))) return new Date(Number(reset) * 1000);
  return undefined;
}

/** A failed API call as a ReleaseError: what GitHub said, to which call, and what to do. */
export function explainApiError(error: unknown, what: string, now: Date = new Date()): ReleaseError {
  if (!isRequestFailure(error)) {
    const reason = error instanceof Error ? error.message : String(error);
    return new ReleaseError(
      `${what}: GitHub did not answer (${reason})`,
      'check GITHUB_API_URL and the network, then run the command again',
      EXIT.failed,
      { cause: error },
    );
  }
  const call = `${error.request?.method ?? ''} ${(error.request?.url ?? '').replace(/^https?:\/\/[^/]+/, '')}`.trim();
  const headers = error.response?.headers ?? {};
  const data = (error.response?.data ?? {}) as {
    message?: string;
    errors?: readonly { message?: string; code?: string; field?: string }[];
  };
  const said = data.message ?? error.message;
  const rateLimited =
    error.status === 429 ||
    (error.status === 403 &&
      (headers['retry-after'] !== undefined || String(headers['x-ratelimit-remaining']) === '0'));
  if (rateLimited) {
    const at = retryAt(headers, now);
    const wait = at === undefined ? undefined : Math.max(0, Math.ceil((at.getTime() - now.getTime()) / 1000));
    return new ReleaseError(
      `${what}: GitHub's rate limit stopped ${call} (${String(error.status)}: ${said})` +
        (at === undefined ? '' : `; it may be called again in ${String(wait)} s, at ${at.toISOString()}`),
      `wait${at === undefined ? ' a few minutes' : ` until ${at.toISOString()}`} and run the same command again; nothing was left behind`,
      EXIT.failed,
      { cause: error },
    );
  }
  if (error.status === 401) {
    return new ReleaseError(
      `${what}: GitHub refused the token (401 ${said}) on ${call}`,
      'set GITHUB_TOKEN to a valid token of the repository (in Actions: permissions contents: write and pull-requests: write), or unset it to write the branch locally',
      EXIT.usage,
      { cause: error },
    );
  }
  if (error.status === 403 || error.status === 404) {
    return new ReleaseError(
      `${what}: GitHub answered ${String(error.status)} (${said}) to ${call}`,
      'the token cannot open pull requests in GITHUB_REPOSITORY: check the repository name and grant contents: write and pull-requests: write',
      EXIT.usage,
      { cause: error },
    );
  }
  if (error.status === 422) {
    const details = (data.errors ?? [])
      .map((e) => e.message ?? [e.field, e.code].filter(Boolean).join(' '))
      .filter((line) => line !== '');
    return new ReleaseError(
      `${what}: GitHub refused ${call} (422 ${said}${details.length > 0 ? `: ${details.join('; ')}` : ''})`,
      'check that the base branch exists and the reviewers are collaborators, then run the command again',
      EXIT.failed,
      { cause: error },
    );
  }
  return new ReleaseError(
    `${what}: GitHub answered ${String(error.status)} (${said}) to ${call}`,
    'run the command again; if it keeps failing, see https://www.githubstatus.com',
    EXIT.failed,
    { cause: error },
  );
}

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Talks to one repository's pull requests. */
export class PullRequests {
  private readonly octokit: Octokit;
  private readonly owner: string;
  private readonly repo: string;

  constructor(target: GitHubTarget) {
    const [owner = '', repo = ''] = target.repository.split('/');
    this.owner = owner;
    this.repo = repo;
    this.octokit = new Octokit({
      auth: target.token,
      baseUrl: target.apiUrl,
      log: silent,
      userAgent: 'slipway-release',
    });
  }

  /** The open pull request of `branch` into `base`, if any. */
  async findOpen(branch: string, base: string): Promise<{ number: number; url: string } | undefined> {
    try {
      const { data } = await this.octokit.rest.pulls.list({
        owner: this.owner,
        repo: this.repo,
        state: 'open',
        head: `${this.owner}:${branch}`,
        base,
      });
      const found = data[0];
      return found === undefined ? undefined : { number: found.number, url: found.html_url };
    } catch (error) {
      throw explainApiError(error, `looking for an open pull request of ${branch}`);
    }
  }

  /** Opens the pull request, or edits the one already open; then sets its labels and reviewers. */
  async openOrUpdate(
    spec: PullRequestSpec,
    existing: { number: number; url: string } | undefined,
  ): Promise<OpenedPullRequest> {
    let pull: { number: number; url: string };
    try {
      if (existing === undefined) {
        const { data } = await this.octokit.rest.pulls.create({
          owner: this.owner,
          repo: this.repo,
          title: spec.title,
          head: spec.branch,
          base: spec.base,
          body: spec.body,
        });
        pull = { number: data.number, url: data.html_url };
      } else {
        const { data } = await this.octokit.rest.pulls.update({
          owner: this.owner,
          repo: this.repo,
          pull_number: existing.number,
          title: spec.title,
          body: spec.body,
        });
        pull = { number: data.number, url: data.html_url };
      }
    } catch (error) {
      throw explainApiError(
        error,
        `${existing === undefined ? 'opening' : 'updating'} the pull request of ${spec.branch}`,
      );
    }
    try {
      if (spec.labels.length > 0)
        await this.octokit.rest.issues.addLabels({
          owner: this.owner,
          repo: this.repo,
          issue_number: pull.number,
          labels: [...spec.labels],
        });
      if (spec.reviewers.length > 0 || spec.teamReviewers.length > 0)
        await this.octokit.rest.pulls.requestReviewers({
          owner: this.owner,
          repo: this.repo,
          pull_number: pull.number,
          reviewers: [...spec.reviewers],
          team_reviewers: [...spec.teamReviewers],
        });
    } catch (error) {
      const explained = explainApiError(error, `labelling pull request #${String(pull.number)}`);
      throw Object.assign(explained, { pullRequest: { ...pull, created: existing === undefined } });
    }
    return { ...pull, updated: existing !== undefined };
  }

  /** Closes a pull request this run opened and could not finish; best effort, as the branch goes too. */
  async close(number: number): Promise<void> {
    await this.octokit.rest.pulls.update({ owner: this.owner, repo: this.repo, pull_number: number, state: 'closed' });
  }
}
