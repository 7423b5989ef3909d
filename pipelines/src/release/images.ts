import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

import { localDir, repoRoot } from '../platform/paths.js';
import type { Progress } from '../platform/progress.js';
import type { BaseImage } from './base.js';
import { readBuildRecordIfAny, writeBuildRecord } from './record.js';
import { imageSbom, type SbomApplication } from './sbom.js';
import { EXIT, ReleaseError } from './errors.js';
import { run, runOk } from './exec.js';

/** Every workspace's package.json: npm ci checks the lockfile against all of them. */
const WORKSPACES = ['app', 'infra', 'monitoring', 'policies', 'pipelines', 'load'] as const;

export interface StagedContext {
  /** Changes whenever a byte of the context would change. */
  readonly key: string;
  /** Writes the context directory and returns it. */
  readonly write: () => Promise<string>;
}

/** One image the release builds, scans, signs and pushes. */
export interface ImageDefinition {
  /** Repository name, e.g. `slipway/erp-api`. */
  readonly name: string;
  /** Dockerfile, relative to the repository root; it takes `ARG BASE_IMAGE` (by digest). */
  readonly dockerfile: string;
  /** Where its version comes from (package.json `version`), relative to the repository root. */
  readonly versionFrom: string;
  /** Prepares the Dockerfile's context: a key naming all its inputs, and how to write it out. */
  readonly context: (root: string, progress: Progress) => Promise<StagedContext>;
  /** The node_modules folders of the staged context that end up in the image (listed in its SBOM). */
  readonly sbomNodeModules: (context: string) => readonly string[];
  /** Programs the image carries besides Debian's packages, Node.js and npm packages (listed in its SBOM). */
  readonly sbomApplications?: (root: string) => readonly SbomApplication[];
}

const hashFiles = (root: string, files: readonly string[], extra = ''): string => {
  const hash = createHash('sha256').update(extra);
  for (const file of [...files].sort()) {
    hash
      .update(`${file}\0`)
      .update(readFileSync(join(root, file)))
      .update('\0');
  }
  return hash.digest('hex').slice(0, 32);
};

function listFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(root, path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Fills `target` by `fill(tmp)` once per key; later builds with the same inputs reuse it. */
async function cached(kind: string, key: string, fill: (dir: string) => Promise<void>): Promise<[string, boolean]> {
  const dir = join(localDir, 'cache', kind, key);
  if (existsSync(dir)) return [dir, true];
  const tmp = `${dir}.tmp-${String(process.pid)}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await fill(tmp);
  renameSync(tmp, dir);
  return [dir, false];
}

/** Production dependencies of the app workspace from the root lockfile, keyed by the lockfile and manifests. */
async function productionDependencies(root: string, progress: Progress): Promise<[string, string]> {
  const manifests = ['package.json', 'package-lock.json', ...WORKSPACES.map((ws) => `${ws}/package.json`)];
  const key = hashFiles(root, manifests);
  const [dir, hit] = await cached('app-deps', key, async (tmp) => {
    progress.step('erp-api: npm ci --omit=dev --workspace app (cached by the lockfile afterwards)');
    for (const file of manifests) cpSync(join(root, file), join(tmp, file));
    await runOk(
      'npm',
      ['ci', '--omit=dev', '--workspace', 'app', '--ignore-scripts', '--no-audit', '--no-fund'],
      'npm ci',
      {
        cwd: tmp,
      },
    );
    // workspace links other than the app's own point at folders the image does not have
    for (const ws of WORKSPACES.filter((name) => name !== 'app'))
      rmSync(join(tmp, 'node_modules', '@slipway', ws), { force: true });
  });
  if (hit) progress.ok('erp-api: production dependencies (cached, same lockfile)');
  return [dir, key];
}

/** app/dist compiled by tsc from app/src, keyed by the sources and compiler settings. */
async function compiledApp(root: string, progress: Progress): Promise<[string, string]> {
  const inputs = [
    ...listFiles(root, 'app/src'),
    'app/tsconfig.json',
    'app/tsconfig.build.json',
    'tsconfig.base.json',
    'package-lock.json',
  ];
  const key = hashFiles(root, inputs);
  const [dir, hit] = await cached('app-dist', key, async (tmp) => {
    progress.step('erp-api: tsc -p app/tsconfig.build.json');
    await runOk(
      process.execPath,
      [
        join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        join(root, 'app', 'tsconfig.build.json'),
        '--outDir',
        tmp,
      ],
      'compiling the app',
      { cwd: root },
    );
  });
  if (hit) progress.ok('erp-api: compiled app (cached, same sources)');
  return [dir, key];
}

/** The app image: its context holds exactly what app/Dockerfile copies, nothing else. */
export const appImage: ImageDefinition = {
  name: 'slipway/erp-api',
  dockerfile: 'app/Dockerfile',
  versionFrom: 'app/package.json',
  sbomNodeModules: (context) => [join(context, 'node_modules'), join(context, 'app', 'node_modules')],
  async context(root, progress) {
    const [[deps, depsKey], [dist, distKey]] = await Promise.all([
      productionDependencies(root, progress),
      compiledApp(root, progress),
    ]);
    const own = ['app/package.json', 'app/entrypoint.js', ...listFiles(root, 'app/migrations')];
    return {
      key: hashFiles(root, own, `${depsKey}\0${distKey}`),
      async write() {
        const context = contextDir(root, 'erp-api');
        rmSync(context, { recursive: true, force: true });
        mkdirSync(join(context, 'app'), { recursive: true });
        // hard links: the cached trees are never written to, and copying 300 MB of dependencies costs seconds
        await runOk('cp', ['-al', join(deps, 'node_modules'), join(context, 'node_modules')], 'staging dependencies');
        // app/Dockerfile copies app/node_modules: present (maybe empty) whether or not npm nested anything there
        if (existsSync(join(deps, 'app', 'node_modules'))) {
          await runOk(
            'cp',
            ['-al', join(deps, 'app', 'node_modules'), join(context, 'app', 'node_modules')],
            'staging dependencies',
          );
        } else mkdirSync(join(context, 'app', 'node_modules'));
        for (const file of own) cpSync(join(root, file), join(context, file));
        await runOk('cp', ['-al', dist, join(context, 'app', 'dist')], 'staging the compiled app');
        // the commit the image is built from, which every backup's manifest records (app/src/backup/manifest.ts)
        const head = await run('git', ['rev-parse', 'HEAD'], { cwd: root });
        const commit = head.code === 0 && /^[0-9a-f]{40}$/.test(head.stdout.trim()) ? head.stdout.trim() : null;
        writeFileSync(join(context, 'app', 'source.json'), `${JSON.stringify({ commit })}\n`);
        return context;
      },
    };
  },
};

/** Where a staged context lives: one folder per image, and per tree for a test's modified copy of the repository. */
function contextDir(root: string, name: string): string {
  const suffix = root === repoRoot ? '' : `-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
  return join(localDir, 'release', 'context', `${name}${suffix}`);
}

/** The pinned Vegeta that scripts/bootstrap builds (static, -trimpath), as tools.versions names it. */
function pinnedVegeta(root: string): { readonly version: string; readonly module: string } {
  const line = readFileSync(join(root, 'tools.versions'), 'utf8')
    .split('\n')
    .map((row) => row.trim().split(/\s+/))
    .find((fields) => fields[0] === 'vegeta');
  const [, module, version] = line ?? [];
  if (module === undefined || version === undefined) {
    throw new ReleaseError(
      'tools.versions has no vegeta line',
      'pin vegeta there (name, go package, version)',
      EXIT.usage,
    );
  }
  return { module, version };
}

/** The load gate image: its context holds exactly what load/Dockerfile copies (see load/Dockerfile.dockerignore). */
export const gateImage: ImageDefinition = {
  name: 'slipway/erp-api-gate',
  dockerfile: 'load/Dockerfile',
  versionFrom: 'load/package.json',
  sbomNodeModules: () => [],
  sbomApplications: (root) => {
    const vegeta = pinnedVegeta(root);
    return [
      {
        name: 'vegeta',
        version: vegeta.version,
        purl: `pkg:golang/${vegeta.module}@${vegeta.version}`,
        licence: 'MIT',
      },
    ];
  },
  // eslint-disable-next-line @typescript-eslint/require-await -- the interface is async for images that build first
  async context(root) {
    const vegeta = join(root, '.tools', 'bin', 'vegeta');
    if (!existsSync(vegeta)) {
      throw new ReleaseError(
        `${vegeta} is missing: the gate image carries the pinned Vegeta`,
        'run scripts/bootstrap, which builds it',
        EXIT.missing,
      );
    }
    const esbuild = 'node_modules/@esbuild/linux-x64';
    const files = [
      ...listFiles(root, esbuild),
      ...listFiles(root, 'load/src'),
      'monitoring/package.json',
      ...listFiles(root, 'monitoring/src'),
      '.tools/bin/vegeta',
    ];
    return {
      key: hashFiles(root, files),
      async write() {
        const context = contextDir(root, 'erp-api-gate');
        rmSync(context, { recursive: true, force: true });
        for (const file of files) {
          mkdirSync(join(context, file, '..'), { recursive: true });
          // .tools may be a symbolic link to a shared tool folder: copy what it points at
          cpSync(join(root, file), join(context, file), { dereference: true });
        }
        await runOk(
          'chmod',
          ['0755', join(context, '.tools', 'bin', 'vegeta'), join(context, esbuild, 'bin', 'esbuild')],
          'staging the gate',
        );
        return context;
      },
    };
  },
};

/** The images a release builds, in order: the app, then the load gate its canary stages run. */
export const IMAGES: readonly ImageDefinition[] = [appImage, gateImage];

export function imageByName(name: string): ImageDefinition {
  const found = IMAGES.find((image) => image.name === name || image.name.endsWith(`/${name}`));
  if (!found) {
    throw new ReleaseError(
      `unknown image '${name}'`,
      `use one of: ${IMAGES.map((image) => image.name).join(', ')}`,
      EXIT.usage,
    );
  }
  return found;
}

/** Where built images are kept as OCI layouts (one per image), the input of scan, sign and push. */
export function layoutDir(image: ImageDefinition, root = repoRoot): string {
  // a tree other than this checkout (a test's modified copy) must not move this checkout's tags
  const suffix = root === repoRoot ? '' : `-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
  return join(localDir, 'release', 'oci', `${image.name.replace('/', '+')}${suffix}`);
}

export interface SourceInfo {
  readonly commit: string;
  readonly shortCommit: string;
  /** The commit's time: every file and the image's created time carry it. */
  readonly sourceDateEpoch: number;
  /** Files differ from the commit (a release from such a tree is refused by sign). */
  readonly dirty: boolean;
}

export async function sourceInfo(root: string): Promise<SourceInfo> {
  const log = await run('git', ['log', '-1', '--format=%H %ct'], { cwd: root });
  const [commit = '', epoch = ''] = log.stdout.trim().split(' ');
  if (log.code !== 0 || !/^[0-9a-f]{40}$/.test(commit)) {
    throw new ReleaseError(
      `${root} is not a git checkout with a commit`,
      'build from a clone of the repository',
      EXIT.usage,
    );
  }
  const status = await run('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root });
  return {
    commit,
    shortCommit: commit.slice(0, 7),
    sourceDateEpoch: Number(epoch),
    dirty: status.stdout.trim() !== '',
  };
}

export interface BuiltImage {
  readonly name: string;
  /** CycloneDX SBOM written by the build from what it put into the image. */
  readonly sbom: string;
  /** Hash of everything the image is built from; an equal hash means an equal image. */
  readonly inputs: string;
  /** `<semver>-<short commit>`. */
  readonly tag: string;
  /** Manifest digest of the OCI image (what the registry stores and everything after the build refers to). */
  readonly digest: string;
  /** OCI layout holding the image, tagged with `tag`. */
  readonly layout: string;
  readonly base: BaseImage;
  readonly source: SourceInfo;
  readonly dockerfile: string;
  readonly buildCommand: readonly string[];
}

export interface BuildOptions {
  readonly root?: string;
  /** Build even when the inputs equal the last build's (the reproducibility test's second build). */
  readonly noCache?: boolean;
  /** Override the commit time (tests that build a modified copy of the tree). */
  readonly source?: SourceInfo;
}

/** The `buildah bud` command line of one image build. */
export function buildahBudCommand(build: {
  readonly sourceDateEpoch: number;
  readonly baseReference: string;
  readonly dockerfile: string;
  readonly tag: string;
  readonly context: string;
}): string[] {
  return [
    'buildah',
    'bud',
    // no layer cache: buildah reuses cached layers across --timestamp values, so a new commit could get an old
    // commit's layers; buildImage skips a build whose inputs are unchanged instead
    '--layers=false',
    '--pull=never',
    // RUN steps (the gate's bundling) need no cgroups this way; sandboxes that refuse them cannot build otherwise
    '--isolation=chroot',
    '--timestamp',
    String(build.sourceDateEpoch),
    '--build-arg',
    `BASE_IMAGE=${build.baseReference}`,
    '-f',
    build.dockerfile,
    '-t',
    build.tag,
    build.context,
  ];
}

/** Builds one image reproducibly with buildah and stores it as an OCI layout; returns its tag and digest. */
export async function buildImage(
  image: ImageDefinition,
  base: BaseImage,
  progress: Progress,
  options: BuildOptions = {},
): Promise<BuiltImage> {
  const root = options.root ?? repoRoot;
  const source = options.source ?? (await sourceInfo(root));
  const version = (JSON.parse(readFileSync(join(root, image.versionFrom), 'utf8')) as { version?: string }).version;
  if (typeof version !== 'string' || !/^\d+\.\d+\.\d+$/.test(version)) {
    throw new ReleaseError(
      `${image.versionFrom} has version ${JSON.stringify(version)}, not a semver x.y.z`,
      'set "version" to x.y.z',
      EXIT.usage,
    );
  }
  const tag = `${version}-${source.shortCommit}`;
  const staged = await image.context(root, progress);
  const dockerfileText = readFileSync(join(root, image.dockerfile), 'utf8');
  const inputs = createHash('sha256')
    .update([staged.key, base.digest, String(source.sourceDateEpoch), tag, dockerfileText].join('\0'))
    .digest('hex');
  const previous = readBuildRecordIfAny(image.name);
  const layout = layoutDir(image, root);
  if (
    !options.noCache &&
    previous?.inputs === inputs &&
    existsSync(previous.sbom) &&
    existsSync(join(layout, 'index.json'))
  ) {
    progress.ok(`${image.name}:${tag} ${previous.digest} (unchanged inputs, not rebuilt)`);
    return previous;
  }
  const context = await staged.write();
  const local = `localhost/${image.name}:${tag}`;
  const buildCommand = buildahBudCommand({
    sourceDateEpoch: source.sourceDateEpoch,
    baseReference: base.reference,
    dockerfile: join(root, image.dockerfile),
    tag: local,
    context,
  });
  progress.step(
    `${image.name}: buildah bud (${relative(root, join(root, image.dockerfile))}, SOURCE_DATE_EPOCH=${String(source.sourceDateEpoch)})`,
  );
  await runOk(buildCommand[0] ?? 'buildah', buildCommand.slice(1), `building ${image.name}`);
  mkdirSync(layout, { recursive: true });
  const digestFile = join(layout, `.digest-${String(process.pid)}`);
  await runOk(
    'buildah',
    ['push', '--quiet', '--format', 'oci', '--digestfile', digestFile, local, `oci:${layout}:${tag}`],
    `writing ${image.name} as an OCI layout`,
  );
  const digest = readFileSync(digestFile, 'utf8').trim();
  rmSync(digestFile, { force: true });
  progress.ok(`${image.name}:${tag} ${digest}`);
  const evidence = evidenceDir(image.name, digest);
  mkdirSync(evidence, { recursive: true });
  const sbom = join(evidence, 'sbom.cdx.json');
  const bom = imageSbom({
    name: image.name,
    tag,
    digest,
    base,
    nodeModules: image.sbomNodeModules(context),
    applications: image.sbomApplications?.(root) ?? [],
    sourceDateEpoch: source.sourceDateEpoch,
  });
  writeFileSync(sbom, `${JSON.stringify(bom, null, 2)}\n`);
  progress.ok(`${image.name}: SBOM with ${String(bom.components.length)} components`);
  const built: BuiltImage = {
    name: image.name,
    sbom,
    inputs,
    tag,
    digest,
    layout,
    base,
    source,
    dockerfile: image.dockerfile,
    buildCommand: buildCommand.map((arg) => (arg === context ? '<staged context>' : arg)),
  };
  if (root === repoRoot) writeBuildRecord(built);
  return built;
}

/** Where the SBOM, scan results and other evidence of one image digest are kept. */
export const evidenceDir = (name: string, digest: string): string =>
  join(localDir, 'release', 'evidence', name.replace('/', '+'), digest.replace('sha256:', ''));
