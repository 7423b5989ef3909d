import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';

import { parseAllDocuments, stringify } from 'yaml';

import { repoRoot } from '../platform/paths.js';
import { toolPath } from '../platform/tools.js';
import { EXIT, ReleaseError } from './errors.js';
import { run, runOk } from './exec.js';
import type { Finding, ScanPolicy, Severity } from './gate.js';
import type { CycloneDxBom } from './sbom.js';

interface OsvOutput {
  readonly results?: readonly {
    readonly source: { readonly path: string };
    readonly packages?: readonly {
      readonly package: { readonly name: string; readonly version: string; readonly ecosystem: string };
      readonly vulnerabilities?: readonly {
        readonly id: string;
        readonly summary?: string;
        readonly database_specific?: { severity?: string };
      }[];
      readonly groups?: readonly { readonly ids: readonly string[]; readonly max_severity?: string }[];
    }[];
  }[];
}

/** CVSS base score (osv-scanner's max_severity), or the advisory's own word, as the gate's severity. */
function osvSeverity(score: string | undefined, word: string | undefined): Severity {
  const value = Number(score);
  if (score !== undefined && score !== '' && Number.isFinite(value)) {
    if (value >= 9) return 'critical';
    if (value >= 7) return 'high';
    if (value >= 4) return 'medium';
    return value > 0 ? 'low' : 'info';
  }
  switch (word?.toUpperCase()) {
    case 'CRITICAL':
      return 'critical';
    case 'HIGH':
      return 'high';
    case 'MODERATE':
    case 'MEDIUM':
      return 'medium';
    case 'LOW':
      return 'low';
    default:
      // an advisory without a severity is not waved through
      return 'high';
  }
}

const PURL_TYPE: Readonly<Record<string, string>> = { npm: 'npm', Debian: 'deb/debian' };

/**
 * osv-scanner on lockfiles and SBOMs. With `offlineDb` it reads only that local OSV database directory (laid out as
 * osv-scanner's cache: <dir>/osv-scanner/<ecosystem>/all.zip) and never the network.
 */
export async function osvFindings(inputs: readonly string[], offlineDb?: string): Promise<Finding[]> {
  const args = ['scan', 'source', '--format', 'json', ...(offlineDb ? ['--offline-vulnerabilities'] : [])];
  for (const input of inputs) args.push('-L', input);
  const env = { ...process.env, ...(offlineDb ? { OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY: offlineDb } : {}) };
  const result = await run(toolPath('osv-scanner'), args, { env });
  // 0: nothing found, 1: vulnerabilities found; anything else is an error of the scan itself
  if (result.code !== 0 && result.code !== 1) {
    throw new ReleaseError(
      `osv-scanner exited ${String(result.code)}: ${result.stderr.trim().split('\n').slice(-3).join(' ')}`,
      offlineDb
        ? `check the offline OSV database in ${offlineDb} (one <ecosystem>/all.zip per ecosystem under osv-scanner/)`
        : 'check the network to api.osv.dev, or pass --osv-db <dir> for an offline database',
      EXIT.failed,
    );
  }
  const output = JSON.parse(result.stdout) as OsvOutput;
  const findings: Finding[] = [];
  for (const source of output.results ?? []) {
    for (const pkg of source.packages ?? []) {
      const purl = `pkg:${PURL_TYPE[pkg.package.ecosystem] ?? pkg.package.ecosystem.toLowerCase()}/${pkg.package.name}@${pkg.package.version}`;
      for (const vulnerability of pkg.vulnerabilities ?? []) {
        const group = pkg.groups?.find((g) => g.ids.includes(vulnerability.id));
        findings.push({
          id: vulnerability.id,
          scanner: 'osv-scanner',
          severity: osvSeverity(group?.max_severity, vulnerability.database_specific?.severity),
          target: purl,
          title: vulnerability.summary ?? vulnerability.id,
        });
      }
    }
  }
  return findings;
}

interface GitleaksLeak {
  readonly RuleID: string;
  readonly Description: string;
  readonly File: string;
  readonly StartLine: number;
}

