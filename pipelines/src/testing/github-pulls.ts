/**
 * The pull requests of one repository as the fake GitHub keeps them: create, list, update, labels and review
 * requests, each answer built from GitHub's own examples with this repository's values put in.
 */
import { example, FakeGitHub, type FakeRequest, type FakeResponse } from './github-api.js';

type Json = Record<string, unknown>;

export interface FakePull {
  number: number;
  title: string;
  body: string;
  head: string;
  base: string;
  state: 'open' | 'closed';
  labels: string[];
  reviewers: string[];
}

export class FakeRepository {
  readonly pulls: FakePull[] = [];
  readonly github: FakeGitHub;

  constructor(
    readonly owner: string,
    readonly repo: string,
  ) {
    this.github = new FakeGitHub({
      'pulls/list': (request) => this.list(request),
      'pulls/create': (request) => this.create(request),
      'pulls/update': (request) => this.update(request),
      'issues/add-labels': (request) => this.addLabels(request),
      'pulls/request-reviewers': (request) => this.requestReviewers(request),
    });
  }

  open(): FakePull[] {
    return this.pulls.filter((pull) => pull.state === 'open');
  }

  private ours(request: FakeRequest): boolean {
    return request.params.owner === this.owner && request.params.repo === this.repo;
  }

  private find(request: FakeRequest, key: string): FakePull | undefined {
    return this.ours(request) ? this.pulls.find((pull) => String(pull.number) === request.params[key]) : undefined;
  }

  private repository(): Json {
    const repository = (example('pull-request') as Json).base as Json;
    const base = repository.repo as Json;
    return {
      ...base,
      name: this.repo,
      full_name: `${this.owner}/${this.repo}`,
      html_url: `https://github.com/${this.owner}/${this.repo}`,
    };
  }

  private render(pull: FakePull, simple: boolean): Json {
    const template = simple
      ? ((example('pull-request-simple-items') as Json[])[0] ?? {})
      : (example('pull-request') as Json);
    const label = (example('label-items') as Json[])[0] ?? {};
    const user = (template.user ?? {}) as Json;
    const side = (ref: string, side: Json): Json => ({
      ...side,
      ref,
      label: `${this.owner}:${ref}`,
      repo: this.repository(),
    });
    const url = `https://api.github.com/repos/${this.owner}/${this.repo}/pulls/${String(pull.number)}`;
    return {
      ...template,
      url,
      html_url: `https://github.com/${this.owner}/${this.repo}/pull/${String(pull.number)}`,
      number: pull.number,
      state: pull.state,
      title: pull.title,
      body: pull.body,
      labels: pull.labels.map((name, index) => ({ ...label, id: index + 1, name })),
      requested_reviewers: pull.reviewers.map((login, index) => ({ ...user, id: index + 100, login })),
      requested_teams: [],
      head: side(pull.head, template.head as Json),
      base: side(pull.base, template.base as Json),
    };
  }

  private list(request: FakeRequest): FakeResponse {
    if (!this.ours(request)) return { status: 200, body: [] };
    const state = request.query.state ?? 'open';
    const found = this.pulls.filter(
      (pull) =>
        (state === 'all' || pull.state === state) &&
        (request.query.head === undefined || `${this.owner}:${pull.head}` === request.query.head) &&
        (request.query.base === undefined || pull.base === request.query.base),
    );
    return { status: 200, body: found.map((pull) => this.render(pull, true)) };
  }

  private create(request: FakeRequest): FakeResponse {
    const body = request.body as { title?: string; head?: string; base?: string; body?: string };
    if (!this.ours(request)) return { status: 404, body: { message: 'Not Found' } };
    if (this.open().some((pull) => pull.head === body.head)) {
      return {
        status: 422,
        body: {
          message: 'Validation Failed',
          errors: [
            {
              resource: 'PullRequest',
              code: 'custom',
              message: `A pull request already exists for ${this.owner}:${body.head ?? ''}.`,
            },
          ],
          documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
        },
      };
    }
    const pull: FakePull = {
      number: this.pulls.length + 1,
      title: body.title ?? '',
      body: body.body ?? '',
      head: body.head ?? '',
      base: body.base ?? '',
      state: 'open',
      labels: [],
      reviewers: [],
    };
    this.pulls.push(pull);
    return { status: 201, body: this.render(pull, false) };
  }

  private update(request: FakeRequest): FakeResponse {
    const pull = this.find(request, 'pull_number');
    if (pull === undefined) return { status: 404, body: { message: 'Not Found' } };
    const body = request.body as { title?: string; body?: string; state?: 'open' | 'closed' };
    if (body.title !== undefined) pull.title = body.title;
    if (body.body !== undefined) pull.body = body.body;
    if (body.state !== undefined) pull.state = body.state;
    return { status: 200, body: this.render(pull, false) };
  }

  private addLabels(request: FakeRequest): FakeResponse {
    const pull = this.find(request, 'issue_number');
    if (pull === undefined) return { status: 404, body: { message: 'Not Found' } };
    const body = request.body as { labels?: (string | { name: string })[] };
    for (const label of body.labels ?? []) {
      const name = typeof label === 'string' ? label : label.name;
      if (!pull.labels.includes(name)) pull.labels.push(name);
    }
    const template = (example('label-items') as Json[])[0] ?? {};
    return { status: 200, body: pull.labels.map((name, index) => ({ ...template, id: index + 1, name })) };
  }

  private requestReviewers(request: FakeRequest): FakeResponse {
    const pull = this.find(request, 'pull_number');
    if (pull === undefined) return { status: 404, body: { message: 'Not Found' } };
    const body = request.body as { reviewers?: string[] };
    for (const login of body.reviewers ?? []) if (!pull.reviewers.includes(login)) pull.reviewers.push(login);
    return { status: 201, body: this.render(pull, true) };
  }
}
