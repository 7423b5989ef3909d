/**
 * Keyless verification offline: GitHub's OIDC token and Fulcio are out of reach here, so a CA of the test's own
 * issues a certificate shaped like Fulcio's for the release workflow, and cosign checks identity and issuer in it
 * exactly as it does for a Fulcio certificate (only the trust root, the SCT and the Rekor entry differ).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { localDir, repoRoot } from '../../src/platform/paths.js';
import { attest, ensureSigningKey, signDigest, type Signer, type SigningKey } from '../../src/release/cosign.js';
import { runOk } from '../../src/release/exec.js';
import { ATTESTATION_TYPES, KEYLESS_IDENTITY } from '../../src/release/identity.js';
import { parseReference, resolveDigest, type Verification, verifyImage } from '../../src/release/verify.js';
import { keylessLikeSigningKey, pushTestImage, startRegistry, testCertificateAuthority } from './support.js';

const SLOW = 120_000;
const dir = join(localDir, 'test', `run-${String(process.pid)}-keyless`);

let registry: Awaited<ReturnType<typeof startRegistry>>;
let ca: { certificate: string; key: string };
let workflow: SigningKey;

/** Signs the image and attests all three predicates, each with the certificate attached. */
async function signEverything(reference: string, key: SigningKey): Promise<void> {
  const { stdout } = await runOk('git', ['rev-parse', 'HEAD'], 'reading HEAD', { cwd: repoRoot });
  const digest = parseReference(reference).digest ?? '';
  const predicates = {
    [ATTESTATION_TYPES.sbom]: { bomFormat: 'CycloneDX', specVersion: '1.6', components: [] },
    [ATTESTATION_TYPES.provenance]: { buildDefinition: { externalParameters: { ref: stdout.trim() } } },
    [ATTESTATION_TYPES.scan]: { verdict: 'pass', scannedAt: new Date().toISOString(), digest, counts: {} },
  };
  await signDigest(reference, key);
  for (const [type, predicate] of Object.entries(predicates)) {
    const file = join(dir, `${encodeURIComponent(type)}.json`);
    writeFileSync(file, JSON.stringify(predicate));
    await attest(reference, type, file, key);
  }
}

const workflowSigner = (): Signer => ({
  kind: 'keyless',
  identity: KEYLESS_IDENTITY.subject,
  issuer: KEYLESS_IDENTITY.issuer,
  caRoots: ca.certificate,
});

const verify = (reference: string, signer: Signer = workflowSigner()): Promise<Verification> =>
  verifyImage({ reference, signer, root: repoRoot, mainRef: 'HEAD' });

const failed = (verification: Verification): string[] =>
  verification.checks.filter((check) => !check.ok).map((check) => check.check);

const EVERY_SIGNED_CHECK = ['signature', 'attestation sbom', 'attestation provenance', 'attestation scan'];

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  registry = await startRegistry('keyless');
  ca = await testCertificateAuthority(join(dir, 'ca'));
  workflow = await keylessLikeSigningKey(join(dir, 'workflow'), ca, KEYLESS_IDENTITY.subject, KEYLESS_IDENTITY.issuer);
}, SLOW);

afterAll(async () => {
  await registry.stop();
});

