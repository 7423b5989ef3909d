/**
 * Who signs Slipway's images and which attestations every image carries: one definition that the release CLI signs
 * and verifies with and the Kyverno admission policy in infra/ renders.
 */

/** The release workflow's keyless identity in GitHub Actions (cosign with the workflow's OIDC token). */
export const KEYLESS_IDENTITY = {
  subject: 'https://github.com/slipway/slipway/.github/workflows/release.yml@refs/heads/main',
  issuer: 'https://token.actions.githubusercontent.com',
} as const;

/** In-toto predicate types, one per required attestation, as cosign records them. */
export const ATTESTATION_TYPES = {
  sbom: 'https://cyclonedx.org/bom',
  provenance: 'https://slsa.dev/provenance/v1',
  scan: 'https://slipway.dev/attestations/scan-result/v1',
} as const;

export type AttestationKind = keyof typeof ATTESTATION_TYPES;

export const REQUIRED_ATTESTATIONS: readonly AttestationKind[] = ['sbom', 'provenance', 'scan'];

/** A scan result older than this no longer admits its image: new advisories appear every day. */
export const SCAN_MAX_AGE_DAYS = 7;
