import { environmentWithConfigFile } from './config-reload.js';
import { ConfigError, loadConfig } from './config.js';
import type { Config } from './config.js';
import { PendingMigrationsError } from './db/migrations.js';
import type { Logger } from './logger.js';

/**
 * Shutdown state shared by the readiness probe and the server: once a shutdown begins, readiness
 * reports 503 and responses ask clients to close their connections.
 */
export class Lifecycle {
  #shutdownStartedAt: number | undefined;

  get shuttingDown(): boolean {
    return this.#shutdownStartedAt !== undefined;
  }

  /** Milliseconds since `Date.now()` epoch when the shutdown began, if it has. */
  get shutdownStartedAt(): number | undefined {
    return this.#shutdownStartedAt;
  }

  /** Marks the start of the shutdown; returns false when one was already under way. */
  beginShutdown(): boolean {
    if (this.#shutdownStartedAt !== undefined) return false;
    this.#shutdownStartedAt = Date.now();
    return true;
  }
}

/** sysexits.h EX_CONFIG: the orchestrator shows a configuration fault, not a crash. */
export const EXIT_CONFIG_ERROR = 78;
/** sysexits.h EX_TEMPFAIL: the schema is behind; the migration job may still be running, so a restart may succeed. */
export const EXIT_PENDING_MIGRATIONS = 75;

/**
 * The configuration of a long-running entry point (the server, the worker), from the environment and CONFIG_FILE;
 * when it is invalid, each problem is written to stderr, the exit code set to {@link EXIT_CONFIG_ERROR} and undefined
 * returned.
 */
export function loadEntryPointConfig(env: NodeJS.ProcessEnv): Config | undefined {
  try {
    return loadConfig(environmentWithConfigFile(env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`config error: ${problem}\n`);
    process.exitCode = EXIT_CONFIG_ERROR;
    return undefined;
  }
}

/** Exits with {@link EXIT_PENDING_MIGRATIONS} when a start failed because the schema is behind; any other error returns. */
export function exitIfMigrationsPending(error: unknown, logger: Logger): void {
  if (!(error instanceof PendingMigrationsError)) return;
  logger.fatal({ pending: error.pending.map((file) => file.fileName) }, error.message);
  process.exit(EXIT_PENDING_MIGRATIONS);
}

/**
 * Runs `shutdown` on the first SIGTERM or SIGINT and exits 0 when it finished in time, 1 when it did not or threw;
 * a later signal is logged and ignored.
 */
export function shutDownOnSignals(logger: Logger, shutdown: (signal: NodeJS.Signals) => Promise<boolean>): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.warn({ signal }, 'shutdown already in progress; signal ignored');
      return;
    }
    signalled = true;
    shutdown(signal).then(
      (finished) => process.exit(finished ? 0 : 1),
      (error: unknown) => {
        logger.fatal({ err: error }, 'shutdown failed; exiting');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