/** gitleaks on a directory; secrets are redacted in its report, and every leak is a critical finding. */
export async function gitleaksFindings(dir: string, label: string, config?: string): Promise<Finding[]> {
  const work = mkdtempSync(join(tmpdir(), 'slipway-gitleaks-'));
  try {
    const report = join(work, 'report.json');
    await runOk(
      toolPath('gitleaks'),
      [
        'dir',
        dir,
        '--no-banner',
        '--redact',
        '--log-level',
        'error',
        '--exit-code',
        '0',
        '--report-format',
        'json',
        '--report-path',
        report,
        ...(config ? ['--config', config] : []),
      ],
      `gitleaks on ${label}`,
    );
    const leaks = JSON.parse(readFileSync(report, 'utf8')) as GitleaksLeak[];
    return leaks.map((leak) => ({
      id: `gitleaks:${leak.RuleID}`,
      scanner: 'gitleaks',
      severity: 'critical',
      target: `${label}:${leak.File.startsWith(dir) ? leak.File.slice(dir.length + 1) : leak.File}:${String(leak.StartLine)}`,
      title: leak.Description,
    }));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

interface OciManifest {
  readonly layers: readonly { readonly digest: string; readonly mediaType: string }[];
}

/** Unpacks each layer of an image in an OCI layout into its own folder (named by digest) and returns the root. */
export async function unpackLayers(layout: string, manifestDigest: string): Promise<string> {
  const manifest = JSON.parse(
    readFileSync(join(layout, 'blobs', 'sha256', manifestDigest.replace('sha256:', '')), 'utf8'),
  ) as OciManifest;
  const root = mkdtempSync(join(tmpdir(), 'slipway-layers-'));
  for (const layer of manifest.layers) {
    const hex = layer.digest.replace('sha256:', '');
    mkdirSync(join(root, hex));
    const gzip = layer.mediaType.endsWith('gzip');
    await runOk(
      'tar',
      [
        gzip ? '-xzf' : '-xf',
        join(layout, 'blobs', 'sha256', hex),
        '-C',
        join(root, hex),
        '--no-same-owner',
        '--no-same-permissions',
      ],
      `unpacking layer ${layer.digest}`,
    );
  }
  return root;
}

/** True when every id of an SPDX expression is allowed (OR needs one side, AND both), or the whole expression is. */
function licenceAllowed(expression: string, policy: ScanPolicy): boolean {
  if (policy.allowedLicenceExpressions.includes(expression)) return true;
  const alternatives = expression.replace(/[()]/g, ' ').split(/\s+OR\s+/);
  return alternatives.some((alternative) =>
    alternative
      .split(/\s+AND\s+/)
      .map((id) => id.trim())
      .every((id) => policy.allowedLicences.includes(id)),
  );
}

/** Every component of the SBOM whose licence is missing or not on the allow-list. */
export function licenceFindings(bom: CycloneDxBom, policy: ScanPolicy): Finding[] {
  const findings: Finding[] = [];
  for (const component of bom.components) {
    const expressions = component.licenses.map((l) =>
      'expression' in l ? l.expression : (l.license.id ?? l.license.name ?? ''),
    );
    const expression = expressions.join(' AND ');
    if (expression === '' || !licenceAllowed(expression, policy)) {
      findings.push({
        id: `licence:${expression === '' ? 'unknown' : expression}`,
        scanner: 'licences',
        severity: 'high',
        target: component.purl,
        title: expression === '' ? 'no licence declared' : `licence ${expression} is not on the allow-list`,
      });
    }
  }
  return findings;
}

/** A PyPI tool from the venv scripts/bootstrap builds from tools.pypi. */
export function pypiTool(name: 'zizmor' | 'checkov'): string {
  const path = join(repoRoot, '.tools', 'python', 'bin', name);
  if (!existsSync(path)) {
    throw new ReleaseError(
      `${name} is not installed (${path} is missing)`,
      'run scripts/bootstrap (pins in tools.pypi)',
      EXIT.missing,
    );
  }
  return path;
}

interface ZizmorFinding {
  readonly ident: string;
  readonly desc: string;
  readonly determinations: { readonly severity: string };
  readonly locations: readonly {
    readonly symbolic: { readonly key: { readonly Local?: { readonly verbatim_path: string } } };
  }[];
}

/** zizmor on the GitHub workflows, offline (no GitHub API): template injection, credential leaks, unpinned actions. */
export async function zizmorFindings(workflows: string): Promise<Finding[]> {
  const result = await run(pypiTool('zizmor'), ['--offline', '--format', 'json', workflows]);
  // zizmor exits 10-14 when it found something; other non-zero codes are its own failures
  if (result.code !== 0 && !(result.code >= 10 && result.code <= 14)) {
    throw new ReleaseError(
      `zizmor exited ${String(result.code)}: ${result.stderr.trim().slice(-300)}`,
      'read the error; run scripts/bootstrap',
    );
  }
  return (JSON.parse(result.stdout) as ZizmorFinding[]).map((f) => ({
    id: `zizmor:${f.ident}`,
    scanner: 'zizmor',
    severity:
      ({ High: 'high', Medium: 'medium', Low: 'low', Informational: 'info' } as Record<string, Severity>)[
        f.determinations.severity
      ] ?? 'high',
    target: f.locations[0]?.symbolic.key.Local?.verbatim_path ?? workflows,
    title: f.desc,
  }));
}

interface CheckovReport {
  readonly results: {
    readonly failed_checks: readonly { check_id: string; check_name: string; file_path: string; resource: string }[];
  };
}

/** Whether a policy skip scoped to `resources` covers one checkov resource (`Kind.namespace.name`). */
const coversResource = (resources: readonly string[], resource: string): boolean =>
  resources.some((pattern) =>
    pattern.endsWith('*') ? resource.startsWith(pattern.slice(0, -1)) : pattern === resource,
  );

interface KubernetesObject {
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly spec?: { readonly replicas?: number; readonly selector?: unknown; readonly template?: unknown };
}

/**
 * checkov has pod checks for Deployments but none for Argo Rollouts, whose spec.template is the same
 * PodTemplateSpec: the copy checkov reads adds each Rollout as a Deployment of its template. Returns the copy and
 * the `namespace.name` of those Rollouts, so findings can name the Rollout.
 */
function withRolloutsAsDeployments(file: string, dir: string): { copy: string; rollouts: Set<string> } {
  const text = readFileSync(file, 'utf8');
  const rollouts = new Set<string>();
  const views = parseAllDocuments(text)
    .map((document) => document.toJS() as KubernetesObject | null)
    .filter((object): object is KubernetesObject => object?.kind === 'Rollout')
    .map((rollout) => {
      rollouts.add(`${rollout.metadata?.namespace ?? 'default'}.${rollout.metadata?.name ?? ''}`);
      const { replicas, selector, template } = rollout.spec ?? {};
      return stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: rollout.metadata,
        spec: { ...(replicas === undefined ? {} : { replicas }), selector, template },
      });
    });
  const copy = join(dir, basename(file));
  writeFileSync(copy, [text, ...views].join('\n---\n'));
  return { copy, rollouts };
}

