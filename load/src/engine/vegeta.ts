import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';

import type { VegetaResult } from './results.js';

/** The engine failed: Vegeta missing, refusing its arguments or dying; no verdict on the target. */
export class EngineError extends Error {
  override readonly name = 'EngineError';

  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/**
 * The Vegeta binary: VEGETA_BIN when set (the gate image), else the pinned one scripts/bootstrap builds into
 * .tools/bin of this repository.
 */
export function vegetaPath(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const given = env.VEGETA_BIN;
  if (given !== undefined && given !== '') return given;
  const pinned = join(import.meta.dirname, '..', '..', '..', '.tools', 'bin', 'vegeta');
  if (!existsSync(pinned)) {
    throw new EngineError(
      `vegeta is not built (${pinned} is missing)`,
      'run scripts/bootstrap (it builds the pinned Vegeta)',
    );
  }
  return pinned;
}

/** One target as `vegeta attack -format=json` reads it (the body base64-encoded). */
export interface Target {
  readonly method: string;
  readonly url: string;
  readonly body?: string;
  readonly header?: Readonly<Record<string, readonly string[]>>;
}

/** What the attack needs per target to attribute its result: the endpoint name and the status it expects. */
export interface TargetMeta {
  readonly endpoint: string;
  readonly expectStatus: number;
}

export interface AttackOptions {
  readonly vegeta: string;
  /** Requests per second; 0 with `workers` for a closed model. */
  readonly rate: number;
  readonly workers?: number;
  readonly durationMs: number;
  /** Longest one request may take before Vegeta records it as failed. */
  readonly requestTimeoutMs: number;
  /** The next target, built when Vegeta asks for it (-lazy). */
  readonly next: () => { target: Target; meta: TargetMeta };
  readonly onResult: (result: VegetaResult, meta: TargetMeta | undefined) => void;
  readonly signal?: AbortSignal;
}

const STDERR_LIMIT = 4_000;

/**
 * Vegeta's environment: one OS thread of Go code (GOMAXPROCS=1, or VEGETA_GOMAXPROCS), which halves its CPU per
 * request here and leaves the other cores to the target; a few thousand requests per second fit in one.
 */
export function vegetaEnvironment(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string> {
  return { PATH: env.PATH ?? '', GOMAXPROCS: env.VEGETA_GOMAXPROCS ?? '1' };
}
/** Lines produced per read() of the target stream: Vegeta reads ahead little, so small batches keep it lazy. */
const TARGET_BATCH = 16;

function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/**
 * Runs `vegeta attack -lazy -format=json` for one phase, its targets produced on demand, its results read back through
 * `vegeta encode --to json`. Resolves when both have exited cleanly; rejects with an EngineError otherwise.
 */
export function attack(options: AttackOptions): Promise<void> {
  const { vegeta } = options;
  const args = [
    'attack',
    '-lazy',
    '-format=json',
    `-duration=${Math.max(1, Math.round(options.durationMs))}ms`,
    `-timeout=${options.requestTimeoutMs}ms`,
    // bodies are not read back: the status and timing are what is measured
    '-max-body=0',
    // the targets are plain http: no HTTP/2 upgrade attempt on each new connection
    '-http2=false',
    ...(options.rate > 0
      ? [`-rate=${options.rate}/1s`, `-workers=${Math.max(10, Math.ceil(options.rate / 20))}`]
      : ['-rate=0', `-workers=${options.workers ?? 1}`, `-max-workers=${options.workers ?? 1}`]),
  ];
  // requests of one method and URL are one endpoint: a result is attributed by them
  const metaByRequest = new Map<string, TargetMeta>();
  return new Promise<void>((resolve, reject) => {
    options.signal?.throwIfAborted();
    if (!existsSync(vegeta)) {
      reject(
        new EngineError(
          `vegeta is not at ${vegeta}`,
          'run scripts/bootstrap (it builds the pinned Vegeta), or set VEGETA_BIN',
        ),
      );
      return;
    }
    const attacker = spawn(vegeta, args, { stdio: ['pipe', 'pipe', 'pipe'], env: vegetaEnvironment() });
    let failure: Error | undefined;
    let stderr = '';
    const collect = (chunk: Buffer): void => {
      if (stderr.length < STDERR_LIMIT) stderr += chunk.toString('utf8');
    };
    attacker.stderr.on('data', collect);
    attacker.once('error', (error) => {
      failure ??= new EngineError(
        `vegeta could not start (${vegeta}): ${error.message}`,
        'run scripts/bootstrap (it builds the pinned Vegeta)',
      );
    });
    const encoder = spawn(vegeta, ['encode', '--to', 'json'], {
      stdio: [attacker.stdout, 'pipe', 'pipe'],
      env: vegetaEnvironment(),
    });
    encoder.stderr.on('data', collect);
    encoder.once('error', (error) => {
      failure ??= new EngineError(
        `vegeta encode could not start (${vegeta}): ${error.message}`,
        'run scripts/bootstrap',
      );
    });

    const targets = new Readable({
      read() {
        try {
          let lines = '';
          for (let i = 0; i < TARGET_BATCH; i++) {
            const { target, meta } = options.next();
            metaByRequest.set(`${target.method} ${target.url}`, meta);
            lines += `${JSON.stringify(target)}\n`;
          }
          this.push(lines);
        } catch (error) {
          this.destroy(error instanceof Error ? error : new Error(String(error)));
        }
      },
    });
    targets.once('error', (error) => {
      failure ??= new EngineError(
        `building a target failed: ${error.message}`,
        'fix the scenario’s request definitions',
      );
      kill(attacker);
    });
    // Vegeta stops reading when the attack ends; what is left unread is not an error
    attacker.stdin.on('error', () => undefined);
    targets.pipe(attacker.stdin);

    const lines = createInterface({ input: encoder.stdout });
    lines.on('line', (line) => {
      if (line === '') return;
      let result: VegetaResult;
      try {
        result = parseResultLine(line);
      } catch {
        failure ??= new EngineError(
          `vegeta encode wrote a line that is not JSON: ${line.slice(0, 200)}`,
          'check the Vegeta version against tools.versions',
        );
        return;
      }
      options.onResult(result, metaByRequest.get(`${result.method} ${result.url}`));
    });

    const onAbort = (): void => {
      failure ??= options.signal?.reason instanceof Error ? options.signal.reason : new Error('attack aborted');
      kill(attacker);
      kill(encoder);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const exited = (child: ChildProcess): Promise<number | null> =>
      new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode);
        else {
          child.once('exit', (code) => done(code));
          // a child that could not start never exits
          child.once('error', () => done(null));
        }
      });
    const read = new Promise<void>((done) => lines.once('close', done));
    void Promise.all([exited(attacker), exited(encoder), read]).then(([attackExit, encodeExit]) => {
      options.signal?.removeEventListener('abort', onAbort);
      targets.unpipe(attacker.stdin);
      targets.destroy();
      if (failure !== undefined) reject(failure);
      else if (attackExit !== 0) {
        reject(
          new EngineError(
            `vegeta attack exited ${String(attackExit)}: ${stderr.trim().slice(0, 1_000) || '(no output)'}`,
            `run it by hand: ${vegeta} ${args.join(' ')}`,
          ),
        );
      } else if (encodeExit !== 0) {
        reject(
          new EngineError(
            `vegeta encode exited ${String(encodeExit)}: ${stderr.trim().slice(0, 1_000) || '(no output)'}`,
            'check the Vegeta version against tools.versions',
          ),
        );
      } else resolve();
    });
  });
}

