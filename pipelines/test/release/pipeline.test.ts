import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { appUnderTestEnv } from '../../src/testing/app-under-test.js';
import { localDir, repoRoot } from '../../src/platform/paths.js';
import { freePort } from '../../src/platform/ports.js';
import { silentProgress } from '../../src/platform/progress.js';
import { buildBase, type BaseImage } from '../../src/release/base.js';
import { inspectContainer, runForExit, runToCompletion, startContainer } from '../../src/release/container.js';
import { appImage, buildImage, evidenceDir, gateImage, sourceInfo, type BuiltImage } from '../../src/release/images.js';
import { gateTable } from '../../src/release/gate.js';
import { attest, ensureSigningKey, signDigest, type SigningKey } from '../../src/release/cosign.js';
import { run, runOk } from '../../src/release/exec.js';
import { ATTESTATION_TYPES, SCAN_MAX_AGE_DAYS } from '../../src/release/identity.js';
import { GATE_SCENARIO } from '../../src/release/plan.js';
import { pushImage } from '../../src/release/registry.js';
import { type ScanPredicate, signAndAttest, type SignOptions } from '../../src/release/sign.js';
import { type Verification, verifyImage, type VerifyOptions } from '../../src/release/verify.js';
import { waitUntil } from '../../src/testing/wait.js';
import type { CycloneDxBom } from '../../src/release/sbom.js';
import { scanImage } from '../../src/release/scan.js';
import { alterAttestation, fixtureOsvDatabase, freshDatabase, startRegistry } from './support.js';

// Real buildah, mmdebstrap, skopeo, docker-registry and podman: a cold first build takes minutes on two cores.
const SLOW = 15 * 60_000;

let base: BaseImage;
let first: BuiltImage;
/** The load gate image, once 'registry and podman' has built it; signing builds it (from cache) otherwise. */
let gate: BuiltImage | undefined;

beforeAll(async () => {
  base = await buildBase(silentProgress);
  first = await buildImage(appImage, base, silentProgress);
}, SLOW);

