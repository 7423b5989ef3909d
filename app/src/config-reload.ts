import { readFileSync } from 'node:fs';

import { ConfigError, configVariables, loadConfig, RELOADABLE_KEYS } from './config.js';
import type { Config, ReloadableKey } from './config.js';
import type { Logger } from './logger.js';

const VARIABLE_LINE = /^([A-Z][A-Z0-9_]*)=(.*)$/;
const KNOWN_NAMES: ReadonlySet<string> = new Set(configVariables.map((variable) => variable.name));

/**
 * Parses a config file: one `NAME=value` per line, the value taken literally to the end of the line (no quotes,
 * no expansion); blank lines and lines starting with `#` are skipped.
 * @throws {ConfigError} one line per problem: unreadable file, malformed line, unknown or repeated name.
 */
export function readConfigFile(path: string): Readonly<Record<string, string>> {
  let text: string;
  try {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- CONFIG_FILE, set by the operator
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([
      `CONFIG_FILE=${JSON.stringify(path)} cannot be read (${reason}); mount the file at that path or unset CONFIG_FILE`,
    ]);
  }
  const values: Record<string, string> = {};
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${path} line ${index + 1}`;
    const match = VARIABLE_LINE.exec(line);
    const [, name = '', value = ''] = match ?? [];
    if (match === null) {
      problems.push(`${where} is not NAME=value; write one variable per line, such as LOG_LEVEL=info`);
    } else if (!KNOWN_NAMES.has(name) || name === 'CONFIG_FILE') {
      problems.push(
        `${where}: ${name} is not a variable erp-api reads from a config file; fix the name or remove the line`,
      );
    } else if (Object.hasOwn(values, name)) {
      problems.push(`${where}: ${name} is set a second time; keep one line per variable`);
    } else {
      values[name] = value;
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return values;
}

/** `env` with the values of its CONFIG_FILE laid over it; `env` itself when CONFIG_FILE is unset. */
export function environmentWithConfigFile(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const path = env.CONFIG_FILE;
  if (path === undefined || path === '') return env;
  return { ...env, ...readConfigFile(path) };
}

/** The settings a running process applies again on SIGHUP, without a restart: the rows marked reloadable. */
export type ReloadableSettings = Readonly<Pick<Config, ReloadableKey>>;

function reloadable(config: ReloadableSettings): ReloadableSettings {
  return Object.freeze(Object.fromEntries(RELOADABLE_KEYS.map((key) => [key, config[key]])) as ReloadableSettings);
}

export type SettingsListener = (next: ReloadableSettings, previous: ReloadableSettings) => void;

/** The current reloadable settings; components subscribe and apply each change. */
export class RuntimeSettings {
  #current: ReloadableSettings;
  readonly #listeners = new Set<SettingsListener>();

  constructor(config: ReloadableSettings) {
    this.#current = reloadable(config);
  }

  get current(): ReloadableSettings {
    return this.#current;
  }

  /** Calls `listener` after every change; returns the function that unsubscribes it. */
  onChange(listener: SettingsListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Applies `next` and tells the listeners; returns the names of the settings that changed. */
  update(next: ReloadableSettings): (keyof ReloadableSettings)[] {
    const previous = this.#current;
    const changed = (Object.keys(previous) as (keyof ReloadableSettings)[]).filter(
      (key) => previous[key] !== next[key],
    );
    if (changed.length === 0) return changed;
    this.#current = reloadable(next);
    for (const listener of this.#listeners) listener(this.#current, previous);
    return changed;
  }
}

export type ReloadOutcome =
  | {
      readonly applied: true;
      readonly changed: readonly (keyof ReloadableSettings)[];
      /** Settings whose new value takes effect only after a restart. */
      readonly restartNeeded: readonly (keyof Config)[];
    }
  | { readonly applied: false; readonly problems: readonly string[] };

/**
 * The SIGHUP handler's work: reads the environment and CONFIG_FILE again, validates everything, and applies the
 * reloadable settings. An invalid configuration changes nothing; the running settings stay.
 */
export function reloadConfiguration(options: {
  readonly env: NodeJS.ProcessEnv;
  /** The configuration the process started with. */
  readonly config: Config;
  readonly settings: RuntimeSettings;
  readonly logger: Logger;
}): ReloadOutcome {
  const { env, config, settings, logger } = options;
  let next: Config;
  try {
    next = loadConfig(environmentWithConfigFile(env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    logger.error(
      { problems: error.problems },
      'configuration reload refused: fix the problems and send SIGHUP again; the running settings stay',
    );
    return { applied: false, problems: error.problems };
  }
  const previous = settings.current;
  const changed = settings.update(next);
  const applied = new Set<string>(RELOADABLE_KEYS);
  const restartNeeded = (Object.keys(next) as (keyof Config)[]).filter(
    (key) => !applied.has(key) && JSON.stringify(next[key]) !== JSON.stringify(config[key]),
  );
  // Said even when the new LOG_LEVEL hides info, so whoever sent SIGHUP sees that it took effect.
  logger[logger.isLevelEnabled('info') ? 'info' : 'warn'](
    {
      changed: Object.fromEntries(changed.map((key) => [key, { from: previous[key], to: next[key] }])),
      ...(restartNeeded.length > 0 ? { restartNeeded } : {}),
    },
    restartNeeded.length > 0
      ? 'configuration reloaded; some changed settings take effect only after a restart'
      : 'configuration reloaded',
  );
  return { applied: true, changed, restartNeeded };
}