/** The first line of `vegeta -version`'s module version, e.g. "v12.13.0" (read from the binary's build info). */
export function vegetaVersion(vegeta: string): string {
  try {
    const binary = readFileSync(vegeta);
    const match = /github\.com\/tsenart\/vegeta\/v12\s+(v\d+\.\d+\.\d+)/.exec(binary.toString('latin1'));
    return match?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function between(line: string, start: string, end: string): string | undefined {
  const from = line.indexOf(start);
  if (from === -1) return undefined;
  const to = line.indexOf(end, from + start.length);
  return to === -1 ? undefined : line.slice(from + start.length, to);
}

/**
 * One line of `vegeta encode --to json`. Most lines (no error, nothing escaped in the URL) are read by position, which
 * costs the generator a fraction of JSON.parse at thousands of lines a second; any other line is parsed in full.
 */
export function parseResultLine(line: string): VegetaResult {
  const code = between(line, '"code":', ',');
  const timestamp = between(line, '"timestamp":"', '"');
  const latency = between(line, '"latency":', ',');
  const method = between(line, '"method":"', '"');
  const url = between(line, '"url":"', '"');
  if (
    !line.includes('"error":"",') ||
    code === undefined ||
    timestamp === undefined ||
    latency === undefined ||
    method === undefined ||
    url === undefined ||
    url.includes('\\')
  ) {
    return JSON.parse(line) as VegetaResult;
  }
  return { code: Number(code), timestamp, latency: Number(latency), error: '', method, url };
}

/** Parses Vegeta's RFC 3339 timestamp with nanoseconds into milliseconds since the epoch (sub-ms kept). */
export function timestampMs(text: string): number {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!match) return Number.NaN;
  const [, base = '', fraction = '', zone = 'Z'] = match;
  return Date.parse(`${base}${zone}`) + Number(`0.${fraction || '0'}`) * 1000;
}