/**
 * checkov on Dockerfiles or on rendered Kubernetes manifests. Its open-source edition reports no severities, so
 * every failed check is high (it blocks) unless the scan policy skips it with a reason, everywhere or for the
 * objects it names. It runs offline (`--skip-download`): no policy download from the vendor's platform.
 */
export async function checkovFindings(
  files: readonly string[],
  root: string,
  policy: ScanPolicy,
  framework: 'dockerfile' | 'kubernetes' = 'dockerfile',
): Promise<Finding[]> {
  const skip = policy.checkovSkipChecks.filter((s) => s.resources === undefined).map((s) => s.id);
  const scoped = policy.checkovSkipChecks.filter((s) => s.resources !== undefined);
  const args = [
    '--framework',
    framework,
    '-o',
    'json',
    '--quiet',
    '--skip-download',
    ...(skip.length > 0 ? ['--skip-check', skip.join(',')] : []),
  ];
  // Kubernetes files are scanned as copies (Rollouts shown as Deployments); findings name the original file.
  const work = framework === 'kubernetes' ? mkdtempSync(join(tmpdir(), 'slipway-checkov-')) : undefined;
  const originals = new Map<string, string>();
  const rollouts = new Set<string>();
  files.forEach((file, index) => {
    if (work === undefined) return args.push('-f', file);
    const dir = join(work, String(index));
    mkdirSync(dir);
    const scanned = withRolloutsAsDeployments(resolve(root, file), dir);
    for (const rollout of scanned.rollouts) rollouts.add(rollout);
    originals.set(`${String(index)}/${basename(file)}`, file);
    return args.push('-f', scanned.copy);
  });
  const result = await run(pypiTool('checkov'), args, { cwd: root }).finally(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });
  if (result.code !== 0 && result.code !== 1) {
    throw new ReleaseError(
      `checkov exited ${String(result.code)}: ${result.stderr.trim().slice(-300)}`,
      'read the error; run scripts/bootstrap',
    );
  }
  const parsed = JSON.parse(result.stdout) as CheckovReport | readonly CheckovReport[] | { passed: number };
  const reports = Array.isArray(parsed) ? (parsed as readonly CheckovReport[]) : 'results' in parsed ? [parsed] : [];
  const resourceOf = (resource: string): string => {
    const [kind, ...rest] = resource.split('.');
    return kind === 'Deployment' && rollouts.has(rest.join('.')) ? `Rollout.${rest.join('.')}` : resource;
  };
  return reports.flatMap((report) =>
    report.results.failed_checks
      .map((check) => ({ ...check, resource: resourceOf(check.resource) }))
      .filter(
        (check) => !scoped.some((s) => s.id === check.check_id && coversResource(s.resources ?? [], check.resource)),
      )
      .map((check) => {
        // checkov prints the copy's path relative to its working directory; its last two parts name the original
        const file =
          originals.get(check.file_path.split('/').slice(-2).join('/')) ?? check.file_path.replace(/^\//, '');
        return {
          id: `checkov:${check.check_id}`,
          scanner: 'checkov',
          severity: 'high' as const,
          target: framework === 'kubernetes' ? `${file} ${check.resource}` : file,
          title: check.check_name,
        };
      }),
  );
}
