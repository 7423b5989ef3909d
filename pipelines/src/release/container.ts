import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { EXIT, ReleaseError } from './errors.js';
import { run, runOk } from './exec.js';

/** The app's uid: the image's USER and the pods' runAsUser. */
export const APP_UID = 10001;

export interface ContainerOptions {
  /** `registry/name@sha256:…`: only digests run. */
  readonly reference: string;
  readonly env: Readonly<Record<string, string>>;
  readonly args?: readonly string[];
  readonly name?: string;
  /** `uid:gid` to run as; the app's by default. */
  readonly user?: string;
  /** Replaces the image's entry point (e.g. to ask a bundled tool its version). */
  readonly entrypoint?: string;
}

/**
 * podman arguments for a Slipway container: uid 10001, read-only root with a /tmp tmpfs, no capabilities, host
 * loopback network. runc, because crun refuses this sandbox's hybrid cgroups; explicit ulimits, because it may not
 * raise them.
 */
function podmanArgs(options: ContainerOptions, envFile: string, detach: boolean): string[] {
  if (!/@sha256:[0-9a-f]{64}$/.test(options.reference)) {
    throw new ReleaseError(
      `${options.reference} is not a reference by digest`,
      'run images as <repository>@sha256:<digest>',
      EXIT.usage,
    );
  }
  return [
    '--runtime',
    'runc',
    'run',
    ...(detach ? ['--detach'] : []),
    '--rm',
    ...(options.name ? ['--name', options.name] : []),
    '--tls-verify=false',
    '--network',
    'host',
    '--read-only',
    '--tmpfs',
    '/tmp:rw,size=64m,mode=1777',
    '--user',
    options.user ?? `${String(APP_UID)}:${String(APP_UID)}`,
    ...(options.entrypoint ? ['--entrypoint', options.entrypoint] : []),
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '--ulimit',
    'nofile=1024:1024',
    '--ulimit',
    'nproc=1024:1024',
    '--env-file',
    envFile,
    options.reference,
    ...(options.args ?? []),
  ];
}

/** Secrets go to podman in a 0600 file, never on a command line. */
function withEnvFile<T>(env: Readonly<Record<string, string>>, use: (file: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-env-'));
  const file = join(dir, 'env');
  writeFileSync(
    file,
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
    { mode: 0o600 },
  );
  return use(file).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** Runs a command in the image to its end (e.g. `migrate up`); fails with its output. */
export function runToCompletion(options: ContainerOptions): Promise<string> {
  return withEnvFile(options.env, async (file) => {
    const result = await runOk(
      'podman',
      podmanArgs(options, file, false),
      `podman run ${options.reference} ${(options.args ?? []).join(' ')}`,
    );
    return result.stdout;
  });
}

/** Runs the image to its end and returns its exit code and output, whatever the code (e.g. the gate's verdicts). */
export function runForExit(options: ContainerOptions): Promise<{ code: number; output: string }> {
  return withEnvFile(options.env, async (file) => {
    const result = await run('podman', podmanArgs(options, file, false));
    return { code: result.code, output: `${result.stdout}${result.stderr}` };
  });
}

export interface RunningContainer {
  readonly id: string;
  logs(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts the image detached and returns a handle that stops (and so removes) it. */
export function startContainer(options: ContainerOptions): Promise<RunningContainer> {
  return withEnvFile(options.env, async (file) => {
    const { stdout } = await runOk('podman', podmanArgs(options, file, true), `podman run ${options.reference}`);
    const id = stdout.trim().split('\n').pop() ?? '';
    return {
      id,
      async logs() {
        const result = await run('podman', ['logs', id]);
        return `${result.stdout}${result.stderr}`;
      },
      async stop() {
        await run('podman', ['--runtime', 'runc', 'stop', '--time', '5', id]);
      },
    };
  });
}

/** What the image's process runs as and whether its root filesystem is read-only, from podman itself. */
export async function inspectContainer(id: string): Promise<{ user: string; readOnly: boolean; image: string }> {
  const { stdout } = await runOk(
    'podman',
    ['inspect', '--format', '{{.Config.User}}|{{.HostConfig.ReadonlyRootfs}}|{{.ImageName}}', id],
    'podman inspect',
  );
  const [user = '', readOnly = '', image = ''] = stdout.trim().split('|');
  return { user, readOnly: readOnly === 'true', image };
}
