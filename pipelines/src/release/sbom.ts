import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BaseImage } from './base.js';

/** One package in the image, as the SBOM, the licence check and the vulnerability scan see it. */
export interface SbomComponent {
  readonly type: 'library' | 'application';
  readonly 'bom-ref': string;
  readonly name: string;
  readonly group?: string;
  readonly version: string;
  readonly purl: string;
  readonly licenses: readonly ({ license: { id?: string; name?: string } } | { expression: string })[];
}

/** A program the image carries outside any package manager (for example a pinned Go binary). */
export interface SbomApplication {
  readonly name: string;
  readonly version: string;
  readonly purl: string;
  /** SPDX licence id. */
  readonly licence: string;
}

export interface CycloneDxBom {
  readonly bomFormat: 'CycloneDX';
  readonly specVersion: '1.5';
  readonly serialNumber: string;
  readonly version: 1;
  readonly metadata: {
    readonly timestamp: string;
    readonly tools: { readonly components: readonly { type: 'application'; name: string; version: string }[] };
    readonly component: { type: 'container'; name: string; version: string; 'bom-ref': string };
  };
  readonly components: readonly SbomComponent[];
}

const licenses = (value: string | undefined): SbomComponent['licenses'] => {
  if (value === undefined || value === '' || value === 'NOASSERTION') return [];
  // a single SPDX id stays an id; anything with an operator or exception is an expression
  return /^[A-Za-z0-9.+-]+$/.test(value) ? [{ license: { id: value } }] : [{ expression: value }];
};

function debianComponents(base: BaseImage): SbomComponent[] {
  return base.debian.map((p) => {
    const purl = `pkg:deb/debian/${p.name}@${encodeURIComponent(p.version)}?arch=${p.architecture}&distro=debian-12`;
    return {
      type: 'library' as const,
      'bom-ref': purl,
      name: p.name,
      version: p.version,
      purl,
      licenses: licenses(p.license),
    };
  });
}

interface PackageJson {
  readonly name?: string;
  readonly version?: string;
  readonly license?: string | { type?: string };
  readonly licenses?: readonly { type?: string }[];
}

/**
 * The licence of a package whose package.json declares none, read from its licence file: only the MIT text is
 * recognised (its grant and its notice condition, which MIT-0 lacks); anything else stays undeclared, a finding.
 */
export function licenceFromFile(dir: string): string | undefined {
  for (const file of ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'LICENCE', 'license']) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    const text = readFileSync(path, 'utf8').replace(/\s+/g, ' ');
    const mit =
      text.includes('Permission is hereby granted, free of charge, to any person obtaining a copy') &&
      text.includes('The above copyright notice and this permission notice shall be included in all copies');
    return mit ? 'MIT' : undefined;
  }
  return undefined;
}

/** Every package.json under node_modules (nested ones too), once per name@version. */
function npmComponents(nodeModules: string, seen = new Set<string>()): SbomComponent[] {
  if (!existsSync(nodeModules)) return [];
  const out: SbomComponent[] = [];
  for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const dirs = entry.name.startsWith('@')
      ? readdirSync(join(nodeModules, entry.name), { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => join(nodeModules, entry.name, e.name))
      : [join(nodeModules, entry.name)];
    for (const dir of dirs) {
      const manifest = join(dir, 'package.json');
      if (!existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as PackageJson;
      if (typeof pkg.name === 'string' && typeof pkg.version === 'string' && !seen.has(`${pkg.name}@${pkg.version}`)) {
        seen.add(`${pkg.name}@${pkg.version}`);
        const slash = pkg.name.indexOf('/');
        const group = pkg.name.startsWith('@') && slash > 0 ? pkg.name.slice(0, slash) : undefined;
        const name = group === undefined ? pkg.name : pkg.name.slice(slash + 1);
        const purl = `pkg:npm/${group ? `${encodeURIComponent(group)}/` : ''}${name}@${pkg.version}`;
        const declared =
          typeof pkg.license === 'string'
            ? pkg.license
            : (pkg.license?.type ?? pkg.licenses?.map((l) => l.type).join(' OR '));
        const license = declared === undefined || declared === '' ? licenceFromFile(dir) : declared;
        out.push({
          type: 'library',
          'bom-ref': purl,
          name,
          ...(group ? { group } : {}),
          version: pkg.version,
          purl,
          licenses: licenses(license),
        });
      }
      out.push(...npmComponents(join(dir, 'node_modules'), seen));
    }
  }
  return out;
}

/** A CycloneDX 1.5 SBOM of an image, from what the build put in it: the base lock, Node.js and node_modules. */
export function imageSbom(options: {
  readonly name: string;
  readonly tag: string;
  readonly digest: string;
  readonly base: BaseImage;
  readonly nodeModules: readonly string[];
  readonly applications?: readonly SbomApplication[];
  readonly sourceDateEpoch: number;
}): CycloneDxBom {
  const nodePurl = `pkg:generic/node@${options.base.node.version}`;
  const seen = new Set<string>();
  const components: SbomComponent[] = [
    ...debianComponents(options.base),
    {
      type: 'application' as const,
      'bom-ref': nodePurl,
      name: 'node',
      version: options.base.node.version,
      purl: nodePurl,
      licenses: licenses('MIT'),
    },
    ...options.nodeModules.flatMap((dir) => npmComponents(dir, seen)),
    ...(options.applications ?? []).map((app) => ({
      type: 'application' as const,
      'bom-ref': app.purl,
      name: app.name,
      version: app.version,
      purl: app.purl,
      licenses: licenses(app.licence),
    })),
  ].sort((a, b) => a.purl.localeCompare(b.purl));
  // the same image always gets the same serial number, so the SBOM is reproducible too
  const hex = createHash('sha256').update(options.digest).digest('hex');
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${uuid}`,
    version: 1,
    metadata: {
      timestamp: new Date(options.sourceDateEpoch * 1000).toISOString(),
      tools: { components: [{ type: 'application', name: 'slipway-release', version: '1' }] },
      component: {
        type: 'container',
        name: options.name,
        version: options.tag,
        'bom-ref': `${options.name}@${options.digest}`,
      },
    },
    components,
  };
}
