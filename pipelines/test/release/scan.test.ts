import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { localDir, repoRoot } from '../../src/platform/paths.js';
import { runOk } from '../../src/release/exec.js';
import { ReleaseError } from '../../src/release/errors.js';
import {
  decide,
  type Finding,
  gateSarif,
  gateTable,
  readExceptions,
  readScanPolicy,
  type ScanException,
} from '../../src/release/gate.js';
import { licenceFromFile, type CycloneDxBom } from '../../src/release/sbom.js';
import { kubernetesManifests } from '../../src/release/scan.js';
import {
  checkovFindings,
  gitleaksFindings,
  licenceFindings,
  osvFindings,
  unpackLayers,
  zizmorFindings,
} from '../../src/release/scanners.js';
import { fixtureOsvDatabase, fixturesDir } from './support.js';

const work = join(localDir, 'test', `run-${String(process.pid)}-scan`);
const policy = readScanPolicy(join(repoRoot, 'policies', 'scan-policy.yaml'));
const now = new Date('2026-12-04T12:00:00Z');
const days = (n: number): string => new Date(now.getTime() + n * 86_400_000).toISOString().slice(0, 10);
const LODASH = 'pkg:npm/lodash@4.17.15';
const exception = (expires: string): ScanException => ({
  id: 'GHSA-p6mc-m468-83gw',
  scope: LODASH,
  reason: 'fixture: the affected functions are never called with user input',
  owner: 'release-engineering',
  expires,
});

let db: string;
let lodash: Finding[];

beforeAll(async () => {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  db = await fixtureOsvDatabase(join(work, 'osv-db'));
  lodash = await osvFindings([join(fixturesDir, 'osv', 'vulnerable', 'package-lock.json')], db);
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('vulnerabilities: osv-scanner offline on a fixture database', () => {
  it('finds the real lodash advisory in a lockfile with lodash 4.17.15, as high', () => {
    expect(lodash).toEqual([
      {
        id: 'GHSA-p6mc-m468-83gw',
        scanner: 'osv-scanner',
        severity: 'high',
        target: LODASH,
        title: 'Prototype Pollution in lodash',
      },
    ]);
  });

  it('finds nothing in this repository lockfile with the same database', async () => {
    expect(await osvFindings([join(repoRoot, 'package-lock.json')], db)).toEqual([]);
  });

  it('blocks the finding without an exception', () => {
    const result = decide(lodash, [], policy, now);
    expect(result.verdict).toBe('fail');
    expect(result.rows.map((r) => r.disposition)).toEqual(['blocks']);
  });

  it('passes with a warning under a valid exception', () => {
    const result = decide(lodash, [exception(days(30))], policy, now);
    expect(result.verdict).toBe('pass');
    expect(result.rows.map((r) => r.disposition)).toEqual(['excepted']);
    expect(result.warnings.join('\n')).toContain(
      `GHSA-p6mc-m468-83gw on ${LODASH} passes by exception until ${days(30)}`,
    );
  });

  it('blocks under an expired exception, naming it', () => {
    const result = decide(lodash, [exception(days(-1))], policy, now);
    expect(result.verdict).toBe('fail');
    expect(result.rows.map((r) => r.disposition)).toEqual(['expired-exception']);
    expect(gateTable(result)).toContain(`blocks (exception expired ${days(-1)})`);
  });

  it('reports an exception that matches no finding', () => {
    const result = decide([], [exception(days(10))], policy, now);
    expect(result.verdict).toBe('pass');
    expect(result.unusedExceptions).toHaveLength(1);
    expect(result.warnings).toEqual([`exception GHSA-p6mc-m468-83gw for ${LODASH} matched no finding: remove it`]);
  });

  it('writes SARIF 2.1.0 with the exception as a suppression', () => {
    const sarif = gateSarif(decide(lodash, [exception(days(30))], policy, now)) as {
      version: string;
      runs: {
        tool: { driver: { name: string } };
        results: { ruleId: string; level: string; suppressions?: unknown[] }[];
      }[];
    };
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0]?.tool.driver.name).toBe('osv-scanner');
    expect(sarif.runs[0]?.results[0]).toMatchObject({ ruleId: 'GHSA-p6mc-m468-83gw', level: 'error' });
    expect(sarif.runs[0]?.results[0]?.suppressions).toHaveLength(1);
  });
});

