import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Progress } from '../platform/progress.js';
import { EXIT, ReleaseError } from './errors.js';
import { decide, type Finding, gateSarif, gateTable, type GateResult, readExceptions, readScanPolicy } from './gate.js';
import { evidenceDir, type BuiltImage } from './images.js';
import type { CycloneDxBom } from './sbom.js';
import {
  checkovFindings,
  gitleaksFindings,
  licenceFindings,
  osvFindings,
  unpackLayers,
  zizmorFindings,
} from './scanners.js';

/** Every Dockerfile of the repository: the images' and the load gate's. */
const DOCKERFILES = ['app/Dockerfile', 'load/Dockerfile'];

/** Where infra commits each stack's rendered Kubernetes objects (`npm run render-manifests -w infra`). */
const MANIFESTS_DIR = join('infra', 'generated', 'manifests');

/** The rendered Kubernetes manifests of every stack, relative to `root`; none is an error, not a clean scan. */
export function kubernetesManifests(root: string): string[] {
  const dir = join(root, MANIFESTS_DIR);
  const files = existsSync(dir) ? readdirSync(dir).filter((file) => file.endsWith('.yaml')) : [];
  if (files.length === 0) {
    throw new ReleaseError(
      `${dir} holds no rendered manifests to scan`,
      'run npm run render-manifests -w infra and commit infra/generated/manifests/',
      EXIT.usage,
    );
  }
  return files.sort().map((file) => join(MANIFESTS_DIR, file));
}
import type { ScanPredicate } from './sign.js';

export interface ScanOptions {
  readonly root: string;
  readonly policyFile: string;
  readonly exceptionsFile: string;
  /** Local OSV database directory (offline); the public OSV API when absent. */
  readonly osvDb?: string;
  readonly now?: Date;
}

export interface ImageScan {
  readonly result: GateResult;
  readonly predicate: ScanPredicate;
  /** Where the table, JSON evidence and SARIF were written. */
  readonly evidence: { readonly table: string; readonly json: string; readonly sarif: string };
}

/** The SBOM's npm and Debian packages only, in a file osv-scanner recognises as CycloneDX. */
function osvSbom(bom: CycloneDxBom, dir: string): string {
  const file = join(dir, 'image.cdx.json');
  const components = bom.components.filter((c) => c.purl.startsWith('pkg:npm/') || c.purl.startsWith('pkg:deb/'));
  writeFileSync(file, JSON.stringify({ ...bom, components }));
  return file;
}

/**
 * Every scanner on one built image and its source tree, then one decision: osv-scanner on the lockfile and the
 * image's packages, gitleaks on the tree and on each image layer, licences of the image's packages, zizmor on the
 * workflows and checkov on the Dockerfiles and on the rendered Kubernetes manifests.
 */
export async function scanImage(image: BuiltImage, options: ScanOptions, progress: Progress): Promise<ImageScan> {
  const now = options.now ?? new Date();
  const policy = readScanPolicy(options.policyFile);
  const exceptions = readExceptions(options.exceptionsFile, now);
  const bom = JSON.parse(readFileSync(image.sbom, 'utf8')) as CycloneDxBom;
  const work = mkdtempSync(join(tmpdir(), 'slipway-scan-'));
  const findings: Finding[] = [];
  try {
    progress.step(
      `${image.name}: osv-scanner on package-lock.json and the image's packages${options.osvDb ? ' (offline database)' : ''}`,
    );
    findings.push(...(await osvFindings([join(options.root, 'package-lock.json'), osvSbom(bom, work)], options.osvDb)));
    progress.step(`${image.name}: gitleaks on the tree`);
    findings.push(...(await gitleaksFindings(options.root, 'tree', join(options.root, '.gitleaks.toml'))));
    progress.step(`${image.name}: gitleaks on the image layers`);
    const layers = await unpackLayers(image.layout, image.digest);
    try {
      findings.push(...(await gitleaksFindings(layers, `layer`)));
    } finally {
      rmSync(layers, { recursive: true, force: true });
    }
    progress.step(`${image.name}: licences of ${String(bom.components.length)} packages`);
    findings.push(...licenceFindings(bom, policy));
    progress.step('zizmor on .github/workflows, checkov on the Dockerfiles and the rendered Kubernetes manifests');
    findings.push(...(await zizmorFindings(join(options.root, '.github', 'workflows'))));
    findings.push(...(await checkovFindings(DOCKERFILES, options.root, policy)));
    findings.push(...(await checkovFindings(kubernetesManifests(options.root), options.root, policy, 'kubernetes')));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const result = decide(findings, exceptions, policy, now);
  for (const warning of result.warnings) progress.warn(warning);
  const counts: Record<string, number> = {};
  for (const row of result.rows) counts[row.disposition] = (counts[row.disposition] ?? 0) + 1;
  const predicate: ScanPredicate = {
    verdict: result.verdict,
    scannedAt: now.toISOString(),
    digest: image.digest,
    counts,
    findings: result.rows.map((row) => ({
      ...row.finding,
      disposition: row.disposition,
      exception: row.exception?.id,
    })),
  };
  const dir = evidenceDir(image.name, image.digest);
  mkdirSync(dir, { recursive: true });
  const evidence = { table: join(dir, 'gate.txt'), json: join(dir, 'gate.json'), sarif: join(dir, 'gate.sarif') };
  writeFileSync(evidence.table, `${gateTable(result)}\n`);
  writeFileSync(
    evidence.json,
    `${JSON.stringify({ ...predicate, unusedExceptions: result.unusedExceptions, warnings: result.warnings }, null, 2)}\n`,
  );
  writeFileSync(evidence.sarif, `${JSON.stringify(gateSarif(result), null, 2)}\n`);
  writeFileSync(join(dir, 'scan-predicate.json'), `${JSON.stringify(predicate, null, 2)}\n`);
  (result.verdict === 'pass' ? progress.ok : progress.warn)(
    `${image.name}: gate ${result.verdict} (${String(result.rows.length)} findings)`,
  );
  return { result, predicate, evidence };
}