describe('verify with a keyless identity (certificate identity and OIDC issuer)', () => {
  it(
    "passes an image signed and attested under the release workflow's identity",
    async () => {
      const reference = await pushTestImage(registry.address, 'keyless/workflow');
      await signEverything(reference, workflow);
      const verification = await verify(reference);
      expect(verification.checks.filter((check) => !check.ok)).toEqual([]);
      expect(verification.checks.map((check) => check.check)).toEqual([
        ...EVERY_SIGNED_CHECK.slice(0, 3),
        'provenance commit',
        'attestation scan',
        'scan result',
      ]);
      expect(verification.checks[0]?.detail).toContain(KEYLESS_IDENTITY.subject);
    },
    SLOW,
  );

  it(
    "refuses a fork's workflow: same issuer, another identity",
    async () => {
      const fork = await keylessLikeSigningKey(
        join(dir, 'fork'),
        ca,
        KEYLESS_IDENTITY.subject.replace('github.com/slipway/', 'github.com/a-fork/'),
        KEYLESS_IDENTITY.issuer,
      );
      const reference = await pushTestImage(registry.address, 'keyless/fork');
      await signEverything(reference, fork);
      expect(failed(await verify(reference))).toEqual(EVERY_SIGNED_CHECK);
    },
    SLOW,
  );

  it(
    'refuses the right identity vouched for by another OIDC issuer',
    async () => {
      const other = await keylessLikeSigningKey(
        join(dir, 'other-issuer'),
        ca,
        KEYLESS_IDENTITY.subject,
        'https://accounts.google.com',
      );
      const reference = await pushTestImage(registry.address, 'keyless/other-issuer');
      await signEverything(reference, other);
      expect(failed(await verify(reference))).toEqual(EVERY_SIGNED_CHECK);
    },
    SLOW,
  );

  it(
    'refuses a certificate for the right identity from a CA it does not trust',
    async () => {
      const rogue = await testCertificateAuthority(join(dir, 'rogue-ca'));
      const forged = await keylessLikeSigningKey(
        join(dir, 'forged'),
        rogue,
        KEYLESS_IDENTITY.subject,
        KEYLESS_IDENTITY.issuer,
      );
      const reference = await pushTestImage(registry.address, 'keyless/forged');
      await signEverything(reference, forged);
      expect(failed(await verify(reference))).toEqual(EVERY_SIGNED_CHECK);
    },
    SLOW,
  );

  it(
    'refuses a signature made with the local key (no certificate), and the key verify refuses the keyless one',
    async () => {
      const local = await ensureSigningKey(join(dir, 'local-key'));
      const reference = await pushTestImage(registry.address, 'keyless/local-key');
      await signEverything(reference, local);
      expect(failed(await verify(reference))).toEqual(EVERY_SIGNED_CHECK);
      expect(failed(await verify(reference, { kind: 'key', publicKey: local.publicKey }))).toEqual([]);

      const signedByWorkflow = await pushTestImage(registry.address, 'keyless/workflow-only');
      await signEverything(signedByWorkflow, workflow);
      expect(failed(await verify(signedByWorkflow, { kind: 'key', publicKey: local.publicKey }))).toEqual(
        EVERY_SIGNED_CHECK,
      );
    },
    SLOW,
  );
});

describe('how verify (and so promote --to) reaches a registry', () => {
  const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'] as const;

  it(
    'reads the loopback registry over plain HTTP, and a registry elsewhere (GHCR) only through TLS with skopeo',
    async () => {
      const reference = await pushTestImage(registry.address, 'keyless/transport');
      const digest = parseReference(reference).digest ?? '';
      expect(await resolveDigest(`${registry.address}/keyless/transport:test`)).toBe(digest);

      // every connection skopeo or fetch opens goes through this proxy on loopback, which notes its first line
      const seen: string[] = [];
      const proxy = createServer((socket) => {
        socket.once('data', (chunk) => {
          seen.push(chunk.toString('latin1').split('\r\n', 1)[0] ?? '');
          socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
        });
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      const address = proxy.address();
      const saved = Object.fromEntries(PROXY_VARIABLES.map((name) => [name, process.env[name]]));
      const proxyUrl = `http://127.0.0.1:${String(typeof address === 'object' && address !== null ? address.port : 0)}`;
      for (const name of PROXY_VARIABLES) process.env[name] = name.toLowerCase().startsWith('no_') ? '' : proxyUrl;
      try {
        const elsewhere = `registry.example.test/slipway/erp-api@${digest}`;
        await expect(verify(elsewhere)).rejects.toThrow(
          /registry\.example\.test\/slipway\/erp-api@sha256:[0-9a-f]{64} is not in the registry or cannot be read/,
        );
        // a TLS tunnel to the registry's port 443, never a plain HTTP request
        expect(seen.length).toBeGreaterThan(0);
        expect(new Set(seen)).toEqual(new Set(['CONNECT registry.example.test:443 HTTP/1.1']));
      } finally {
        for (const name of PROXY_VARIABLES) {
          const value = saved[name];
          if (value === undefined) Reflect.deleteProperty(process.env, name);
          else process.env[name] = value;
        }
        await new Promise<void>((resolve) => proxy.close(() => resolve()));
      }
    },
    SLOW,
  );
});
