import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { appUnderTestEnv } from '../../src/testing/app-under-test.js';
import { localDir, repoRoot } from '../../src/platform/paths.js';
import { freePort } from '../../src/platform/ports.js';
import { silentProgress } from '../../src/platform/progress.js';
import { buildBase, type BaseImage } from '../../src/release/base.js';
import { inspectContainer, runToCompletion, startContainer } from '../../src/release/container.js';
import { appImage, buildImage, sourceInfo, type BuiltImage } from '../../src/release/images.js';
import { pushImage } from '../../src/release/registry.js';
import { freshDatabase, startRegistry } from './support.js';

// Real buildah, mmdebstrap, skopeo, docker-registry and podman: a cold first build takes minutes on two cores.
const SLOW = 15 * 60_000;

let base: BaseImage;
let first: BuiltImage;

beforeAll(async () => {
  base = await buildBase(silentProgress);
  first = await buildImage(appImage, base, silentProgress);
}, SLOW);

describe('reproducible build', () => {
  it('takes the base by digest and tags <semver>-<short commit>', async () => {
    const source = await sourceInfo(repoRoot);
    const version = (JSON.parse(readFileSync(join(repoRoot, 'app/package.json'), 'utf8')) as { version: string })
      .version;
    expect(base.reference).toMatch(/^localhost\/slipway\/base@sha256:[0-9a-f]{64}$/);
    expect(first.tag).toBe(`${version}-${source.shortCommit}`);
    expect(first.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(first.buildCommand).toContain(`BASE_IMAGE=${base.reference}`);
    expect(first.buildCommand).toContain(String(source.sourceDateEpoch));
  });

  it(
    'gives the same digest when every layer is built again, and another when one source file changes',
    async () => {
      const again = await buildImage(appImage, base, silentProgress, { noCache: true });
      // quoted in the release notes: the two digests of the same commit
      process.stdout.write(`reproducible build: ${first.digest} and ${again.digest}\n`);
      expect(again.digest).toBe(first.digest);

      // a copy of the tree with one changed line in app/src, built at the same commit time
      const copy = join(localDir, 'test', `run-${String(process.pid)}-changed-tree`);
      rmSync(copy, { recursive: true, force: true });
      mkdirSync(copy, { recursive: true });
      for (const path of ['package.json', 'package-lock.json', 'tsconfig.base.json', 'app']) {
        cpSync(join(repoRoot, path), join(copy, path), {
          recursive: true,
          filter: (from) => !from.includes('node_modules'),
        });
      }
      for (const ws of ['infra', 'monitoring', 'policies', 'pipelines', 'load']) {
        cpSync(join(repoRoot, ws, 'package.json'), join(copy, ws, 'package.json'));
      }
      symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'));
      symlinkSync(join(repoRoot, 'app', 'node_modules'), join(copy, 'app', 'node_modules'));
      const file = join(copy, 'app', 'src', 'observability', 'tracing.ts');
      writeFileSync(file, `${readFileSync(file, 'utf8')}\nexport const BUILD_PROBE = 'changed';\n`);
      try {
        const changed = await buildImage(appImage, base, silentProgress, { root: copy, source: first.source });
        expect(changed.tag).toBe(first.tag);
        expect(changed.digest).not.toBe(first.digest);
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }
    },
    SLOW,
  );
});

describe('registry and podman', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  beforeAll(async () => {
    registry = await startRegistry('run');
  }, 60_000);
  afterAll(async () => {
    await registry.stop();
  });

  it(
    'pushes by digest and runs the image from the registry as uid 10001 with a read-only root, ready against PostgreSQL and Redis',
    async () => {
      const reference = await pushImage(first, registry.address);
      expect(reference).toBe(`${registry.address}/slipway/erp-api@${first.digest}`);
      const manifest = await fetch(`http://${registry.address}/v2/slipway/erp-api/manifests/${first.tag}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(manifest.headers.get('docker-content-digest'), await manifest.text()).toBe(first.digest);

      const services = inject('services');
      const databaseUrl = await freshDatabase(services.postgres.adminUrl, 'release_container');
      const port = await freePort('127.0.0.1');
      const env = {
        ...appUnderTestEnv({ databaseUrl, redisUrl: services.redis.url }),
        HOST: '127.0.0.1',
        PORT: String(port),
      };
      await runToCompletion({ reference, env, args: ['migrate', 'up'] });
      const container = await startContainer({ reference, env, name: `slipway-test-${String(process.pid)}` });
      try {
        let status = 0;
        for (let attempt = 0; attempt < 60 && status !== 200; attempt += 1) {
          status = await fetch(`http://127.0.0.1:${String(port)}/health/ready`, { signal: AbortSignal.timeout(1_000) })
            .then((response) => response.status)
            .catch(() => 0);
          if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 500));
        }
        expect(status, await container.logs()).toBe(200);
        const inspected = await inspectContainer(container.id);
        expect(inspected.user).toBe('10001:10001');
        expect(inspected.readOnly).toBe(true);
        expect(inspected.image).toBe(reference);
      } finally {
        await container.stop();
      }
    },
    SLOW,
  );
});
