/**
 * Promotion and rollback against a real git repository with a bare remote on disk, real signed images in a real
 * registry (cosign, the local key), and the fake GitHub API that checks every request and answer against GitHub's
 * OpenAPI description.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { localDir } from '../../src/platform/paths.js';
import { silentProgress } from '../../src/platform/progress.js';
import { releaseId } from '../../src/release/canary/store.js';
import { attest, ensureSigningKey, signDigest, type SigningKey } from '../../src/release/cosign.js';
import { EXIT, ReleaseError } from '../../src/release/errors.js';
import { runOk } from '../../src/release/exec.js';
import {
  environmentFilePath,
  evidenceFilePath,
  PLACEHOLDER_DIGEST,
  renderEnvironmentFile,
  type Stack,
  STACKS,
} from '../../src/release/gitops/environment-file.js';
import { commitFiles } from '../../src/release/gitops/git.js';
import { type GitOpsOptions, promote, rollback } from '../../src/release/gitops/promote.js';
import { recordDeploy } from '../../src/release/gitops/records.js';
import { ATTESTATION_TYPES } from '../../src/release/identity.js';
import { RELEASE_PLAN } from '../../src/release/plan.js';
import type { GateResult, ReleaseRecord, StageRecord } from '../../src/release/release-record.js';
import { parseReference } from '../../src/release/verify.js';
import { FakeRepository } from '../../src/testing/github-pulls.js';
import { pushTestImage, startRegistry } from './support.js';

const SLOW = 120_000;
const dir = join(localDir, 'test', `run-${String(process.pid)}-promote`);
const scope = join('test', `run-${String(process.pid)}-promote`, 'platform');
const artifacts = join(localDir, 'test-artifacts');

let registry: Awaited<ReturnType<typeof startRegistry>>;
let key: SigningKey;
/** The commit every test image's provenance names; the template repository's first commit. */
let mainCommit = '';
const digests: Record<'a1' | 'a2' | 'a3' | 'gate' | 'unsigned', string> = {
  a1: '',
  a2: '',
  a3: '',
  gate: '',
  unsigned: '',
};

const git = async (cwd: string, ...args: string[]): Promise<string> =>
  (await runOk('git', args, `git ${args.join(' ')}`, { cwd })).stdout.trim();

/** Signs the image and attests SBOM, provenance (on `mainCommit`) and a passing scan, as `sign` does. */
async function signed(repository: string, text: string, sign = true): Promise<string> {
  const reference = await pushTestImage(registry.address, repository, 'test', text);
  const digest = parseReference(reference).digest ?? '';
  if (!sign) return digest;
  await signDigest(reference, key);
  const predicates = {
    [ATTESTATION_TYPES.sbom]: { bomFormat: 'CycloneDX', specVersion: '1.6', components: [{ name: 'express' }] },
    [ATTESTATION_TYPES.provenance]: { buildDefinition: { externalParameters: { ref: mainCommit } } },
    [ATTESTATION_TYPES.scan]: { verdict: 'pass', scannedAt: new Date().toISOString(), digest, counts: {} },
  };
  for (const [type, predicate] of Object.entries(predicates)) {
    const file = join(dir, `${digest.slice(7, 19)}-${encodeURIComponent(type)}.json`);
    writeFileSync(file, JSON.stringify(predicate));
    await attest(reference, type, file, key);
  }
  return digest;
}

/** The stages a promoted local rehearsal records: the plan's weights, each gate with the numbers it measured. */
function rehearsalStages(start: number): StageRecord[] {
  const at = (seconds: number): string => new Date(start + seconds * 1000).toISOString();
  return RELEASE_PLAN.stages.map((stage, index) => ({
    index: index + 1,
    weight: stage.weight,
    startedAt: at(index * 20),
    weightAppliedAt: at(index * 20 + 1),
    finishedAt: at(index * 20 + 19),
    gates: stage.gates.map((gate): GateResult =>
      gate.kind === 'load'
        ? {
            kind: 'load' as const,
            name: 'gate',
            verdict: 'passed' as const,
            startedAt: at(index * 20 + 4),
            finishedAt: at(index * 20 + 14),
            numbers: { exitCode: 0, requests: 200, canaryP99Ms: 38.2, canaryErrorRatio: 0 },
            detail: 'canary-gate passed: p99 38.2 ms within 1.5 × stable, no errors',
          }
        : {
            kind: 'slo' as const,
            name: gate.slo,
            verdict: 'passed' as const,
            startedAt: at(index * 20 + 15),
            finishedAt: at(index * 20 + 16),
            numbers:
              gate.slo === 'availability'
                ? { threshold: 0.999, canaryGoodRatio: 1, stableGoodRatio: 1 }
                : { threshold: 0.99, canaryGoodRatio: 0.9968, stableGoodRatio: 0.9975 },
            detail: `${gate.slo}: canary at or above the objective (stable beside it)`,
          },
    ),
  }));
}

