import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { localDir } from '../platform/paths.js';
import { toolPath } from '../platform/tools.js';
import { EXIT, ReleaseError } from './errors.js';
import { run, runOk, type RunResult } from './exec.js';

/** A cosign key pair; the private key is encrypted with a password kept next to it (never committed). */
export interface SigningKey {
  readonly privateKey: string;
  readonly publicKey: string;
  readonly password: string;
  /**
   * A code-signing certificate for the key and its CA chain (PEM), attached to every signature and attestation so
   * a keyless verify can check the identity in it; keyless signing in CI gets both from Fulcio instead.
   */
  readonly certificate?: { readonly certificate: string; readonly chain: string };
}

/**
 * Whose signatures verify accepts: the local public key, or a keyless identity, the certificate's subject (the
 * signing workflow) and the OIDC issuer that vouched for it, as Kyverno checks at admission.
 */
export type Signer =
  | { readonly kind: 'key'; readonly publicKey: string }
  | {
      readonly kind: 'keyless';
      readonly identity: string;
      readonly issuer: string;
      /**
       * PEM roots of a private CA in place of Sigstore's public Fulcio; such certificates carry no SCT and the
       * signatures no Rekor entry, so neither is required then. Without it both are checked online.
       */
      readonly caRoots?: string;
    };

/** How a verification names the signer in its messages. */
export function describeSigner(signer: Signer): string {
  return signer.kind === 'key' ? `key ${signer.publicKey}` : `${signer.identity} (issuer ${signer.issuer})`;
}

function signerArgs(signer: Signer): string[] {
  // Local signatures are not uploaded to a public transparency log (see signDigest).
  if (signer.kind === 'key') return ['--key', signer.publicKey, '--insecure-ignore-tlog=true'];
  const identity = ['--certificate-identity', signer.identity, '--certificate-oidc-issuer', signer.issuer];
  if (signer.caRoots === undefined) return identity;
  return [...identity, '--ca-roots', signer.caRoots, '--insecure-ignore-sct=true', '--insecure-ignore-tlog=true'];
}

const certificateArgs = (key: SigningKey): string[] =>
  key.certificate === undefined
    ? []
    : ['--certificate', key.certificate.certificate, '--certificate-chain', key.certificate.chain];

export const defaultKeyDir = (): string => join(localDir, 'release', 'cosign');

/** The local signing key under .local/, generated (password-protected) on first use. */
export async function ensureSigningKey(dir = defaultKeyDir()): Promise<SigningKey> {
  const privateKey = join(dir, 'cosign.key');
  const publicKey = join(dir, 'cosign.pub');
  const passwordFile = join(dir, 'password');
  if (!existsSync(privateKey)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const password = randomBytes(24).toString('base64url');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    await runOk(
      cosign(),
      ['generate-key-pair', '--output-key-prefix', join(dir, 'cosign')],
      'generating a cosign key pair',
      {
        env: { ...process.env, COSIGN_PASSWORD: password },
      },
    );
  }
  if (!existsSync(passwordFile) || !existsSync(publicKey)) {
    throw new ReleaseError(
      `${dir} holds cosign.key without its password file or public key`,
      `move ${dir} aside and run again to generate a new key pair`,
      EXIT.missing,
    );
  }
  return { privateKey, publicKey, password: readFileSync(passwordFile, 'utf8').trim() };
}

export const cosign = (): string => toolPath('cosign');

/**
 * Keyless signing: cosign gets a short-lived certificate from Fulcio for the OIDC identity of the environment (in
 * GitHub Actions the workflow's token, which needs `id-token: write`) and records the signature in Rekor.
 */
export const KEYLESS = 'keyless';

/** How `sign` signs: with the local key pair, or keyless (the release workflow). */
export type SigningMode = SigningKey | typeof KEYLESS;

/** Whether a reference names a registry on loopback, the only place plain HTTP and an unverified TLS are allowed. */
export function isLoopbackRegistry(reference: string): boolean {
  const registry = reference.split('/', 1)[0] ?? '';
  const host = registry.startsWith('[') ? registry.slice(0, registry.indexOf(']') + 1) : registry.split(':', 1)[0];
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host ?? '');
}

/** Flags a cosign call against the local registry needs (plain HTTP on loopback); none for any other registry. */
const registryArgs = (reference: string): string[] =>
  isLoopbackRegistry(reference) ? ['--allow-http-registry', '--allow-insecure-registry'] : [];

/** The local key and its certificate, with the transparency log off; keyless takes neither and keeps Rekor on. */
const signingArgs = (mode: SigningMode): string[] =>
  mode === KEYLESS ? [] : ['--tlog-upload=false', '--key', mode.privateKey, ...certificateArgs(mode)];

const signingEnv = (mode: SigningMode): NodeJS.ProcessEnv =>
  mode === KEYLESS ? process.env : { ...process.env, COSIGN_PASSWORD: mode.password };

/** `cosign sign` arguments for one digest reference. */
export const signCommand = (reference: string, mode: SigningMode): string[] => [
  'sign',
  '--yes',
  ...signingArgs(mode),
  ...registryArgs(reference),
  reference,
];

/** `cosign attest` arguments for one predicate on one digest reference. */
export const attestCommand = (
  reference: string,
  predicateType: string,
  predicateFile: string,
  mode: SigningMode,
): string[] => [
  'attest',
  '--yes',
  ...signingArgs(mode),
  ...registryArgs(reference),
  '--type',
  predicateType,
  '--predicate',
  predicateFile,
  reference,
];

export async function signDigest(reference: string, mode: SigningMode): Promise<void> {
  await runOk(cosign(), signCommand(reference, mode), `signing ${reference}`, { env: signingEnv(mode) });
}

export async function attest(
  reference: string,
  predicateType: string,
  predicateFile: string,
  mode: SigningMode,
): Promise<void> {
  await runOk(
    cosign(),
    attestCommand(reference, predicateType, predicateFile, mode),
    `attesting ${predicateType} on ${reference}`,
    { env: signingEnv(mode) },
  );
}

export function verifySignature(reference: string, signer: Signer): Promise<RunResult> {
  return run(cosign(), ['verify', ...signerArgs(signer), ...registryArgs(reference), '--output', 'json', reference]);
}

export function verifyAttestation(reference: string, predicateType: string, signer: Signer): Promise<RunResult> {
  return run(cosign(), [
    'verify-attestation',
    ...signerArgs(signer),
    ...registryArgs(reference),
    '--type',
    predicateType,
    '--output',
    'json',
    reference,
  ]);
}