describe('exceptions file', () => {
  const write = (body: string): string => {
    const file = join(work, `exceptions-${String(Math.random()).slice(2)}.yaml`);
    writeFileSync(file, body);
    return file;
  };

  it('reads the committed file', () => {
    expect(readExceptions(join(repoRoot, 'policies', 'exceptions.yaml'), new Date())).toBeInstanceOf(Array);
  });

  it('refuses an expiry more than 90 days out, naming the entry and the latest allowed date', () => {
    const file = write(
      `exceptions:\n  - id: X-1\n    scope: ${LODASH}\n    reason: long enough reason\n    owner: me\n    expires: ${days(91)}\n`,
    );
    expect(() => readExceptions(file, now)).toThrow(/exceptions\.0 \(X-1\) expires .* more than 90 days/);
  });

  it('refuses an exception without an owner or reason', () => {
    const file = write(`exceptions:\n  - id: X-1\n    scope: a\n    reason: short\n    expires: ${days(5)}\n`);
    expect(() => readExceptions(file, now)).toThrow(ReleaseError);
  });
});

describe('secrets: gitleaks on image layers', () => {
  it('blocks a secret planted in a layer of a real image', async () => {
    const context = join(work, 'secret-image');
    mkdirSync(context, { recursive: true });
    // assembled at run time so this file itself holds no token
    const token = ['ghp', 'Zq7R2mXk9Lp4Tn8Wc3Vb6Hy1Jd5Fg0Se2Au7'].join('_');
    writeFileSync(join(context, 'settings.env'), `GITHUB_TOKEN=${token}\n`);
    writeFileSync(join(context, 'Containerfile'), 'FROM scratch\nCOPY settings.env /etc/app/settings.env\n');
    const layout = join(work, 'secret-oci');
    const digestFile = join(work, 'secret-digest');
    await runOk(
      'buildah',
      [
        'bud',
        '--layers=false',
        '--timestamp',
        '0',
        '-f',
        join(context, 'Containerfile'),
        '-t',
        'localhost/slipway-test/planted-secret',
        context,
      ],
      'build',
    );
    await runOk(
      'buildah',
      ['push', '--quiet', '--digestfile', digestFile, 'localhost/slipway-test/planted-secret', `oci:${layout}:planted`],
      'push',
    );
    const layers = await unpackLayers(layout, readFileSync(digestFile, 'utf8').trim());
    try {
      const findings = await gitleaksFindings(layers, 'layer');
      expect(findings).toHaveLength(1);
      expect(findings[0]).toMatchObject({ scanner: 'gitleaks', severity: 'critical', id: 'gitleaks:github-pat' });
      expect(findings[0]?.target).toMatch(/^layer:[0-9a-f]{64}\/etc\/app\/settings\.env:1$/);
      expect(decide(findings, [], policy, now).verdict).toBe('fail');
    } finally {
      rmSync(layers, { recursive: true, force: true });
      await runOk('buildah', ['rmi', 'localhost/slipway-test/planted-secret'], 'cleanup');
    }
  }, 120_000);
});