/** What the local canary executor writes for a release of `digest` that reached 100 %. */
function writeRehearsal(digest: string, outcome: ReleaseRecord['outcome'] = 'promoted'): ReleaseRecord {
  const start = Date.parse('2026-12-05T00:10:00Z') + Math.floor(Math.random() * 1000) * 1000;
  const record: ReleaseRecord = {
    schemaVersion: 1,
    id: releaseId(new Date(start), digest),
    plan: RELEASE_PLAN.name,
    profile: 'local',
    canary: { digest, namespace: 'local', podTemplateHash: digest.slice(7, 17) },
    stable: { digest: 'source', namespace: 'local', podTemplateHash: 'source' },
    startedAt: new Date(start).toISOString(),
    finishedAt: new Date(start + 80_000).toISOString(),
    outcome,
    stages: rehearsalStages(start),
    evidence: {
      image: `${registry.address}/slipway/erp-api@${digest}`,
      digest,
      signerIdentity: `key ${key.publicKey}`,
      sbom: { format: 'CycloneDX', packages: 1 },
      scan: {
        verdict: 'pass',
        findings: 1,
        exceptions: ['GHSA-p6mc-m468-83gw on package-lock.json (exception lodash-template-unused)'],
      },
    },
    timings: { totalSeconds: 80, droppedRequests: 0 },
  };
  const releases = join(localDir, scope, 'releases');
  mkdirSync(releases, { recursive: true });
  writeFileSync(join(releases, `${record.id}.json`), `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

interface Checkout {
  readonly work: string;
  readonly remote: string;
  readonly fake: FakeRepository;
  readonly options: GitOpsOptions;
}

let checkouts = 0;
const opened: Checkout[] = [];

/** A repository as main holds it (environment files at the placeholder, CODEOWNERS), its bare remote and a fake GitHub. */
async function checkout(withToken = true): Promise<Checkout> {
  checkouts += 1;
  const root = join(dir, `repo-${String(checkouts)}`);
  const remote = join(root, 'remote.git');
  const work = join(root, 'work');
  mkdirSync(work, { recursive: true });
  await git(root, 'init', '--quiet', '--bare', '--initial-branch=main', remote);
  await git(root, 'clone', '--quiet', join(dir, 'template'), work);
  await git(work, 'remote', 'set-url', 'origin', remote);
  await git(work, 'push', '--quiet', 'origin', 'main');
  const fake = new FakeRepository('slipway', 'slipway');
  const url = await fake.github.start();
  const result: Checkout = {
    work,
    remote,
    fake,
    options: {
      cwd: work,
      remote: 'origin',
      base: 'main',
      registry: registry.address,
      signer: { kind: 'key', publicKey: key.publicKey },
      mainRef: 'origin/main',
      ...(withToken ? { github: { token: 'ghs_test-token', repository: 'slipway/slipway', apiUrl: url } } : {}),
      scope,
      gateDigest: digests.gate,
      reportUrl: 'https://github.com/slipway/slipway/actions/runs/1/artifacts/2',
      progress: silentProgress,
    },
  };
  opened.push(result);
  return result;
}

/** Merges the branch into main on the remote, as GitHub does when the pull request is merged. */
async function merge(at: Checkout, branch: string): Promise<void> {
  await git(at.work, 'push', '--quiet', 'origin', `refs/heads/${branch}:refs/heads/main`);
  for (const pull of at.fake.pulls) if (pull.head === branch) pull.state = 'closed';
  await git(at.work, 'push', '--quiet', 'origin', '--delete', branch);
  await git(at.work, 'branch', '-D', branch);
}

/** Pins `images` on main directly, as a merged pull request of an earlier release left them. */
async function pinOnMain(at: Checkout, stack: Stack, images: { app: string; gate: string }): Promise<void> {
  await git(at.work, 'fetch', '--quiet', 'origin', 'main');
  const parent = await git(at.work, 'rev-parse', 'origin/main');
  const file = renderEnvironmentFile({ environment: stack, images, release: null });
  const commit = await commitFiles(at.work, parent, { [environmentFilePath(stack)]: file }, `pin ${stack}`);
  await git(at.work, 'push', '--quiet', 'origin', `${commit}:refs/heads/main`);
}

async function deployed(at: Checkout, stack: Stack, app: string, outcome: 'promoted' | 'rolled-back'): Promise<void> {
  await recordDeploy({
    cwd: at.work,
    remote: 'origin',
    stack,
    images: { app, gate: digests.gate },
    commit: mainCommit,
    outcome,
  });
}

/** The error a call threw, with its message, fix and exit code. */
async function failure(call: Promise<unknown>): Promise<ReleaseError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ReleaseError) return error;
    throw error;
  }
  throw new Error('expected a ReleaseError');
}

/** Branches named like the CLI's on the remote and in the checkout. */
async function branches(at: Checkout): Promise<{ remote: string[]; local: string[] }> {
  const names = async (args: string[]): Promise<string[]> =>
    (await git(at.work, ...args)).split('\n').filter((line) => /promote\/|rollback\//.test(line));
  return {
    remote: await names(['ls-remote', '--heads', 'origin']),
    local: await names(['for-each-ref', '--format=%(refname)', 'refs/heads/']),
  };
}

beforeAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  registry = await startRegistry('promote');
  key = await ensureSigningKey(join(dir, 'key'));
  const template = join(dir, 'template');
  mkdirSync(join(template, 'infra', 'environments'), { recursive: true });
  mkdirSync(join(template, '.github'), { recursive: true });
  await git(template, 'init', '--quiet', '--initial-branch=main');
  await git(template, 'config', 'user.name', 'Test Release');
  await git(template, 'config', 'user.email', 'release@test.invalid');
  for (const stack of STACKS)
    writeFileSync(
      join(template, environmentFilePath(stack)),
      renderEnvironmentFile({
        environment: stack,
        images: { app: PLACEHOLDER_DIGEST, gate: PLACEHOLDER_DIGEST },
        release: null,
      }),
    );
  writeFileSync(
    join(template, '.github', 'CODEOWNERS'),
    '*                        @slipway/platform-team\n/infra/environments/prod.* @release-lead @slipway/release-managers\n',
  );
  await git(template, 'add', '.');
  await git(template, 'commit', '--quiet', '-m', 'environments');
  mainCommit = await git(template, 'rev-parse', 'HEAD');
  digests.a1 = await signed('slipway/erp-api', 'release one\n');
  digests.a2 = await signed('slipway/erp-api', 'release two\n');
  digests.a3 = await signed('slipway/erp-api', 'release three\n');
  digests.gate = await signed('slipway/erp-api-gate', 'gate one\n');
  digests.unsigned = await signed('slipway/erp-api', 'never signed\n', false);
  mkdirSync(artifacts, { recursive: true });
}, SLOW);

afterEach(() => {
  // every request of every test went through GitHub's description
  for (const at of opened) expect(at.fake.github.violations).toEqual([]);
});

afterAll(async () => {
  for (const at of opened) await at.fake.github.stop();
  await registry.stop();
});

describe('promote --to <stack> <digest>', () => {
  it(
    'takes a verified digest from the local rehearsal to dev, staging and prod, one pull request each',
    async () => {
      const at = await checkout();
      const rehearsal = writeRehearsal(digests.a1);

      const dev = await promote('dev', digests.a1, at.options);
      expect([...dev.files].sort()).toEqual([environmentFilePath('dev'), evidenceFilePath('dev')].sort());
      expect(dev.pullRequest).toMatchObject({ number: 1, updated: false });
      expect(at.fake.pulls[0]).toMatchObject({
        head: 'promote/dev',
        base: 'main',
        labels: ['environment:dev', 'promotion'],
        reviewers: [],
      });
      expect(await git(at.work, 'ls-remote', 'origin', 'refs/heads/promote/dev')).toContain(dev.commit);
      const devFile = await git(at.work, 'show', `${dev.commit}:${environmentFilePath('dev')}`);
      expect(devFile).toContain(`app: ${digests.a1}`);
      expect(devFile).toContain(`gate: ${digests.gate}`);
      expect(devFile).toContain(`record: ${rehearsal.id}`);
      expect(JSON.parse(await git(at.work, 'show', `${dev.commit}:${evidenceFilePath('dev')}`))).toEqual(dev.bundle);
      expect(at.fake.github.requests.map((r) => `${r.method} ${r.route}`)).toEqual([
        'GET /repos/{owner}/{repo}/pulls',
        'POST /repos/{owner}/{repo}/pulls',
        'POST /repos/{owner}/{repo}/issues/{issue_number}/labels',
      ]);
      expect(at.fake.github.requests.every((r) => r.authorization === 'token ghs_test-token')).toBe(true);

      await merge(at, 'promote/dev');
      await deployed(at, 'dev', digests.a1, 'promoted');
      const staging = await promote('staging', digests.a1, { ...at.options, gateDigest: undefined });
      expect(staging.bundle.record).toMatchObject({ environment: 'dev', outcome: 'promoted' });
      expect(staging.bundle.upstream?.record.id).toBe(rehearsal.id);

      await merge(at, 'promote/staging');
      await deployed(at, 'staging', digests.a1, 'promoted');
      const prod = await promote('prod', digests.a1, { ...at.options, gateDigest: undefined });
      const prodPull = at.fake.pulls.find((pull) => pull.head === 'promote/prod');
      expect(prodPull).toMatchObject({ labels: ['environment:prod', 'promotion'], reviewers: ['release-lead'] });
      const reviewRequest = at.fake.github.requests.find((r) => r.operationId === 'pulls/request-reviewers');
      expect(reviewRequest?.body).toEqual({ reviewers: ['release-lead'], team_reviewers: ['release-managers'] });

      for (const text of [
        digests.a1,
        digests.gate,
        `key ${key.publicKey}`,
        'CycloneDX, 1 packages',
        'pass, 1 findings',
        'GHSA-p6mc-m468-83gw on package-lock.json (exception lodash-template-unused)',
        '| 1 | 10 % | load gate | passed | exitCode 0, requests 200, canaryP99Ms 38.2, canaryErrorRatio 0 |',
        '| 3 | 50 % | slo latency | passed | threshold 0.99, canaryGoodRatio 0.9968, stableGoodRatio 0.9975 |',
        '| `slipway/erp-api` | signature | ok |',
        'https://github.com/slipway/slipway/actions/runs/1/artifacts/2',
        rehearsal.id,
      ])
        expect(prod.body).toContain(text);
      writeFileSync(join(artifacts, 'promotion-pr-body.md'), prod.body);
      writeFileSync(join(artifacts, 'promotion-pr-body-dev.md'), dev.body);
    },
    SLOW,
  );

  it(
    'refuses to skip an environment: prod needs a successful record in staging',
    async () => {
      const at = await checkout();
      await deployed(at, 'dev', digests.a2, 'promoted');
      const error = await failure(promote('prod', digests.a2, { ...at.options, gateDigest: undefined }));
      expect(error.exitCode).toBe(EXIT.refused);
      expect(error.message).toBe(
        `${digests.a2} has no successful release record in staging, the stage before prod; environments are not skipped`,
      );
      expect(error.fix).toContain(`npm run release -- promote --to staging ${digests.a2}`);
      await deployed(at, 'dev', digests.a3, 'rolled-back');
      const failed = await failure(promote('staging', digests.a3, { ...at.options, gateDigest: undefined }));
      expect(failed.message).toMatch(/no successful release record in dev.*\(its releases in dev: \S+ rolled-back\)/);
      const local = await failure(promote('dev', digests.a3, at.options));
      expect(local.message).toMatch(/has no successful release record in local, the stage before dev/);
      expect(await branches(at)).toEqual({ remote: [], local: [] });
      expect(at.fake.github.requests).toEqual([]);
    },
    SLOW,
  );

  it(
    'refuses a digest that did not pass verify, naming the failed checks',
    async () => {
      const at = await checkout();
      writeRehearsal(digests.unsigned);
      const error = await failure(promote('dev', digests.unsigned, at.options));
      expect(error.exitCode).toBe(EXIT.refused);
      expect(error.message).toContain(`${registry.address}/slipway/erp-api@${digests.unsigned} did not pass verify`);
      expect(error.message).toContain('signature: no valid signature');
      expect(error.fix).toContain('npm run release -- scan, sign, then verify');
      expect(await branches(at)).toEqual({ remote: [], local: [] });
      expect(at.fake.github.requests).toEqual([]);
    },
    SLOW,
  );

  it(
    'updates the open pull request of a stack instead of opening a second one',
    async () => {
      const at = await checkout();
      writeRehearsal(digests.a1);
      writeRehearsal(digests.a2);
      const first = await promote('dev', digests.a1, at.options);
      const second = await promote('dev', digests.a2, at.options);
      expect(second.pullRequest).toEqual({ ...first.pullRequest, updated: true });
      expect(at.fake.pulls).toHaveLength(1);
      expect(at.fake.pulls[0]?.body).toContain(digests.a2);
      expect(at.fake.pulls[0]?.body).not.toContain(digests.a1);
      expect(await git(at.work, 'ls-remote', 'origin', 'refs/heads/promote/dev')).toContain(second.commit);
      expect(await git(at.work, 'rev-parse', 'refs/heads/promote/dev')).toBe(second.commit);
      expect(at.fake.github.requests.map((r) => r.operationId)).toContain('pulls/update');
    },
    SLOW,
  );

  it(
    'without a token, commits the branch locally, pushes nothing and calls no API',
    async () => {
      const at = await checkout(false);
      writeRehearsal(digests.a1);
      const result = await promote('dev', digests.a1, at.options);
      expect(result.pullRequest).toBeUndefined();
      expect(await git(at.work, 'rev-parse', 'refs/heads/promote/dev')).toBe(result.commit);
      expect((await branches(at)).remote).toEqual([]);
      expect(at.fake.github.requests).toEqual([]);
    },
    SLOW,
  );
});

describe('rollback <stack>', () => {
  it(
    'pins the last images with a successful record in the stack, not the failed ones nor older good ones',
    async () => {
      const at = await checkout();
      await deployed(at, 'prod', digests.a1, 'promoted');
      await deployed(at, 'prod', digests.a2, 'promoted');
      await deployed(at, 'prod', digests.a3, 'rolled-back');
      await pinOnMain(at, 'prod', { app: digests.a3, gate: digests.gate });
      const result = await rollback('prod', at.options);
      expect(result.bundle.images.map((image) => [image.digest, image.replaces])).toEqual([
        [digests.a2, digests.a3],
        [digests.gate, digests.gate],
      ]);
      expect(await git(at.work, 'show', `${result.commit}:${environmentFilePath('prod')}`)).toContain(
        `app: ${digests.a2}`,
      );
      expect(at.fake.pulls[0]).toMatchObject({
        head: 'rollback/prod',
        labels: ['environment:prod', 'rollback'],
        reviewers: ['release-lead'],
      });

      // with a2 pinned and healthy, the one before it is a1
      const again = await checkout();
      await deployed(again, 'prod', digests.a1, 'promoted');
      await deployed(again, 'prod', digests.a2, 'promoted');
      await pinOnMain(again, 'prod', { app: digests.a2, gate: digests.gate });
      expect((await rollback('prod', again.options)).bundle.images[0]?.digest).toBe(digests.a1);

      const none = await checkout();
      const error = await failure(rollback('staging', none.options));
      expect(error.exitCode).toBe(EXIT.refused);
      expect(error.message).toBe(
        `staging has no successful release other than what it pins now (${PLACEHOLDER_DIGEST}) to go back to`,
      );
    },
    SLOW,
  );
});

describe('GitHub API errors leave no half-made branch', () => {
  it(
    '401 on the first call: the token is named, nothing is pushed',
    async () => {
      const at = await checkout();
      writeRehearsal(digests.a1);
      at.fake.github.inject({
        method: 'GET',
        route: '/repos/{owner}/{repo}/pulls',
        response: {
          status: 401,
          body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' },
        },
      });
      const error = await failure(promote('dev', digests.a1, at.options));
      expect(error.exitCode).toBe(EXIT.usage);
      expect(error.message).toBe(
        'looking for an open pull request of promote/dev: GitHub refused the token (401 Bad credentials) on GET /repos/slipway/slipway/pulls?state=open&head=slipway%3Apromote%2Fdev&base=main',
      );
      expect(error.fix).toContain('set GITHUB_TOKEN to a valid token');
      expect(await branches(at)).toEqual({ remote: [], local: [] });
    },
    SLOW,
  );

  it(
    '422 when opening the pull request: the pushed branch is deleted again',
    async () => {
      const at = await checkout();
      writeRehearsal(digests.a1);
      at.fake.github.inject({
        method: 'POST',
        route: '/repos/{owner}/{repo}/pulls',
        response: {
          status: 422,
          body: {
            message: 'Validation Failed',
            errors: [{ resource: 'PullRequest', field: 'base', code: 'invalid' }],
            documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
          },
        },
      });
      const error = await failure(promote('dev', digests.a1, at.options));
      expect(error.exitCode).toBe(EXIT.failed);
      expect(error.message).toBe(
        'opening the pull request of promote/dev: GitHub refused POST /repos/slipway/slipway/pulls (422 Validation Failed: base invalid)',
      );
      expect(await branches(at)).toEqual({ remote: [], local: [] });
      expect(at.fake.pulls).toEqual([]);
    },
    SLOW,
  );

  it(
    'a rate limit with Retry-After says when to try again; a new branch is deleted, an updated one restored',
    async () => {
      const at = await checkout();
      writeRehearsal(digests.a1);
      writeRehearsal(digests.a2);
      const now = Date.now();
      at.fake.github.inject({
        method: 'POST',
        route: '/repos/{owner}/{repo}/pulls',
        response: {
          status: 429,
          headers: { 'retry-after': '60' },
          body: { message: 'You have exceeded a secondary rate limit.' },
        },
      });
      const error = await failure(promote('dev', digests.a1, at.options));
      expect(error.exitCode).toBe(EXIT.failed);
      expect(error.message).toMatch(
        /^opening the pull request of promote\/dev: GitHub's rate limit stopped POST \/repos\/slipway\/slipway\/pulls \(429: You have exceeded a secondary rate limit\.\); it may be called again in 60 s, at \S+Z$/,
      );
      const at60 = Date.parse(/at (\S+Z)$/.exec(error.message)?.[1] ?? '');
      expect(at60 - now).toBeGreaterThanOrEqual(59_000);
      expect(error.fix).toContain('run the same command again; nothing was left behind');
      expect(await branches(at)).toEqual({ remote: [], local: [] });

      // an open promotion, then a second one stopped by the primary limit (403, x-ratelimit-reset) while updating
      const first = await promote('dev', digests.a1, at.options);
      const reset = Math.floor(Date.now() / 1000) + 600;
      at.fake.github.inject({
        method: 'PATCH',
        route: '/repos/{owner}/{repo}/pulls/{pull_number}',
        response: {
          status: 403,
          headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) },
          body: { message: 'API rate limit exceeded for installation.' },
        },
      });
      const limited = await failure(promote('dev', digests.a2, at.options));
      expect(limited.message).toContain(`at ${new Date(reset * 1000).toISOString()}`);
      expect(await git(at.work, 'ls-remote', 'origin', 'refs/heads/promote/dev')).toContain(first.commit);
      expect(await git(at.work, 'rev-parse', 'refs/heads/promote/dev')).toBe(first.commit);
      expect(at.fake.pulls[0]?.body).toContain(digests.a1);
    },
    SLOW,
  );
});
