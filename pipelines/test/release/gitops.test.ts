/** The GitOps command line, CODEOWNERS, API error messages and the fake GitHub's own checks, without git or a registry. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { main } from '../../src/release/cli.js';
import { EXIT } from '../../src/release/errors.js';
import {
  describeResult,
  gitHubFromEnv,
  isGitOpsCommand,
  parseGitOps,
  rollbackAfterAbort,
} from '../../src/release/gitops/cli.js';
import { ownersOf } from '../../src/release/gitops/codeowners.js';
import {
  environmentFilePath,
  evidenceFilePath,
  parseEnvironmentFile,
  PLACEHOLDER_DIGEST,
} from '../../src/release/gitops/environment-file.js';
import { explainApiError } from '../../src/release/gitops/github.js';
import { CODEOWNERS_FILE, type GitOpsResult } from '../../src/release/gitops/promote.js';
import { repoRoot } from '../../src/platform/paths.js';
import type { ReleaseRecord } from '../../src/release/release-record.js';
import { FakeGitHub } from '../../src/testing/github-api.js';
import { FakeRepository } from '../../src/testing/github-pulls.js';

const DIGEST = `sha256:${'a1'.repeat(32)}`;
const quiet = (): undefined => undefined;
const SILENT = { debug: quiet, info: quiet, warn: quiet, error: quiet };

function collect(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

describe('the GitOps command line', () => {
  it('is promote with --to, rollback and record; a bare promote stays the canary executor', () => {
    expect(isGitOpsCommand(['promote', '--to', 'dev', DIGEST])).toBe(true);
    expect(isGitOpsCommand(['promote', `--to=staging`, DIGEST])).toBe(true);
    expect(isGitOpsCommand(['promote'])).toBe(false);
    expect(isGitOpsCommand(['rollback', 'prod'])).toBe(true);
    expect(isGitOpsCommand(['record', 'prod', '--outcome', 'promoted'])).toBe(true);
  });

  it('reads the stack, the digest and the defaults', () => {
    expect(parseGitOps(['promote', '--to', 'dev', DIGEST], {})).toEqual({
      command: 'promote',
      stack: 'dev',
      digest: DIGEST,
      json: false,
      base: 'main',
      remote: 'origin',
      mainRef: 'origin/main',
      registry: '127.0.0.1:5000',
    });
    expect(parseGitOps(['rollback', 'prod', '--base', 'trunk'], { SLIPWAY_REGISTRY: '127.0.0.1:5999' })).toMatchObject({
      command: 'rollback',
      stack: 'prod',
      mainRef: 'origin/trunk',
      registry: '127.0.0.1:5999',
    });
    expect(parseGitOps(['record', 'staging', '--outcome', 'rolled-back', '--reason', 'Rollout aborted'])).toMatchObject(
      { command: 'record', stack: 'staging', outcome: 'rolled-back', reason: 'Rollout aborted' },
    );
  });

  it('refuses a bad stack, digest, flag or outcome with exit 2 and what to do', () => {
    const cases: [string[], RegExp][] = [
      [['promote', '--to', 'qa', DIGEST], /--to "qa" is not a stack/],
      [['promote', '--to', 'dev'], /promote takes --to <stack> and one digest/],
      [['promote', '--to', 'dev', 'sha256:abc'], /the digest "sha256:abc" is not sha256: followed by 64 lowercase hex/],
      [['promote', '--to', 'dev', DIGEST, '--gate-digest', 'latest'], /--gate-digest "latest" is not sha256:/],
      [['promote', '--to', 'dev', DIGEST, '--outcome', 'promoted'], /--outcome do not apply to promote/],
      [['rollback', 'prod', 'staging'], /rollback takes one stack/],
      [['rollback', 'prod', '--to', 'dev'], /--to do not apply to rollback/],
      [['record', 'prod'], /record needs --outcome promoted or rolled-back, got null/],
      [['record', 'prod', '--outcome', 'done'], /got "done"/],
      [['promote', '--to', 'dev', DIGEST, '--certificate-identity', 'https://x'], /go together/],
      [['promote', '--to', 'dev', DIGEST, '--fast'], /Unknown option '--fast'/],
    ];
    for (const [argv, message] of cases) expect(() => parseGitOps(argv, {}), argv.join(' ')).toThrow(message);
  });

  it('answers through npm run release with exit 2 and a structured --json error', async () => {
    const out = collect();
    expect(await main(['promote', '--to', 'preprod', DIGEST, '--json'], out.stream)).toBe(EXIT.usage);
    expect(JSON.parse(out.text())).toMatchObject({
      ok: false,
      exitCode: 2,
      error: '--to "preprod" is not a stack',
      fix: 'name one of dev, staging, prod',
    });
    const help = collect();
    await main(['--help'], help.stream);
    for (const word of [
      'promote --to <dev|staging|prod> <digest>',
      'rollback <stack>',
      'GITHUB_TOKEN',
      '--rollback-pr',
    ])
      expect(help.text()).toContain(word);
  });

  it('takes GitHub from GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL', () => {
    expect(gitHubFromEnv({})).toBeUndefined();
    expect(gitHubFromEnv({ GITHUB_TOKEN: 't', GITHUB_REPOSITORY: 'slipway/slipway' })).toEqual({
      token: 't',
      repository: 'slipway/slipway',
      apiUrl: 'https://api.github.com',
    });
    expect(
      gitHubFromEnv({ GITHUB_TOKEN: 't', GITHUB_REPOSITORY: 'o/r', GITHUB_API_URL: 'https://ghe.example/api/v3/' })
        ?.apiUrl,
    ).toBe('https://ghe.example/api/v3');
    expect(() => gitHubFromEnv({ GITHUB_TOKEN: 't' })).toThrow('GITHUB_REPOSITORY="" is not owner/name');
    expect(() => gitHubFromEnv({ GITHUB_TOKEN: 't', GITHUB_REPOSITORY: 'o/r', GITHUB_API_URL: 'ftp://x' })).toThrow(
      /GITHUB_API_URL="ftp:\/\/x" is not an http\(s\) URL/,
    );
    expect(() => parseGitOps(['promote', '--to', 'dev', DIGEST, '--rollback-pr', 'dev'])).toThrow(/rollback-pr/);
  });

  it('without a token prints the branch, how to push it and the whole pull request text', () => {
    const result = {
      branch: 'promote/dev',
      commit: 'c0ffee',
      files: ['infra/environments/dev.yaml', 'infra/environments/dev.evidence.json'],
      title: 'Promote erp-api a1a1 to dev',
      body: '## Promote erp-api a1a1 to dev\n',
      labels: ['environment:dev', 'promotion'],
      reviewers: [],
      teamReviewers: [],
    } as unknown as GitOpsResult;
    const text = describeResult(result, 'origin', 'main');
    expect(text).toContain(
      'GITHUB_TOKEN is not set: the branch promote/dev is committed in this checkout only (c0ffee)',
    );
    expect(text).toContain('git push --force origin promote/dev');
    expect(text).toContain('labels:    environment:dev, promotion');
    expect(text.endsWith('## Promote erp-api a1a1 to dev\n\n')).toBe(true);
  });

  it('deploy --rollback-pr opens the rollback pull request only when the release ended rolled back', async () => {
    const opened: string[] = [];
    const open = (stack: string): Promise<void> => {
      opened.push(stack);
      return Promise.resolve();
    };
    const record = (outcome: ReleaseRecord['outcome']) => ({ outcome }) as ReleaseRecord;
    expect(await rollbackAfterAbort(record('promoted'), 'dev', open)).toBe(false);
    expect(await rollbackAfterAbort(record('refused'), 'dev', open)).toBe(false);
    expect(await rollbackAfterAbort(record('rolled-back'), undefined, open)).toBe(false);
    expect(await rollbackAfterAbort(record('rolled-back'), 'staging', open)).toBe(true);
    expect(opened).toEqual(['staging']);
  });
});

describe('CODEOWNERS', () => {
  const file = [
    '# owners',
    '*                              @slipway/platform-team',
    '/infra/environments/           @env-owner',
    '/infra/environments/prod.*     @release-lead @slipway/release-managers # prod',
    '*.md                           @docs',
  ].join('\n');

  it('takes the last matching line, users and teams apart', () => {
    expect(ownersOf(file, 'infra/environments/prod.yaml')).toEqual({
      users: ['release-lead'],
      teams: ['release-managers'],
    });
    expect(ownersOf(file, 'infra/environments/dev.yaml')).toEqual({ users: ['env-owner'], teams: [] });
    expect(ownersOf(file, 'app/src/index.ts')).toEqual({ users: [], teams: ['platform-team'] });
    expect(ownersOf(file, 'runbooks/deploy.md')).toEqual({ users: ['docs'], teams: [] });
    expect(ownersOf('', 'x')).toEqual({ users: [], teams: [] });
  });

  it("the repository's file names who reviews prod's environment file", () => {
    const committed = readFileSync(join(repoRoot, CODEOWNERS_FILE), 'utf8');
    expect(ownersOf(committed, environmentFilePath('prod'))).toEqual({ users: [], teams: ['release-managers'] });
    expect(ownersOf(committed, evidenceFilePath('prod'))).toEqual({ users: [], teams: ['release-managers'] });
  });
});

describe('API errors', () => {
  const failure = (status: number, headers: Record<string, string>, message = 'no') =>
    Object.assign(new Error(message), {
      status,
      request: { method: 'POST', url: 'https://api.github.com/repos/o/r/pulls' },
      response: { headers, data: { message } },
    });
  const now = new Date('2026-12-05T01:00:00Z');

  it('say when a rate limit lifts, from Retry-After or x-ratelimit-reset', () => {
    expect(explainApiError(failure(429, { 'retry-after': '30' }), 'opening', now).message).toBe(
      "opening: GitHub's rate limit stopped POST /repos/o/r/pulls (429: no); it may be called again in 30 s, at 2026-12-05T01:00:30.000Z",
    );
    const reset = String(Date.parse('2026-12-05T01:10:00Z') / 1000);
    expect(
      explainApiError(failure(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset }), 'opening', now)
        .message,
    ).toContain('in 600 s, at 2026-12-05T01:10:00.000Z');
    const forbidden = explainApiError(failure(403, {}, 'Resource not accessible by integration'), 'opening', now);
    expect(forbidden.exitCode).toBe(EXIT.usage);
    expect(forbidden.fix).toContain('pull-requests: write');
    expect(explainApiError(new TypeError('fetch failed'), 'opening', now).message).toBe(
      'opening: GitHub did not answer (fetch failed)',
    );
  });
});

describe('the environment file', () => {
  it('parses what promotion writes and names the field of a bad one', () => {
    const text = `environment: dev\nimages:\n  app: ${DIGEST}\n  gate: ${PLACEHOLDER_DIGEST}\nrelease:\n  kind: promotion\n  record: 20261205T001000Z-a1a1a1a1\n  recordEnvironment: local\n`;
    expect(parseEnvironmentFile(text, 'dev.yaml', 'dev').file?.release?.record).toBe('20261205T001000Z-a1a1a1a1');
    expect(parseEnvironmentFile(text.replace('local', 'qa'), 'dev.yaml', 'dev').problems).toEqual([
      expect.stringMatching(/^dev\.yaml: release\.recordEnvironment="qa" is invalid: must be one of local, dev/),
    ]);
  });
});

describe('the fake GitHub API', () => {
  const repository = new FakeRepository('slipway', 'slipway');
  let octokit: Octokit;
  beforeAll(async () => {
    octokit = new Octokit({
      baseUrl: await repository.github.start(),
      log: SILENT,
    });
  });
  afterAll(() => repository.github.stop());

  it('refuses a request GitHub would not take: wrong types, a missing or unknown field, an unknown operation', async () => {
    // untyped on purpose: these are the requests the typed client would not let through
    const request = octokit.request as unknown as (route: string, parameters: object) => Promise<unknown>;
    await expect(
      request('POST /repos/{owner}/{repo}/pulls', {
        owner: 'slipway',
        repo: 'slipway',
        title: 3,
        head: 'x',
        bsae: 'main',
      }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      request('GET /repos/{owner}/{repo}/pulls', { owner: 'slipway', repo: 'slipway', state: 'merged' }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      request('GET /repos/{owner}/{repo}/pulls/{pull_number}/nothing', {
        owner: 'o',
        repo: 'r',
        pull_number: 1,
      }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { owner: 'o', repo: 'r', pull_number: 'one' }),
    ).rejects.toMatchObject({ status: 400 });
    expect(repository.github.violations).toEqual([
      expect.stringMatching(
        /pulls\/create\): body .*must have required property 'base'.*must NOT have additional properties.*\/title must be string/,
      ),
      expect.stringMatching(
        /pulls\/list\): query parameter state="merged": .*must be equal to one of the allowed values/,
      ),
      "GET /repos/o/r/pulls/1/nothing is no operation of GitHub's REST API",
      expect.stringMatching(/pulls\/update\): path parameter pull_number="one": .*must be integer/),
    ]);
    repository.github.violations.length = 0;
  });

  it("answers with what GitHub's schema allows, and fails on an answer it does not", async () => {
    const created = await octokit.rest.pulls.create({
      owner: 'slipway',
      repo: 'slipway',
      title: 't',
      head: 'h',
      base: 'main',
    });
    expect(created.data).toMatchObject({ number: 1, state: 'open', head: { ref: 'h' } });
    expect(repository.github.violations).toEqual([]);
    const broken = new FakeGitHub({ 'pulls/get': () => ({ status: 200, body: { number: 'one' } }) });
    const url = await broken.start();
    try {
      await expect(
        new Octokit({ baseUrl: url, log: SILENT }).rest.pulls.get({
          owner: 'o',
          repo: 'r',
          pull_number: 1,
        }),
      ).rejects.toMatchObject({ status: 500 });
      expect(broken.violations).toEqual([
        expect.stringMatching(/^the fake's answer to pulls\/get \(200\) breaks GitHub's schema: /),
      ]);
    } finally {
      await broken.stop();
    }
  });
});