describe('reproducible build', () => {
  it('takes the base by digest and tags <semver>-<short commit>', async () => {
    const source = await sourceInfo(repoRoot);
    const version = (JSON.parse(readFileSync(join(repoRoot, 'app/package.json'), 'utf8')) as { version: string })
      .version;
    expect(base.reference).toMatch(/^localhost\/slipway\/base@sha256:[0-9a-f]{64}$/);
    expect(first.tag).toBe(`${version}-${source.shortCommit}`);
    expect(first.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(first.buildCommand).toContain(`BASE_IMAGE=${base.reference}`);
    expect(first.buildCommand).toContain(String(source.sourceDateEpoch));
    expect(first.buildCommand).toContain('--layers=false');
  });

  it(
    'gives the same digest when every layer is built again, and another when one source file changes',
    async () => {
      const again = await buildImage(appImage, base, silentProgress, { noCache: true });
      // quoted in the release notes: the two digests of the same commit
      process.stdout.write(`reproducible build: ${first.digest} and ${again.digest}\n`);
      expect(again.digest).toBe(first.digest);

      // a copy of the tree with one changed line in app/src, built at the same commit time
      const copy = join(localDir, 'test', `run-${String(process.pid)}-changed-tree`);
      rmSync(copy, { recursive: true, force: true });
      mkdirSync(copy, { recursive: true });
      for (const path of ['package.json', 'package-lock.json', 'tsconfig.base.json', 'app']) {
        cpSync(join(repoRoot, path), join(copy, path), {
          recursive: true,
          filter: (from) => !from.includes('node_modules'),
        });
      }
      for (const ws of ['infra', 'monitoring', 'policies', 'pipelines', 'load']) {
        cpSync(join(repoRoot, ws, 'package.json'), join(copy, ws, 'package.json'));
      }
      symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'));
      symlinkSync(join(repoRoot, 'app', 'node_modules'), join(copy, 'app', 'node_modules'));
      const file = join(copy, 'app', 'src', 'observability', 'tracing.ts');
      writeFileSync(file, `${readFileSync(file, 'utf8')}\nexport const BUILD_PROBE = 'changed';\n`);
      try {
        const changed = await buildImage(appImage, base, silentProgress, { root: copy, source: first.source });
        expect(changed.tag).toBe(first.tag);
        expect(changed.digest).not.toBe(first.digest);
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }
    },
    SLOW,
  );
});

describe('registry and podman', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  beforeAll(async () => {
    registry = await startRegistry('run');
  }, 60_000);
  afterAll(async () => {
    await registry.stop();
  });

  it(
    'pushes by digest and runs the image from the registry as uid 10001 with a read-only root, ready against PostgreSQL and Redis',
    async () => {
      const reference = await pushImage(first, registry.address);
      expect(reference).toBe(`${registry.address}/slipway/erp-api@${first.digest}`);
      const manifest = await fetch(`http://${registry.address}/v2/slipway/erp-api/manifests/${first.tag}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(manifest.headers.get('docker-content-digest'), await manifest.text()).toBe(first.digest);

      const services = inject('services');
      const databaseUrl = await freshDatabase(services.postgres.adminUrl, 'release_container');
      const port = await freePort('127.0.0.1');
      const env = {
        ...appUnderTestEnv({ databaseUrl, redisUrl: services.redis.url }),
        HOST: '127.0.0.1',
        PORT: String(port),
        // every stack's pods export traces, so the image must load its tracing modules (nothing need listen there)
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${String(await freePort('127.0.0.1'))}`,
      };
      await runToCompletion({ reference, env, args: ['migrate', 'up'] });
      const container = await startContainer({ reference, env, name: `slipway-test-${String(process.pid)}` });
      try {
        let status = 0;
        // the budget the former 60 tries of 500 ms gave: the container starts Node and connects to its stores
        const ready = await waitUntil(
          'the container to answer 200 on /health/ready',
          async () => {
            status = await fetch(`http://127.0.0.1:${String(port)}/health/ready`, {
              signal: AbortSignal.timeout(1_000),
            })
              .then((response) => response.status)
              .catch(() => 0);
            return status === 200;
          },
          { timeoutMs: 60_000, intervalMs: 500, seen: () => `last answer: ${status === 0 ? 'none' : String(status)}` },
        ).catch((error: unknown) => (error as Error).message);
        expect(ready, await container.logs()).toBe(true);
        const inspected = await inspectContainer(container.id);
        expect(inspected.user).toBe('10001:10001');
        expect(inspected.readOnly).toBe(true);
        expect(inspected.image).toBe(reference);
      } finally {
        await container.stop();
      }
    },
    SLOW,
  );

  it(
    'builds the load gate image reproducibly on the same base and runs it from the registry: Vegeta inside, verdict exit codes',
    async () => {
      const built = await buildImage(gateImage, base, silentProgress);
      gate = built;
      const again = await buildImage(gateImage, base, silentProgress, { noCache: true });
      process.stdout.write(`reproducible gate build: ${built.digest} and ${again.digest}\n`);
      expect(again.digest).toBe(built.digest);
      const sbom = JSON.parse(readFileSync(built.sbom, 'utf8')) as CycloneDxBom;
      expect(sbom.components.map((c) => c.purl)).toContainEqual(
        expect.stringMatching(/^pkg:golang\/github\.com\/tsenart\/vegeta\/v12@v12\./),
      );

      const reference = await pushImage(built, registry.address);
      const user = '10002:10002';
      const vegeta = await runForExit({
        reference,
        env: {},
        user,
        entrypoint: '/usr/local/bin/vegeta',
        args: ['-version'],
      });
      // go install stamps no version string; the Go runtime line shows the binary runs in the image
      expect(vegeta.code, vegeta.output).toBe(0);
      expect(vegeta.output).toMatch(/Runtime: go\d/);
      const port = await freePort('127.0.0.1');
      const verdict = await runForExit({
        reference,
        user,
        env: {
          [GATE_SCENARIO.targetUrlVariable]: `http://127.0.0.1:${String(port)}`,
          [GATE_SCENARIO.timeoutVariable]: '30',
        },
      });
      expect(verdict.output).toContain('INCONCLUSIVE');
      expect(verdict.code).toBe(GATE_SCENARIO.exitCodes.inconclusive);
    },
    SLOW,
  );
});

