import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { repoRoot } from '@slipway/pipelines/platform/paths';
import { toolPath } from '@slipway/pipelines/platform/tools';
import { GATE_IMAGE_ENTRY, GATE_SCENARIO } from '@slipway/pipelines/release/plan';
import { GATE_EXIT } from '../src/gate.js';
import { startFakeErp, type FakeErp } from './support/fake-erp.js';

const dockerfile = readFileSync(join(repoRoot, 'load', 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(join(repoRoot, 'load', 'Dockerfile.dockerignore'), 'utf8');
/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.startsWith('#'))
  .map((line) => {
    const [keyword = '', ...args] = line.trim().split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: args.join(' ') };
  });
const all = (keyword: string): string[] => instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const scratch = mkdtempSync(join(tmpdir(), 'slipway-gate-image-'));
let healthy: FakeErp;

beforeAll(async () => {
  healthy = await startFakeErp();
});
afterAll(async () => {
  await healthy.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('the gate image (load/Dockerfile)', () => {
  test('is built on the base passed by digest (BASE_IMAGE, no default), in both stages', () => {
    expect(all('ARG')).toEqual(['BASE_IMAGE']);
    expect(all('FROM')).toEqual(['${BASE_IMAGE} AS bundle', '${BASE_IMAGE}']);
  });

  test('holds the bundled gate where the release plan runs it, and the pinned static Vegeta', () => {
    expect(GATE_SCENARIO.command).toEqual(['node', GATE_IMAGE_ENTRY, GATE_SCENARIO.scenario]);
    expect(all('ENTRYPOINT')).toEqual([JSON.stringify(['node', GATE_IMAGE_ENTRY]).replace(/,/g, ', ')]);
    expect(all('COPY')).toContain(`--from=bundle ${GATE_IMAGE_ENTRY} ${GATE_IMAGE_ENTRY}`);
    expect(all('COPY')).toContain('.tools/bin/vegeta /usr/local/bin/vegeta');
    expect(all('ENV').join(' ')).toContain('VEGETA_BIN=/usr/local/bin/vegeta');
    expect(toolPath('vegeta')).toBe(join(repoRoot, '.tools', 'bin', 'vegeta'));
  });

  test('runs as a non-root user and writes nothing but the temp folder (HOME=/tmp)', () => {
    const user = all('USER').at(-1) ?? '';
    expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    expect(all('ENV').join(' ')).toContain('HOME=/tmp');
    // the runtime stage runs nothing at build time that could leave writable state behind
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(runtime).not.toMatch(/^RUN /m);
  });

  test('the build context lets in exactly what the Dockerfile copies', () => {
    const patterns = dockerignore.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    const sources = all('COPY')
      .filter((args) => !args.startsWith('--from'))
      .map((args) => args.split(' ')[0] ?? '');
    expect(patterns[0]).toBe('*');
    expect(patterns.slice(1).sort()).toEqual(
      sources.map((source) => `!${source.endsWith('/') ? `${source}**` : source}`).sort(),
    );
  });

  test('the bundle step, run as in the image from copies of what it copies, gives a gate that judges real runs', async () => {
    // the build context as the bundle stage sees it
    const context = join(scratch, 'context');
    for (const source of all('COPY').filter((args) => !args.startsWith('--from') && !args.startsWith('.tools'))) {
      const [from = '', to = ''] = source.split(' ');
      mkdirSync(dirname(join(context, to)), { recursive: true });
      cpSync(join(repoRoot, from), join(context, to), { recursive: true });
    }
    const run = JSON.parse(all('RUN')[0] ?? '[]') as string[];
    const out = join(scratch, 'gate');
    const argv = run
      .slice(1)
      .map((arg) => arg.replace(`--outfile=${GATE_IMAGE_ENTRY}`, `--outfile=${join(out, 'gate.mjs')}`));
    const bundled = spawnSync(join(context, run[0] ?? ''), argv, { cwd: context, encoding: 'utf8' });
    expect(bundled.stderr).not.toMatch(/error/i);
    expect(bundled.status).toBe(0);

    // the bundle alone (no repository, no node_modules), Vegeta beside it as in the image
    const image = join(scratch, 'image');
    mkdirSync(image);
    cpSync(join(out, 'gate.mjs'), join(image, 'gate.mjs'));
    cpSync(toolPath('vegeta'), join(image, 'vegeta'));
    // not spawnSync: the fake target answers from this process's event loop
    const gate = (env: Record<string, string>): Promise<{ status: number | null; stdout: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [join(image, 'gate.mjs'), GATE_SCENARIO.scenario], {
          cwd: image,
          env: {
            PATH: process.env.PATH ?? '',
            HOME: scratch,
            TMPDIR: scratch,
            VEGETA_BIN: join(image, 'vegeta'),
            ...env,
          },
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        let stdout = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
        child.once('close', (status) => resolve({ status, stdout }));
      });
    const pass = await gate({ TARGET_URL: healthy.url, GATE_RATE: '50', GATE_DURATION: '3s' });
    expect(pass.stdout).toContain('PASS (exit 0)');
    expect(pass.status).toBe(GATE_EXIT.pass);

    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const port = typeof address === 'object' && address !== null ? address.port : 9;
    const down = await gate({ TARGET_URL: `http://127.0.0.1:${port}`, GATE_RATE: '50', GATE_DURATION: '3s' });
    expect(down.stdout).toContain('INCONCLUSIVE (exit 2): the target is unreachable');
    expect(down.status).toBe(GATE_EXIT.inconclusive);
  });
});
