import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { configVariables } from '../src/config.js';
import { POSTGRES_MAJOR_VERSION } from '../src/backup/postgres.js';

/** A file of this repository, by its path from the app workspace. */
function repositoryFile(path: string): string {
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- fixed paths inside the repository
  return readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
}

const dockerfile = repositoryFile('Dockerfile');
const entrypoint = repositoryFile('entrypoint.js');
const composeText = repositoryFile('../docker-compose.yml');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Enough of the Dockerfile grammar for these checks: comments and line continuations. */
function instructions(text: string): Instruction[] {
  const lines = text.split('\n');
  const result: Instruction[] = [];
  for (let index = 0; index < lines.length; index += 1) {
    let line = lines[index] ?? '';
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    while (line.endsWith('\\') && index + 1 < lines.length) {
      index += 1;
      line = `${line.slice(0, -1)} ${(lines[index] ?? '').trim()}`;
    }
    const [keyword = '', ...rest] = line.trim().split(/\s+/);
    result.push({ keyword: keyword.toUpperCase(), args: rest.join(' ') });
  }
  return result;
}

const all = instructions(dockerfile);

/** Images whose releases are numbered major.minor: for them, 16.10 is an exact release. */
const TWO_PART_VERSIONS = new Set(['postgres']);

/** `name:1.2.3-variant` or `name@sha256:<64 hex>`: the same bytes on every build. */
function isPinned(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const [, name = '', tag] = /^([^@:]+):([^:/@]+)$/.exec(image) ?? [];
  if (tag === undefined) return false;
  const exact = TWO_PART_VERSIONS.has(name) ? /^\d+\.\d+/ : /^v?\d+\.\d+\.\d+/;
  const variant = tag.replace(exact, '');
  return variant !== tag && (variant === '' || /^-[a-z0-9.-]+$/.test(variant));
}

describe('app/Dockerfile essentials', () => {
  it('builds on the Slipway base image passed by digest, with no default a rebuild could drift to', () => {
    // the release pipeline (pipelines/src/release) passes BASE_IMAGE=<repository>@sha256:<digest>
    expect(all.filter((i) => i.keyword === 'ARG').map((i) => i.args)).toEqual(['BASE_IMAGE']);
    expect(all.filter((i) => i.keyword === 'FROM').map((i) => i.args)).toEqual(['${BASE_IMAGE}']);
  });

  it('copies only the staged production dependencies (hoisted and nested under app/), the compiled app with its source commit, its migrations and the entry point', () => {
    expect(all.filter((i) => i.keyword === 'COPY').map((i) => i.args)).toEqual([
      'node_modules ./node_modules',
      'app/node_modules app/node_modules',
      'app/package.json app/source.json app/',
      'app/migrations app/migrations',
      'app/dist app/dist',
      '--chmod=0755 app/entrypoint.js /usr/local/bin/erp-api',
    ]);
    // nothing runs at build time: the base has no shell, and the build needs no container runtime
    expect(all.some((i) => i.keyword === 'RUN')).toBe(false);
  });

  it('runs as a numeric non-root user, in production mode', () => {
    const users = all.filter((instruction) => instruction.keyword === 'USER');
    expect(users.map((u) => u.args)).toEqual(['10001:10001']);
    expect(
      all
        .filter((instruction) => instruction.keyword === 'ENV')
        .map((i) => i.args)
        .join(' '),
    ).toMatch(/NODE_ENV=production/);
  });

  it('takes server (default), worker, migrate, audit, admin, backup, restore, drill or seed as its command, starting tracing before the server', () => {
    expect(JSON.parse(all.find((i) => i.keyword === 'ENTRYPOINT')?.args ?? 'null')).toEqual(['/usr/local/bin/erp-api']);
    expect(JSON.parse(all.find((i) => i.keyword === 'CMD')?.args ?? 'null')).toEqual(['server']);
    expect(entrypoint).toMatch(/^#!\/usr\/local\/bin\/node\n/);
    expect(entrypoint).toContain("server: ['--import', './dist/instrument.js', 'dist/bin/server.js']");
    expect(entrypoint).toContain("worker: ['--import', './dist/instrument.js', 'dist/bin/worker.js']");
    expect(entrypoint).toContain("migrate: ['dist/bin/migrate.js']");
    expect(entrypoint).toContain("audit: ['dist/bin/audit.js']");
    expect(entrypoint).toContain("admin: ['dist/bin/admin.js']");
    expect(entrypoint).toContain("backup: ['dist/bin/backup-cli.js']");
    expect(entrypoint).toContain("restore: ['dist/bin/restore-cli.js']");
    expect(entrypoint).toContain("drill: ['dist/bin/drill.js']");
    expect(entrypoint).toContain("seed: ['dist/bin/seed.js']");
    expect(entrypoint).not.toContain('not implemented');
    expect(entrypoint).toContain('process.execve(process.execPath');
  });
});

interface ComposeService {
  readonly image?: string;
  readonly environment?: Readonly<Record<string, string>>;
  readonly read_only?: boolean;
  readonly user?: string;
}

describe('docker-compose.yml', () => {
  const compose = parse(composeText, { merge: true }) as { services: Record<string, ComposeService> };
  const known = new Set<string>(configVariables.map((variable) => variable.name));
  const required = configVariables.filter((variable) => variable.required).map((variable) => variable.name);

  it("runs the app with the PostgreSQL major version the image's pg_dump serves, Redis 7 and Prometheus", () => {
    expect(Object.keys(compose.services).sort()).toEqual(['app', 'migrate', 'postgres', 'prometheus', 'redis']);
    expect(compose.services.postgres?.image?.split(/[:.-]/).slice(0, 2)).toEqual([
      'postgres',
      String(POSTGRES_MAJOR_VERSION),
    ]);
    expect(compose.services.redis?.image).toMatch(/^redis:7\./);
    expect(compose.services.prometheus?.image).toMatch(/^prom\/prometheus:v\d/);
  });

  it('gives the app every variable the config schema requires, and none it does not know', () => {
    const names = Object.keys(compose.services.app?.environment ?? {});
    for (const name of required) expect(names).toContain(name);
    expect(names.filter((name) => !known.has(name))).toEqual([]);
    // The schema requires one of these two (checked across variables, so neither is marked required on its own).
    const signing = ['JWT_SECRETS', 'JWT_SECRET'];
    expect(names.filter((name) => signing.includes(name))).toHaveLength(1);
    expect(names.filter((name) => !signing.includes(name)).sort()).toEqual([...required].sort());
  });

  it('gives the migration job only variables the app knows', () => {
    const names = Object.keys(compose.services.migrate?.environment ?? {});
    expect(names).toEqual(['DATABASE_URL']);
  });

  it('pins the third-party images and runs the app with a read-only root filesystem', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (name === 'app' || name === 'migrate') continue;
      expect(isPinned(service.image ?? ''), `${name}: ${service.image ?? 'no image'}`).toBe(true);
    }
    expect(compose.services.app?.read_only).toBe(true);
  });
});