describe('sign, attest and verify', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let key: SigningKey;
  const passing = (): ScanPredicate => ({
    verdict: 'pass',
    scannedAt: new Date().toISOString(),
    digest: first.digest,
    counts: {},
    findings: [],
  });
  const signOptions = (target: string, scan = passing(), signingKey = key): SignOptions => ({
    registry: registry.address,
    key: signingKey,
    scan,
    root: repoRoot,
    repository: 'https://github.com/slipway/slipway',
    builderId: 'https://slipway.dev/builders/test',
    target,
  });
  const verify = (target: string, extra: Partial<VerifyOptions> = {}): Promise<Verification> =>
    verifyImage({
      reference: `${registry.address}/${target}:${first.tag}`,
      expectedDigest: first.digest,
      signer: { kind: 'key', publicKey: key.publicKey },
      root: repoRoot,
      // the branch under test is not merged yet; its own HEAD stands for main here
      mainRef: 'HEAD',
      ...extra,
    });
  const failed = (verification: Verification): string[] =>
    verification.checks.filter((check) => !check.ok).map((check) => check.check);

  let scanned: ScanPredicate;
  let osvDb: string;
  const scanOptions = () => ({
    root: repoRoot,
    policyFile: join(repoRoot, 'policies', 'scan-policy.yaml'),
    exceptionsFile: join(repoRoot, 'policies', 'exceptions.yaml'),
    osvDb,
  });
  beforeAll(async () => {
    registry = await startRegistry('sign');
    key = await ensureSigningKey(join(localDir, 'test', `run-${String(process.pid)}-cosign`));
    // the real gate on the real image, offline against the fixture OSV database
    osvDb = await fixtureOsvDatabase(join(localDir, 'test', `run-${String(process.pid)}-osv`));
    const scan = await scanImage(first, scanOptions(), silentProgress);
    scanned = scan.predicate;
    await signAndAttest(first, signOptions('good/erp-api', scanned), silentProgress);
  }, SLOW);
  afterAll(async () => {
    await registry.stop();
  });

  it(
    'passes a signed image with every attestation, a fresh passing scan and a commit on main',
    async () => {
      const verification = await verify('good/erp-api');
      expect(verification.checks.filter((check) => !check.ok)).toEqual([]);
      expect(verification.checks.map((check) => check.check)).toEqual([
        'digest',
        'signature',
        'attestation sbom',
        'attestation provenance',
        'provenance commit',
        'attestation scan',
        'scan result',
      ]);
      expect(verification.ok).toBe(true);
    },
    SLOW,
  );

  it(
    'scans, signs, attests and verifies the load gate image the same way, and refuses it unsigned',
    async () => {
      const built = gate ?? (await buildImage(gateImage, base, silentProgress));
      const scan = await scanImage(built, scanOptions(), silentProgress);
      expect(scan.predicate.verdict, gateTable(scan.result)).toBe('pass');
      expect(scan.predicate.digest).toBe(built.digest);
      await signAndAttest(built, { ...signOptions('good/erp-api-gate', scan.predicate) }, silentProgress);
      const verifyGate = (target: string): Promise<Verification> =>
        verifyImage({
          reference: `${registry.address}/${target}:${built.tag}`,
          expectedDigest: built.digest,
          signer: { kind: 'key', publicKey: key.publicKey },
          root: repoRoot,
          mainRef: 'HEAD',
        });
      const verification = await verifyGate('good/erp-api-gate');
      expect(verification.checks.filter((check) => !check.ok)).toEqual([]);
      expect(verification.checks.map((check) => check.check)).toEqual([
        'digest',
        'signature',
        'attestation sbom',
        'attestation provenance',
        'provenance commit',
        'attestation scan',
        'scan result',
      ]);
      expect(verification.digest).toBe(built.digest);

      await pushImage(built, registry.address, 'unsigned/erp-api-gate');
      expect(failed(await verifyGate('unsigned/erp-api-gate'))).toEqual([
        'signature',
        'attestation sbom',
        'attestation provenance',
        'attestation scan',
      ]);
    },
    SLOW,
  );

  it('signs what the gate passed: the image and the tree scan clean, with evidence as a table, JSON and SARIF', () => {
    expect(scanned.verdict).toBe('pass');
    expect(scanned.digest).toBe(first.digest);
    const evidence = join(evidenceDir(first.name, first.digest));
    expect(readFileSync(join(evidence, 'gate.txt'), 'utf8')).toContain('verdict: pass');
    expect(JSON.parse(readFileSync(join(evidence, 'gate.sarif'), 'utf8'))).toMatchObject({ version: '2.1.0' });
    const sbom = JSON.parse(readFileSync(first.sbom, 'utf8')) as CycloneDxBom;
    const purls = sbom.components.map((c) => c.purl);
    expect(purls).toContainEqual(expect.stringMatching(/^pkg:deb\/debian\/libc6@/));
    expect(purls).toContainEqual(expect.stringMatching(/^pkg:npm\/express@5\./));
    expect(sbom.components.every((c) => c.licenses.length > 0)).toBe(true);
  });

  it('keeps the private key encrypted under .local/, with its password beside it', () => {
    expect(readFileSync(key.privateKey, 'utf8')).toContain('ENCRYPTED SIGSTORE PRIVATE KEY');
    expect(key.password.length).toBeGreaterThan(20);
  });

  it(
    'refuses an unsigned image',
    async () => {
      await pushImage(first, registry.address, 'unsigned/erp-api');
      const verification = await verify('unsigned/erp-api');
      expect(verification.ok).toBe(false);
      expect(failed(verification)).toEqual([
        'signature',
        'attestation sbom',
        'attestation provenance',
        'attestation scan',
      ]);
    },
    SLOW,
  );

  it(
    'refuses an image signed and attested with another key',
    async () => {
      const other = await ensureSigningKey(join(localDir, 'test', `run-${String(process.pid)}-cosign-other`));
      await signAndAttest(first, signOptions('other-key/erp-api', passing(), other), silentProgress);
      const verification = await verify('other-key/erp-api');
      expect(failed(verification)).toEqual([
        'signature',
        'attestation sbom',
        'attestation provenance',
        'attestation scan',
      ]);
    },
    SLOW,
  );

  it(
    'refuses an image whose scan attestation says fail, or is stale',
    async () => {
      await signAndAttest(first, signOptions('failed-scan/erp-api', { ...passing(), verdict: 'fail' }), silentProgress);
      const verification = await verify('failed-scan/erp-api');
      expect(failed(verification)).toEqual(['scan result']);
      expect(verification.checks.find((c) => c.check === 'scan result')?.detail).toContain('"fail"');

      const later = new Date(Date.now() + (SCAN_MAX_AGE_DAYS + 1) * 86_400_000);
      expect(failed(await verify('good/erp-api', { now: later }))).toEqual(['scan result']);
    },
    SLOW,
  );

  it(
    'refuses a provenance whose commit is not on the main branch',
    async () => {
      const { stdout } = await run('git', ['rev-list', '--max-parents=0', 'HEAD'], { cwd: repoRoot });
      const rootCommit = stdout.trim().split('\n')[0] ?? '';
      const verification = await verify('good/erp-api', { mainRef: rootCommit });
      expect(failed(verification)).toEqual(['provenance commit']);
    },
    SLOW,
  );

  it(
    'refuses an image with a missing attestation',
    async () => {
      const reference = await pushImage(first, registry.address, 'partial/erp-api');
      await signDigest(reference, key);
      await attest(reference, ATTESTATION_TYPES.sbom, first.sbom, key);
      const verification = await verify('partial/erp-api');
      expect(failed(verification)).toEqual(['attestation provenance', 'attestation scan']);
    },
    SLOW,
  );

  it(
    'refuses an attestation altered in the registry',
    async () => {
      await signAndAttest(first, signOptions('altered/erp-api'), silentProgress);
      await alterAttestation(registry.address, 'altered/erp-api', first.digest, ATTESTATION_TYPES.scan);
      const verification = await verify('altered/erp-api');
      expect(failed(verification)).toContain('attestation scan');
      expect(verification.ok).toBe(false);
    },
    SLOW,
  );

  it(
    'refuses a tag moved to another digest',
    async () => {
      await runOk(
        'skopeo',
        [
          'copy',
          '--quiet',
          '--dest-tls-verify=false',
          `containers-storage:${first.base.reference}`,
          `docker://${registry.address}/good/erp-api:${first.tag}`,
        ],
        'moving the tag',
      );
      const verification = await verify('good/erp-api');
      expect(failed(verification)[0]).toBe('digest');
      expect(verification.checks[0]?.detail).toContain('the tag was moved');
    },
    SLOW,
  );
});
