import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { localDir } from '../../src/platform/paths.js';
import { run, runOk } from '../../src/release/exec.js';
import { buildahBudCommand } from '../../src/release/images.js';

const dir = join(localDir, 'test', `run-${String(process.pid)}-layers`);
const name = `localhost/slipway-test/layers-probe-${String(process.pid)}`;
const EPOCHS = [1_000, 2_000] as const;

afterAll(async () => {
  for (const epoch of EPOCHS) await run('buildah', ['rmi', '--force', `${name}:${String(epoch)}`]);
  rmSync(dir, { recursive: true, force: true });
});

describe('the buildah command of an image build', () => {
  it("keeps buildah's layer cache off even where BUILDAH_LAYERS=true: a new commit time gives a new image", async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'hello'), 'hello\n');
    writeFileSync(join(dir, 'Dockerfile'), 'ARG BASE_IMAGE\nFROM scratch\nCOPY hello /hello\n');
    const built: { id: string; created: string }[] = [];
    for (const epoch of EPOCHS) {
      const command = buildahBudCommand({
        sourceDateEpoch: epoch,
        baseReference: 'scratch',
        dockerfile: join(dir, 'Dockerfile'),
        tag: `${name}:${String(epoch)}`,
        context: dir,
      });
      // the cached layer of the first build would otherwise stand in for the second, with the first's time
      await runOk(command[0] ?? 'buildah', command.slice(1), `building the probe at ${String(epoch)}`, {
        env: { ...process.env, BUILDAH_LAYERS: 'true' },
      });
      const { stdout } = await runOk('buildah', ['inspect', '--type', 'image', `${name}:${String(epoch)}`], 'inspect');
      const image = JSON.parse(stdout) as { FromImageID: string; OCIv1: { created: string } };
      built.push({ id: image.FromImageID, created: image.OCIv1.created });
    }
    expect(built.map((image) => image.created)).toEqual(['1970-01-01T00:16:40Z', '1970-01-01T00:33:20Z']);
    expect(built[1]?.id).not.toBe(built[0]?.id);
  }, 120_000);
});
