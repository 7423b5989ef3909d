import type { Progress } from '../../platform/progress.js';
import { run } from '../exec.js';
import { clearStable, readRunning, readStable } from './store.js';

/** The prefix of every container a release of `scope` starts (canary, then promoted stable). */
export const releaseContainerPrefix = (scope: string): string => `slipway-${scope}-canary-`;

/**
 * Stops the containers releases started, which the supervisor does not run: the promoted stable and a canary. Called
 * when the platform stops, so `npm stop` leaves no container and no port behind; the next start serves the source app.
 */
export async function stopReleaseContainers(scope: string, progress: Progress): Promise<void> {
  // a platform that never ran a release needs no podman at all
  if (readStable(scope) === undefined && readRunning(scope) === undefined) return;
  const listed = await run('podman', ['ps', '--format', '{{.Names}}']).catch((error: unknown) => {
    // the platform's own services still stop
    progress.warn(`cannot list release containers: ${error instanceof Error ? error.message : String(error)}`);
    return { code: 1, stdout: '', stderr: '' };
  });
  const prefix = releaseContainerPrefix(scope);
  const names = listed.stdout.split('\n').filter((name) => name.startsWith(prefix));
  for (const name of names) {
    progress.step(`stopping release container ${name}`);
    const stopped = await run('podman', ['--runtime', 'runc', 'stop', '--time', '10', name]);
    if (stopped.code === 0) progress.ok(`${name} stopped`);
    else progress.warn(`podman stop ${name} exited ${String(stopped.code)}: ${stopped.stderr.trim()}`);
  }
  clearStable(scope);
}

/** What `npm stop` has the platform do (its SIGTERM handler): release containers first, then every service. */
export async function stopPlatform(
  supervisor: { stopAll(): Promise<void> },
  scope: string,
  progress: Progress,
): Promise<void> {
  await stopReleaseContainers(scope, progress);
  await supervisor.stopAll();
}
