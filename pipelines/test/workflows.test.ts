import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';

import { repoRoot } from '../src/platform/paths.js';
import { KEYLESS_IDENTITY } from '../src/release/identity.js';
import { pypiTool } from '../src/release/scanners.js';

const workflowsDir = join(repoRoot, '.github', 'workflows');
const workflowFiles = readdirSync(workflowsDir).filter((file) => /\.ya?ml$/.test(file));

type Permissions = Readonly<Record<string, string>>;

interface Step {
  readonly id?: string;
  readonly if?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, unknown>;
  readonly env?: Record<string, string>;
}

interface Job {
  readonly permissions?: Permissions;
  readonly if?: string;
  readonly needs?: string | readonly string[];
  readonly outputs?: Record<string, string>;
  readonly steps?: readonly Step[];
  readonly uses?: string;
  readonly environment?: string;
  readonly concurrency?: { readonly group?: string; readonly 'cancel-in-progress'?: boolean };
}

interface Workflow {
  readonly on: Record<string, unknown>;
  readonly permissions?: Permissions | Record<string, never>;
  readonly jobs: Readonly<Record<string, Job>>;
}

const readWorkflow = (file: string): Workflow => parse(readFileSync(join(workflowsDir, file), 'utf8')) as Workflow;

/**
 * What each job's token may do. A new workflow or job fails here until it is listed, so a permission is granted in a
 * reviewed line of this table, not by a default.
 */
const JOB_PERMISSIONS: Readonly<Record<string, Readonly<Record<string, Permissions>>>> = {
  'ci.yml': {
    test: { contents: 'read' },
    codeql: { contents: 'read', 'security-events': 'write' },
  },
  'release.yml': {
    test: { contents: 'read' },
    release: { contents: 'read', packages: 'write', 'id-token': 'write' },
    promote: { contents: 'write', 'pull-requests': 'write', issues: 'write', packages: 'read' },
  },
  'deploy.yml': {
    changes: { contents: 'read' },
    deploy: { contents: 'read', 'id-token': 'write' },
    record: { contents: 'write', 'pull-requests': 'write', issues: 'write' },
  },
};

/** The only jobs that get an OIDC token: keyless signing (Fulcio) and the AWS login. */
const ID_TOKEN_JOBS = ['release.yml/release', 'deploy.yml/deploy'];

/** The target and the rest of a `uses:` line (`uses: x` or `- uses: x`), or undefined for any other line. */
function usesLine(line: string): { target: string; rest: string } | undefined {
  let text = line.trimStart();
  if (text.startsWith('- ')) text = text.slice(2).trimStart();
  if (!text.startsWith('uses:')) return undefined;
  const [target = '', ...rest] = text.slice('uses:'.length).trim().split(/\s+/);
  return { target, rest: rest.join(' ') };
}

/** One `uses:` line that breaks the pinning rule, with why; none when the file follows it. */
function pinningViolations(text: string): string[] {
  const violations: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    const uses = usesLine(line);
    if (uses === undefined) return;
    const { target, rest } = uses;
    const where = `line ${String(index + 1)}: uses: ${target}`;
    if (target.startsWith('./') || target.startsWith('$/')) return;
    if (target.startsWith('docker://')) {
      if (!/@sha256:[0-9a-f]{64}$/.test(target)) violations.push(`${where}: a container action pinned by digest`);
      return;
    }
    if (!/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(target))
      violations.push(`${where}: pin it by the full 40-hex commit SHA of the release, not a tag or branch`);
    else if (!/^# v\d+\.\d+\.\d+$/.test(rest))
      violations.push(`${where}: say the release in a comment after the SHA, as "# vX.Y.Z"`);
  });
  return violations;
}

/** Every `uses:` value the YAML holds, however it is written, to hold the line-based check to the parsed file. */
function usesValues(workflow: Workflow): string[] {
  return Object.values(workflow.jobs).flatMap((job) => [
    ...(job.uses === undefined ? [] : [job.uses]),
    ...(job.steps ?? []).flatMap((step) => (step.uses === undefined ? [] : [step.uses])),
  ]);
}

