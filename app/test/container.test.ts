import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { configVariables } from '../src/config.js';

/** A file of this repository, by its path from the app workspace. */
function repositoryFile(path: string): string {
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- fixed paths inside the repository
  return readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
}

const dockerfile = repositoryFile('Dockerfile');
const dockerignore = repositoryFile('Dockerfile.dockerignore');
const composeText = repositoryFile('../docker-compose.yml');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  /** Index of the build stage (FROM) it belongs to; -1 before the first FROM. */
  readonly stage: number;
  /** The here-document body, for `COPY <<'EOF' …` instructions. */
  readonly heredoc?: string;
}

/** Enough of the Dockerfile grammar for these checks: comments, line continuations and here-documents. */
function instructions(text: string): Instruction[] {
  const lines = text.split('\n');
  const result: Instruction[] = [];
  let stage = -1;
  for (let index = 0; index < lines.length; index += 1) {
    let line = lines[index] ?? '';
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    while (line.endsWith('\\') && index + 1 < lines.length) {
      index += 1;
      line = `${line.slice(0, -1)} ${(lines[index] ?? '').trim()}`;
    }
    const [keyword = '', ...rest] = line.trim().split(/\s+/);
    const args = rest.join(' ');
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') stage += 1;
    const heredocAt = args.indexOf('<<');
    const marker =
      heredocAt === -1
        ? undefined
        : (args.slice(heredocAt + 2).split(' ')[0] ?? '').replace(/^-/, '').replace(/['"]/g, '');
    if (marker === undefined) {
      result.push({ keyword: upper, args, stage });
      continue;
    }
    const body: string[] = [];
    while (index + 1 < lines.length && lines[index + 1] !== marker) body.push(lines[(index += 1)] ?? '');
    index += 1;
    result.push({ keyword: upper, args, stage, heredoc: body.join('\n') });
  }
  return result;
}

const all = instructions(dockerfile);
const globalArgs = new Map(
  all
    .filter((instruction) => instruction.keyword === 'ARG' && instruction.stage === -1)
    .map((instruction) => {
      const [name = '', value = ''] = instruction.args.split('=');
      return [name, value] as const;
    }),
);
const froms = all
  .filter((instruction) => instruction.keyword === 'FROM')
  .map((instruction) => {
    const [image = '', as, name] = instruction.args.split(/\s+/);
    return {
      image: image.replace(/\$\{(\w+)\}/g, (_match, variable: string) => globalArgs.get(variable) ?? `\${${variable}}`),
      name: as?.toUpperCase() === 'AS' ? name : undefined,
    };
  });
const finalStage = froms.length - 1;
const inFinal = all.filter((instruction) => instruction.stage === finalStage);

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
  it('is multi-stage: dependencies, build and runtime apart', () => {
    expect(froms.map((from) => from.name)).toEqual(['deps', 'build', 'runtime']);
  });

  it('pins every base image by exact version or digest, never latest', () => {
    for (const { image } of froms) {
      expect(image).not.toMatch(/\$\{/);
      expect(image).not.toMatch(/:latest\b/);
      expect(isPinned(image), image).toBe(true);
    }
    expect(froms.at(-1)?.image).toMatch(/^node:24\.\d+\.\d+-bookworm-slim$/);
  });

  it('installs production dependencies only, with the root lockfile, for the runtime', () => {
    const deps = all.filter((instruction) => instruction.stage === 0 && instruction.keyword === 'RUN');
    expect(deps.map((instruction) => instruction.args).join('\n')).toMatch(/npm ci --omit=dev --workspace app/);
    expect(all.some((instruction) => instruction.stage === 0 && instruction.args.includes('package-lock.json'))).toBe(
      true,
    );
    const copiedFrom = inFinal
      .filter((instruction) => instruction.keyword === 'COPY')
      .map((instruction) => /--from=(\S+)/.exec(instruction.args)?.[1])
      .filter((stage) => stage !== undefined);
    // node_modules come from deps only; build contributes nothing but compiled JavaScript.
    expect(inFinal.filter((i) => i.keyword === 'COPY' && i.args.includes('--from=build'))).toEqual([
      expect.objectContaining({ args: expect.stringMatching(/\/src\/app\/dist app\/dist$/) as unknown }),
    ]);
    expect(new Set(copiedFrom)).toEqual(new Set(['deps', 'build']));
  });

  it('runs as a numeric non-root user, in production mode', () => {
    const users = inFinal.filter((instruction) => instruction.keyword === 'USER');
    const user = users.at(-1)?.args ?? '';
    const [uid = '', gid = uid, ...extra] = user.split(':');
    expect([uid, gid, extra]).toEqual(['10001', '10001', []]);
    expect(
      inFinal
        .filter((instruction) => instruction.keyword === 'ENV')
        .map((i) => i.args)
        .join(' '),
    ).toMatch(/NODE_ENV=production/);
    const lastUser = users.at(-1);
    const lastUserIndex = lastUser === undefined ? -1 : inFinal.indexOf(lastUser);
    expect(lastUserIndex).toBeGreaterThan(0);
    // Nothing after USER runs as root, and nothing at all writes outside /tmp at run time.
    expect(inFinal.slice(lastUserIndex).some((instruction) => instruction.keyword === 'RUN')).toBe(false);
  });

  it('takes server (default), migrate, audit, admin or backup as its command, starting tracing before the server', () => {
    const entrypoint = inFinal.find((instruction) => instruction.keyword === 'ENTRYPOINT');
    expect(JSON.parse(entrypoint?.args ?? 'null')).toEqual(['/usr/local/bin/erp-api']);
    expect(JSON.parse(inFinal.find((instruction) => instruction.keyword === 'CMD')?.args ?? 'null')).toEqual([
      'server',
    ]);
    const scriptCopy = inFinal.find((instruction) => instruction.args.endsWith('/usr/local/bin/erp-api'));
    expect(scriptCopy?.heredoc).toBeDefined();
    const body = scriptCopy?.heredoc ?? '';
    expect(body).toMatch(/^#!\/bin\/sh\n/);
    expect(body).toContain('exec node --import ./dist/instrument.js dist/server.js');
    expect(body).toContain('exec node dist/migrate.js');
    expect(body).toContain('exec node dist/audit.js');
    expect(body).toContain('exec node dist/admin.js');
    expect(body).toMatch(/backup\)[\s\S]*not implemented yet[\s\S]*exit 69/);
  });

  it('sends only what the image needs to the build', () => {
    const patterns = dockerignore.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(patterns[0]).toBe('*');
    for (const needed of ['!package-lock.json', '!app/src/**', '!app/migrations/**']) {
      expect(dockerignore.split('\n')).toContain(needed);
    }
    expect(dockerignore).not.toMatch(/^!.*(node_modules|\.local|\.git|dist)/m);
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

  it('runs the app with PostgreSQL 16, Redis 7 and Prometheus', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['app', 'migrate', 'postgres', 'prometheus', 'redis']);
    expect(compose.services.postgres?.image).toMatch(/^postgres:16\./);
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
