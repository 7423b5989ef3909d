import { spawn } from 'node:child_process';

import { EXIT, ReleaseError } from './errors.js';

/** How to install each external program the release steps run (scripts/bootstrap installs all of them). */
export const INSTALL: Readonly<Record<string, string>> = {
  buildah: 'scripts/bootstrap (or: apt-get install -y buildah)',
  podman: 'scripts/bootstrap (or: apt-get install -y podman runc)',
  skopeo: 'scripts/bootstrap (or: apt-get install -y skopeo)',
  mmdebstrap: 'scripts/bootstrap (or: apt-get install -y mmdebstrap)',
  'docker-registry': 'scripts/bootstrap (or: apt-get install -y docker-registry)',
  'dpkg-deb': 'apt-get install -y dpkg',
  npm: 'install Node.js with npm (see .nvmrc)',
  git: 'apt-get install -y git',
};

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
  /** Called with each line the program writes, for progress. */
  readonly onLine?: (line: string) => void;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end and returns its exit code and output; a missing program is a ReleaseError naming its install. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let pending = '';
    const lines = (chunk: string): void => {
      if (!options.onLine) return;
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) if (line.trim() !== '') options.onLine(line);
    };
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      lines(chunk);
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      lines(chunk);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') {
        const name = command.split('/').pop() ?? command;
        reject(
          new ReleaseError(
            `${name} is not installed (looked for '${command}')`,
            `run ${INSTALL[name] ?? 'scripts/bootstrap'}`,
            EXIT.missing,
          ),
        );
      } else reject(error);
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Runs a program that must succeed; on failure the error quotes the end of its output. */
export async function runOk(
  command: string,
  args: readonly string[],
  what: string,
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    const tail = `${result.stderr}\n${result.stdout}`.trim().split('\n').slice(-12).join('\n');
    throw new ReleaseError(
      `${what} failed: ${command} ${args.join(' ')} exited ${String(result.code)}\n${tail}`,
      'read the output above; rerun the step after fixing its cause',
    );
  }
  return result;
}
