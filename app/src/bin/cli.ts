import { parseArgs, type ParseArgsConfig } from 'node:util';

import { ConfigError } from '../config.js';
import { isEntryPoint } from './entry-point.js';

/** Where a command-line entry point writes; tests pass their own to read what it said. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** sysexits.h codes every entry point shares: done, usage error, configuration error. */
export const CLI_EXIT = { ok: 0, usage: 64, config: 78 } as const;

/** A command line that cannot be run as given; the message says what was wrong. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The value to go on with, or the exit code to stop with (the reason already written). */
export type CliStep<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly exitCode: number };

/** The flags of a command that takes no positional arguments; a flag parseArgs refuses becomes a {@link UsageError}. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: readonly string[], options: T) {
  return parseOrRefuse({ args: [...argv], allowPositionals: false, strict: true, options }).values;
}

/** The flags and positional arguments (the command words) of a command; a flag parseArgs refuses becomes a {@link UsageError}. */
export function parseFlagsAndCommand<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: T,
) {
  return parseOrRefuse({ args: [...argv], allowPositionals: true, strict: true, options });
}

function parseOrRefuse<T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Parses a command line with `parse`: a {@link UsageError} is written with the usage (exit 64), `help` writes the
 * usage to stdout (exit 0).
 */
export function parseCommandLine<T>(program: string, usage: string, io: CliIo, parse: () => T | 'help'): CliStep<T> {
  let parsed: T | 'help';
  try {
    parsed = parse();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`${program}: ${error.message}\n\n${usage}\n`);
    return { ok: false, exitCode: CLI_EXIT.usage };
  }
  if (parsed === 'help') {
    io.stdout(`${usage}\n`);
    return { ok: false, exitCode: CLI_EXIT.ok };
  }
  return { ok: true, value: parsed };
}

/** Reads configuration with `read`: a {@link ConfigError} is written one line per problem (exit 78). */
export function readCliConfig<T>(io: CliIo, read: () => T): CliStep<T> {
  try {
    return { ok: true, value: read() };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) io.stderr(`config error: ${problem}\n`);
    return { ok: false, exitCode: CLI_EXIT.config };
  }
}

/**
 * Runs `main` on the process's arguments when `moduleUrl` is the entry point: its result becomes the exit code; an
 * unexpected throw is written with its stack and exits `crashCode`.
 */
export function runWhenEntryPoint(
  moduleUrl: string,
  program: string,
  main: (argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo) => Promise<number>,
  crashCode: number,
): void {
  if (!isEntryPoint(moduleUrl)) return;
  const io: CliIo = { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) };
  main(process.argv.slice(2), process.env, io).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${program}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = crashCode;
    },
  );
}