describe('licences', () => {
  const bom = (licenses: CycloneDxBom['components'][number]['licenses']): CycloneDxBom =>
    ({
      components: [{ type: 'library', 'bom-ref': 'x', name: 'x', version: '1', purl: 'pkg:npm/x@1', licenses }],
    }) as unknown as CycloneDxBom;

  it('allows MIT, an OR with one allowed side, and the base image runtime-library expressions', () => {
    expect(licenceFindings(bom([{ license: { id: 'MIT' } }]), policy)).toEqual([]);
    expect(licenceFindings(bom([{ expression: '(MIT OR GPL-3.0-only)' }]), policy)).toEqual([]);
    expect(licenceFindings(bom([{ expression: 'GPL-3.0-or-later WITH GCC-exception-3.1' }]), policy)).toEqual([]);
  });

  it('blocks AGPL, GPL and an unknown licence', () => {
    for (const licenses of [[{ license: { id: 'AGPL-3.0-only' } }], [{ license: { id: 'GPL-2.0-only' } }], []]) {
      const findings = licenceFindings(bom(licenses), policy);
      expect(findings).toHaveLength(1);
      expect(decide(findings, [], policy, now).verdict).toBe('fail');
    }
  });

  it("reads an undeclared licence from the package's MIT licence file, and only from that text", () => {
    // png-js declares no licence in package.json; its LICENSE file is the MIT text. nodemailer's is MIT-0, without
    // MIT's notice condition, so its file is not taken for MIT.
    expect(licenceFromFile(join(repoRoot, 'node_modules', 'png-js'))).toBe('MIT');
    expect(licenceFromFile(join(repoRoot, 'node_modules', 'nodemailer'))).toBeUndefined();
    expect(licenceFromFile(join(repoRoot, 'policies'))).toBeUndefined();
  });
});

describe('configuration: zizmor on workflows, checkov on Dockerfiles and Kubernetes manifests', () => {
  it('finds nothing in this repository', async () => {
    expect(await zizmorFindings(join(repoRoot, '.github', 'workflows'))).toEqual([]);
    expect(await checkovFindings(['app/Dockerfile', 'load/Dockerfile'], repoRoot, policy)).toEqual([]);
  }, 120_000);

  it('blocks a template injection in a workflow', async () => {
    const findings = await zizmorFindings(join(fixturesDir, 'config', 'workflows', 'injectable.yml'));
    expect(findings.map((f) => [f.id, f.severity])).toContainEqual(['zizmor:template-injection', 'high']);
    expect(decide(findings, [], policy, now).verdict).toBe('fail');
  }, 60_000);

  it("passes every stack's rendered Kubernetes manifests under the policy's scoped skips, and only under them", async () => {
    const manifests = kubernetesManifests(repoRoot);
    expect(manifests).toEqual(['dev', 'prod', 'staging'].map((stack) => `infra/generated/manifests/${stack}.yaml`));
    expect(await checkovFindings(manifests, repoRoot, policy, 'kubernetes')).toEqual([]);
    // The same objects without the skips: each finding is one the policy names, on the objects it names.
    const unskipped = { ...policy, checkovSkipChecks: policy.checkovSkipChecks.filter((s) => !s.resources) };
    const findings = await checkovFindings(manifests.slice(0, 1), repoRoot, unskipped, 'kubernetes');
    expect([...new Set(findings.map((f) => f.id))].sort()).toEqual(['checkov:CKV_K8S_35', 'checkov:CKV_K8S_38']);
    expect(findings.map((f) => f.target)).toContainEqual(
      expect.stringMatching(/^infra\/generated\/manifests\/dev\.yaml Job\.erp\.erp-api-rollout-wait-/),
    );
    // checkov sees the Rollout's pod template (as a Deployment) and names the Rollout
    expect(findings.map((f) => f.target)).toContain('infra/generated/manifests/dev.yaml Rollout.erp.erp-api');
  }, 180_000);

  it('blocks a privileged pod', async () => {
    const findings = await checkovFindings(
      [join(fixturesDir, 'config', 'privileged-pod.yaml')],
      repoRoot,
      policy,
      'kubernetes',
    );
    expect(findings.map((f) => f.id)).toContain('checkov:CKV_K8S_16');
    expect(decide(findings, [], policy, now).verdict).toBe('fail');
  }, 120_000);

  it('blocks a Dockerfile that runs as root', async () => {
    const findings = await checkovFindings([join(fixturesDir, 'config', 'root.Dockerfile')], repoRoot, policy);
    expect(findings.map((f) => f.id)).toContain('checkov:CKV_DOCKER_3');
    expect(decide(findings, [], policy, now).verdict).toBe('fail');
  }, 120_000);
});
