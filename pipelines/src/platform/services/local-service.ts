import type { ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// What the local services share: the readiness probe over HTTP; for the stand-ins written here, their process and store.

/**
 * The probe of a service that is ready when `GET <base><path>` answers 200 within two seconds; the error names
 * `what` (the path unless given) and the status.
 */
export function httpProbe(base: string, path: string, what: string = path): () => Promise<void> {
  return async () => {
    const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(2_000) });
    if (response.status !== 200) throw new Error(`${what} answered ${response.status}`);
  };
}

/** Node running the TypeScript module `moduleUrl` through tsx with `args`, as a stand-in service's process. */
export function tsxProcess(moduleUrl: string, args: readonly string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: ['--import', 'tsx', fileURLToPath(moduleUrl), ...args] };
}

/** Answers `body` as one line of JSON. */
export function answerJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end(`${JSON.stringify(body)}\n`);
}

/** Every record a stand-in kept in `file`, one JSON line each; none while the file does not exist. */
export function readJsonLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T);
}
