import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Progress } from '../platform/progress.js';
import { attest, signDigest, type SigningMode } from './cosign.js';
import { ATTESTATION_TYPES } from './identity.js';
import { evidenceDir, type BuiltImage } from './images.js';
import { slsaProvenance } from './provenance.js';
import { pushImage } from './registry.js';

/** The scan attestation's predicate: the gate's verdict on this digest and when it was reached. */
export interface ScanPredicate {
  readonly verdict: 'pass' | 'fail';
  readonly scannedAt: string;
  readonly digest: string;
  readonly counts: Readonly<Record<string, number>>;
  readonly findings: readonly unknown[];
}

export interface SignOptions {
  readonly registry: string;
  /** The local key pair, or keyless with the environment's OIDC identity (the release workflow). */
  readonly key: SigningMode;
  readonly scan: ScanPredicate;
  readonly root: string;
  /** Source repository URL recorded in the provenance. */
  readonly repository: string;
  readonly builderId: string;
  /** Path in the registry; the image's own name unless given. */
  readonly target?: string;
}

/** Pushes the image by digest, signs the digest, and attaches the SBOM, scan result and SLSA provenance. */
export async function signAndAttest(image: BuiltImage, options: SignOptions, progress: Progress): Promise<string> {
  progress.step(`${image.name}: push to ${options.registry}`);
  const reference = await pushImage(image, options.registry, options.target);
  progress.ok(`${image.name}: pushed ${reference}`);
  await signDigest(reference, options.key);
  progress.ok(`${image.name}: signed`);
  const dir = evidenceDir(image.name, image.digest);
  mkdirSync(dir, { recursive: true });
  const provenanceFile = join(dir, 'provenance.json');
  writeFileSync(
    provenanceFile,
    `${JSON.stringify(slsaProvenance(image, { root: options.root, repository: options.repository, builderId: options.builderId, invocationId: `${image.name}@${image.digest}` }), null, 2)}\n`,
  );
  const scanFile = join(dir, 'scan-predicate.json');
  writeFileSync(scanFile, `${JSON.stringify(options.scan, null, 2)}\n`);
  await attest(reference, ATTESTATION_TYPES.sbom, image.sbom, options.key);
  progress.ok(`${image.name}: SBOM attested`);
  await attest(reference, ATTESTATION_TYPES.scan, scanFile, options.key);
  progress.ok(`${image.name}: scan result (${options.scan.verdict}) attested`);
  await attest(reference, ATTESTATION_TYPES.provenance, provenanceFile, options.key);
  progress.ok(`${image.name}: SLSA provenance attested`);
  return reference;
}