function run(command: string, args: readonly string[]): { status: number | null; stdout: string; output: string } {
  const result = spawnSync(command, args, { cwd: repoRoot, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, output: `${result.stdout}${result.stderr}` };
}

describe('GitHub workflows', () => {
  test('the workflows are the ones this test knows', () => {
    expect(workflowFiles.sort()).toEqual(Object.keys(JOB_PERMISSIONS).sort());
  });

  test.each(workflowFiles)(
    '%s pins every third-party action by full commit SHA with its release in a comment',
    (file) => {
      const text = readFileSync(join(workflowsDir, file), 'utf8');
      expect(pinningViolations(text)).toEqual([]);
      const lineUses = text.split('\n').filter((line) => usesLine(line) !== undefined).length;
      expect(usesValues(readWorkflow(file))).toHaveLength(lineUses);
    },
  );

  test('the pinning check refuses a tag, a branch, a short SHA and a SHA without its release', () => {
    const sha = '11bd71901bbe5b1630ceea73d27597364c9af683';
    expect(pinningViolations(`      - uses: actions/checkout@${sha} # v4.2.2\n      - uses: ./local\n`)).toEqual([]);
    for (const bad of ['actions/checkout@v4', 'actions/checkout@main', 'actions/checkout@11bd719', `a/b@${sha}`]) {
      expect(pinningViolations(`      - uses: ${bad}\n`)).toHaveLength(1);
    }
    expect(pinningViolations('    uses: docker://alpine:3.20\n')[0]).toMatch(/pinned by digest/);
  });

  test.each(workflowFiles)('%s: least privilege, job by job', (file) => {
    const workflow = readWorkflow(file);
    // the workflow's default may read the repository at most; anything more is granted by a job
    expect([{}, { contents: 'read' }]).toContainEqual(workflow.permissions);
    const granted = Object.fromEntries(
      Object.entries(workflow.jobs).map(([name, job]) => [name, job.permissions ?? workflow.permissions ?? {}]),
    );
    expect(granted).toEqual(JOB_PERMISSIONS[file]);
    for (const [name, permissions] of Object.entries(granted)) {
      expect(permissions['id-token'] === 'write', `${file}/${name} id-token`).toBe(
        ID_TOKEN_JOBS.includes(`${file}/${name}`),
      );
    }
  });

  test.each(workflowFiles)('%s: no pull_request_target, no ${{ }} inside a run: script', (file) => {
    const workflow = readWorkflow(file);
    expect(Object.keys(workflow.on)).not.toContain('pull_request_target');
    // a value reaches a script through env:, where the shell quotes it, never pasted into the script's text
    for (const [name, job] of Object.entries(workflow.jobs))
      for (const step of job.steps ?? []) expect(step.run ?? '', `${file}/${name}`).not.toContain('${{');
  });

  // GitHub sets both variables in every step; a push to main of this repository makes them KEYLESS_IDENTITY
  const WORKFLOW_IDENTITY = '--certificate-identity "$GITHUB_SERVER_URL/$GITHUB_WORKFLOW_REF"';
  const ISSUER = `--certificate-oidc-issuer ${KEYLESS_IDENTITY.issuer}`;

  test('release.yml verifies with the identity the release CLI and Kyverno trust', () => {
    const release = readWorkflow('release.yml');
    expect(release.on).toEqual({ push: { branches: ['main'] } });
    const expanded = WORKFLOW_IDENTITY.replace('$GITHUB_SERVER_URL', 'https://github.com').replace(
      '$GITHUB_WORKFLOW_REF',
      'slipway/slipway/.github/workflows/release.yml@refs/heads/main',
    );
    expect(expanded).toBe(`--certificate-identity "${KEYLESS_IDENTITY.subject}"`);
    const steps = Object.values(release.jobs).flatMap((job) => job.steps ?? []);
    const verify = steps.find((step) => step.run?.includes('release -- verify --registry ghcr.io'))?.run ?? '';
    expect(verify).toContain(WORKFLOW_IDENTITY);
    expect(verify).toContain(ISSUER);
    expect(steps.some((step) => step.run?.includes('release -- sign --keyless --registry ghcr.io'))).toBe(true);
  });

  test('release.yml rehearses the digest on the local platform and promotes it to dev with that record', () => {
    const { jobs } = readWorkflow('release.yml');
    const release = jobs.release?.steps ?? [];
    const rehearsal = release.find((step) => step.id === 'rehearsal')?.run ?? '';
    expect(rehearsal).toContain('npm start');
    expect(rehearsal).toMatch(/release -- sign --json/);
    expect(rehearsal).toMatch(/release -- deploy "\$reference"/);
    expect(rehearsal).toContain('record=');
    // the rehearsal runs before anything is pushed to GHCR, and the platform is stopped whatever happened
    const index = (find: (step: Step) => boolean): number => release.findIndex(find);
    expect(index((step) => step.id === 'rehearsal')).toBeLessThan(index((step) => step.id === 'signed'));
    expect(release.find((step) => step.run === 'npm stop')?.if).toBe('always()');
    const artifact = release.find((step) => step.id === 'rehearsal-artifact');
    expect(artifact?.with?.path).toBe('.local/platform/releases/');
    expect(jobs.release?.outputs).toMatchObject({
      digest: '${{ steps.signed.outputs.digest }}',
      'gate-digest': '${{ steps.signed.outputs.gate-digest }}',
      record: '${{ steps.rehearsal.outputs.record }}',
      'report-url': '${{ steps.rehearsal-artifact.outputs.artifact-url }}',
    });

    const promote = jobs.promote?.steps ?? [];
    const checkout = promote.find((step) => step.uses?.startsWith('actions/checkout@'));
    expect(checkout?.with).toMatchObject({ 'persist-credentials': true, 'fetch-depth': 0 });
    const downloads = promote.filter((step) => step.uses?.startsWith('actions/download-artifact@'));
    expect(downloads.map((step) => step.with)).toEqual([
      { name: 'release-evidence', path: '.local/release/' },
      { name: 'local-rehearsal', path: '.local/platform/releases/' },
    ]);
    const step = promote.find((s) => s.run?.includes('release -- promote --to dev'));
    const words = (step?.run ?? '').split(/\s+/);
    const flag = (name: string): string | undefined => words[words.indexOf(name) + 1];
    expect(words.slice(0, 7)).toEqual(['npm', 'run', 'release', '--', 'promote', '--to', 'dev']);
    expect(words[7]).toBe('"$DIGEST"');
    expect(flag('--gate-digest')).toBe('"$GATE_DIGEST"');
    expect(flag('--record')).toBe('".local/platform/releases/$RECORD.json"');
    expect(flag('--report-url')).toBe('"$REPORT_URL"');
    expect(flag('--registry')).toBe('ghcr.io');
    expect(flag('--main-ref')).toBe('origin/main');
    expect(step?.run).toContain(WORKFLOW_IDENTITY);
    expect(step?.run).toContain(ISSUER);
    expect(step?.env).toEqual({
      GITHUB_TOKEN: '${{ secrets.GITHUB_TOKEN }}',
      DIGEST: '${{ needs.release.outputs.digest }}',
      GATE_DIGEST: '${{ needs.release.outputs.gate-digest }}',
      RECORD: '${{ needs.release.outputs.record }}',
      REPORT_URL: '${{ needs.release.outputs.report-url }}',
    });
  });

  test('deploy.yml deploys each stack in its own GitHub environment, one at a time', () => {
    const deploy = readWorkflow('deploy.yml');
    expect(deploy.on).toEqual({ push: { branches: ['main'], paths: ['infra/environments/**'] } });
    const up = deploy.jobs.deploy;
    expect(up?.environment).toBe('${{ matrix.stack }}');
    expect(up?.concurrency).toEqual({ group: 'deploy-${{ matrix.stack }}', 'cancel-in-progress': false });
    const runs = (up?.steps ?? []).map((step) => step.run ?? '');
    expect(runs).toContain('npm run preview -- "$STACK"');
    expect(runs.some((script) => script.startsWith('pulumi up --stack "$STACK" --policy-pack policies'))).toBe(true);
  });

  test('deploy.yml records each up on release-records and opens the rollback pull request after a failed one', () => {
    const { jobs } = readWorkflow('deploy.yml');
    const record = jobs.record;
    expect(record?.needs).toEqual(['changes', 'deploy']);
    // a failed deploy is exactly when the record and the rollback must run
    expect(record?.if).toMatch(/^always\(\) && /);
    const steps = record?.steps ?? [];
    const checkout = steps.find((step) => step.uses?.startsWith('actions/checkout@'));
    expect(checkout?.with).toMatchObject({ 'persist-credentials': true });
    const when = (outcome: string): string[] =>
      steps.filter((step) => step.if === `env.OUTCOME == '${outcome}'`).map((step) => (step.run ?? '').trim());
    expect(when('success')).toEqual(['npm run release -- record "$STACK" --outcome promoted']);
    const failed = when('failure');
    expect(failed).toHaveLength(2);
    expect(failed[0]).toMatch(/^npm run release -- record "\$STACK" --outcome rolled-back --reason "[^"]+"$/);
    expect(failed[1]).toBe('npm run release -- rollback "$STACK"');
    // nothing in deploy itself writes to the repository: its token reads, its OIDC token is for AWS only
    const deployRuns = (jobs.deploy?.steps ?? []).map((step) => step.run ?? '').join('\n');
    expect(deployRuns).not.toMatch(/release -- (record|rollback)/);
  });

  test('zizmor finds nothing in any workflow', () => {
    const { status, stdout, output } = run(pypiTool('zizmor'), ['--offline', '--format', 'json', workflowsDir]);
    expect(JSON.parse(stdout || 'null'), output).toEqual([]);
    expect(status).toBe(0);
  });

  test('zizmor catches a template injection and an unpinned action', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-zizmor-'));
    mkdirSync(join(dir, '.github', 'workflows'), { recursive: true });
    const workflow = join(dir, '.github', 'workflows', 'bad.yml');
    writeFileSync(
      workflow,
      [
        'on: pull_request',
        'permissions: {}',
        'jobs:',
        '  x:',
        '    runs-on: ubuntu-24.04',
        '    steps:',
        '      - uses: actions/checkout@v4',
        '        with:',
        '          persist-credentials: false',
        '      - run: echo "${{ github.event.pull_request.title }}"',
        '',
      ].join('\n'),
    );
    const { status, stdout } = run(pypiTool('zizmor'), ['--offline', '--format', 'json', workflow]);
    const idents = (JSON.parse(stdout) as { ident: string }[]).map((finding) => finding.ident);
    expect(idents).toEqual(expect.arrayContaining(['template-injection', 'unpinned-uses']));
    expect(status).not.toBe(0);
  });
});
