import { parseArgs, type ParseArgsConfig } from 'node:util';

import { PlatformError } from '../platform/errors.js';

/**
 * Exit codes of `npm run release`, documented in pipelines/README.md.
 *   0 done · 1 refused (a gate or a verification said no) · 2 bad command line or input
 *   3 a tool or service is missing · 4 the work failed (a build, a push, a signing)
 */
export const EXIT = { ok: 0, refused: 1, usage: 2, missing: 3, failed: 4 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A release step's error: what was wrong (with the value), what to do, and the exit code it maps to. */
export class ReleaseError extends PlatformError {
  constructor(
    message: string,
    fix: string,
    readonly exitCode: ExitCode = EXIT.failed,
    options?: { cause?: unknown },
  ) {
    super(message, fix, options);
  }
}

/** Parses a release command line; what parseArgs refuses becomes a usage error whose fix is `fix` (the usage). */
export function parseReleaseArgs<T extends ParseArgsConfig>(config: T, fix: string) {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new ReleaseError((error as Error).message, fix, EXIT.usage);
  }
}

/**
 * Prints a command's failure, as one JSON document on `out` with `--json` or as `error:` and `fix:` lines on `err`,
 * and returns its exit code: a ReleaseError's own, otherwise "the work failed".
 */
export function reportFailure(
  error: unknown,
  json: boolean,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): ExitCode {
  const code: ExitCode = error instanceof ReleaseError ? error.exitCode : EXIT.failed;
  const formatted =
    error instanceof PlatformError
      ? { error: error.message, fix: error.fix }
      : {
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          fix: 'report this as a bug',
        };
  if (json) out.write(`${JSON.stringify({ ok: false, exitCode: code, ...formatted })}\n`);
  else err.write(`error: ${formatted.error}\n  fix: ${formatted.fix}\n`);
  return code;
}
