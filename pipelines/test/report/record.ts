import type { ReleaseRecord } from '../../src/release/release-record.js';
import type { Version } from './stack.js';

/** A promoted two-stage release of `canary` over `stable` between `startedAt` and `finishedAt`, as the executor writes one. */
export function promotedRecord(
  canary: Omit<Version, 'url'>,
  stable: Omit<Version, 'url'>,
  startedAt: Date,
  finishedAt: Date,
  prometheusUrl?: string,
): ReleaseRecord {
  const at = (fraction: number): string =>
    new Date(startedAt.getTime() + (finishedAt.getTime() - startedAt.getTime()) * fraction).toISOString();
  const { digest, namespace, podTemplateHash } = canary;
  return {
    schemaVersion: 1,
    id: `20261204T120000Z-${podTemplateHash}`,
    plan: 'erp-api-canary',
    profile: 'local',
    canary: { digest, namespace, podTemplateHash },
    stable: { digest: stable.digest, namespace: stable.namespace, podTemplateHash: stable.podTemplateHash },
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    outcome: 'promoted',
    stages: [
      {
        index: 1,
        weight: 10,
        startedAt: at(0),
        weightAppliedAt: at(0.05),
        finishedAt: at(0.6),
        gates: [
          {
            kind: 'load',
            name: 'gate',
            verdict: 'passed',
            startedAt: at(0.3),
            finishedAt: at(0.45),
            numbers: { p99Ms: 41, stableP99Ms: 39, errorRatio: 0 },
            detail: 'p99 41 ms within 1.2 × stable, no errors',
          },
          {
            kind: 'slo',
            name: 'availability',
            verdict: 'passed',
            startedAt: at(0.45),
            finishedAt: at(0.5),
            numbers: { canaryGoodRatio: 1, threshold: 0.999 },
            detail: '100% good ≥ 99.9%',
          },
        ],
      },
      { index: 2, weight: 100, startedAt: at(0.6), weightAppliedAt: at(0.62), finishedAt: at(1), gates: [] },
    ],
    evidence: {
      image: `127.0.0.1:5000/slipway/erp-api@${digest}`,
      digest,
      signerIdentity: 'slipway-local-release-key',
      sbom: { format: 'CycloneDX 1.6', packages: 412 },
      scan: { verdict: 'pass', findings: 1, exceptions: ['GHSA-xxxx-yyyy-zzzz in example until 2027-01-31'] },
    },
    timings: { totalSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000, droppedRequests: 0 },
    ...(prometheusUrl === undefined ? {} : { prometheusUrl }),
  };
}
