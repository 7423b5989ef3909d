import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import {
  environmentWithConfigFile,
  readConfigFile,
  reloadConfiguration,
  RuntimeSettings,
} from '../src/config-reload.js';
import { waitUntil } from '@slipway/pipelines/testing/wait';
import type { ReloadableSettings } from '../src/config-reload.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { testEnv } from './support/app.js';
import { migrateSharedDatabase } from './support/database.js';
import { CapturedLogs } from './support/logs.js';
import { freePort } from './support/net.js';
import { REQUIRED_ENV } from './support/config.js';

const REQUIRED = REQUIRED_ENV;
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'erp-api-config-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

/** Writes a file in this test's scratch directory. */
function writeScratch(path: string, text: string): void {
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- a path under this test's mkdtemp directory
  writeFileSync(path, text);
}

function configFile(text: string): string {
  const path = join(scratch, `${randomBytes(4).toString('hex')}.env`);
  writeScratch(path, text);
  return path;
}

function configErrorOf(work: () => unknown): ConfigError {
  try {
    work();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('CONFIG_FILE', () => {
  it('reads NAME=value lines, skipping blanks and comments, values taken literally', () => {
    const path = configFile(
      '# tuned by ops\n\nLOG_LEVEL=warn\nRATE_LIMIT_PER_MINUTE=250\r\nCORS_ORIGINS=https://a.example, https://b.example\n',
    );
    expect(readConfigFile(path)).toEqual({
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '250',
      CORS_ORIGINS: 'https://a.example, https://b.example',
    });
  });

  it('overrides the environment, at startup as on reload', () => {
    const path = configFile('LOG_LEVEL=error\n');
    const config = loadConfig(environmentWithConfigFile({ ...REQUIRED, LOG_LEVEL: 'debug', CONFIG_FILE: path }));
    expect(config.logLevel).toBe('error');
    expect(config.configFile).toBe(path);
  });

  it('leaves the environment alone when CONFIG_FILE is unset', () => {
    const env = { ...REQUIRED };
    expect(environmentWithConfigFile(env)).toBe(env);
  });

  it('reports every bad line at once, each with its line number and what to do', () => {
    const path = configFile(
      'LOG_LEVEL=info\nlog_level=debug\nNO_SUCH_SETTING=1\nLOG_LEVEL=warn\nCONFIG_FILE=/etc/other\n',
    );
    const error = configErrorOf(() => readConfigFile(path));
    expect(error.problems).toEqual([
      `${path} line 2 is not NAME=value; write one variable per line, such as LOG_LEVEL=info`,
      `${path} line 3: NO_SUCH_SETTING is not a variable erp-api reads from a config file; fix the name or remove the line`,
      `${path} line 4: LOG_LEVEL is set a second time; keep one line per variable`,
      `${path} line 5: CONFIG_FILE is not a variable erp-api reads from a config file; fix the name or remove the line`,
    ]);
  });

  it('names the path and the fix when the file cannot be read', () => {
    const missing = join(scratch, 'missing.env');
    const error = configErrorOf(() => environmentWithConfigFile({ ...REQUIRED, CONFIG_FILE: missing }));
    expect(error.problems).toHaveLength(1);
    const [line = ''] = error.problems;
    expect(line.startsWith(`CONFIG_FILE="${missing}" cannot be read (ENOENT`)).toBe(true);
    expect(line.endsWith('); mount the file at that path or unset CONFIG_FILE')).toBe(true);
  });
});

describe('RuntimeSettings', () => {
  it('tells its listeners what changed, and nothing when nothing did', () => {
    const settings = new RuntimeSettings({ logLevel: 'info', rateLimitPerMinute: 100 });
    const seen: [ReloadableSettings, ReloadableSettings][] = [];
    const stop = settings.onChange((next, previous) => seen.push([next, previous]));
    expect(settings.update({ logLevel: 'info', rateLimitPerMinute: 100 })).toEqual([]);
    expect(settings.update({ logLevel: 'debug', rateLimitPerMinute: 100 })).toEqual(['logLevel']);
    expect(seen).toEqual([
      [
        { logLevel: 'debug', rateLimitPerMinute: 100 },
        { logLevel: 'info', rateLimitPerMinute: 100 },
      ],
    ]);
    stop();
    settings.update({ logLevel: 'warn', rateLimitPerMinute: 5 });
    expect(seen).toHaveLength(1);
    expect(settings.current).toEqual({ logLevel: 'warn', rateLimitPerMinute: 5 });
  });
});

describe('reloadConfiguration', () => {
  function setUp(fileText: string) {
    const path = configFile(fileText);
    const env = { ...REQUIRED, CONFIG_FILE: path };
    const config = loadConfig(environmentWithConfigFile(env));
    const logs = new CapturedLogs();
    const logger = createLogger({ ...config, logLevel: 'info' }, logs);
    const settings = new RuntimeSettings(config);
    return { path, env, config, logs, logger, settings };
  }

  it('applies the new log level and rate limit, and names settings that need a restart', () => {
    const { path, env, config, logs, logger, settings } = setUp('LOG_LEVEL=info\nRATE_LIMIT_PER_MINUTE=100\n');
    writeScratch(path, 'LOG_LEVEL=debug\nRATE_LIMIT_PER_MINUTE=20\nPORT=9090\n');
    const outcome = reloadConfiguration({ env, config, settings, logger });
    expect(outcome).toEqual({ applied: true, changed: ['logLevel', 'rateLimitPerMinute'], restartNeeded: ['port'] });
    expect(settings.current).toEqual({ logLevel: 'debug', rateLimitPerMinute: 20 });
    expect(logs.withMessage('configuration reloaded; some changed settings take effect only after a restart')).toEqual([
      expect.objectContaining({
        changed: { logLevel: { from: 'info', to: 'debug' }, rateLimitPerMinute: { from: 100, to: 20 } },
        restartNeeded: ['port'],
      }),
    ]);
  });

  it('refuses an invalid configuration as a whole and keeps the running settings', () => {
    const { path, env, config, logs, logger, settings } = setUp('LOG_LEVEL=info\n');
    writeScratch(path, 'LOG_LEVEL=debug\nRATE_LIMIT_PER_MINUTE=lots\n');
    const outcome = reloadConfiguration({ env, config, settings, logger });
    expect(outcome.applied).toBe(false);
    expect(settings.current.logLevel).toBe('info');
    const [line] = logs.withMessage(
      'configuration reload refused: fix the problems and send SIGHUP again; the running settings stay',
    );
    expect(line?.problems).toEqual([expect.stringContaining('RATE_LIMIT_PER_MINUTE="lots" is invalid')]);
  });
});

describe('SIGHUP on the real entry point', () => {
  it('reloads the rate limit and log level from CONFIG_FILE without a restart', async () => {
    await migrateSharedDatabase();
    const path = configFile('RATE_LIMIT_PER_MINUTE=1000\nLOG_LEVEL=info\n');
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'app/src/bin/server.ts'], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...testEnv({ PORT: String(port), HOST: '127.0.0.1', TRUST_PROXY: '1', CONFIG_FILE: path }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const waitForLog = async (message: string): Promise<void> => {
      await waitUntil(
        `a "${message}" log line`,
        () => {
          if (stdout.includes(`"msg":"${message}"`)) return true;
          // a server that exited will never log it: fail now, with its output
          if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}:\n${stdout}`);
          return false;
        },
        { timeoutMs: 45_000, seen: () => `output so far:\n${stdout}` },
      );
    };
    await waitForLog('listening');

    const ip = `2001:db8:${randomBytes(2).toString('hex')}::1`;
    const get = async (): Promise<number> => {
      const response = await fetch(`http://127.0.0.1:${port}/nowhere`, { headers: { 'X-Forwarded-For': ip } });
      await response.arrayBuffer();
      return response.status;
    };
    expect([await get(), await get(), await get()]).toEqual([404, 404, 404]);

    writeScratch(path, 'RATE_LIMIT_PER_MINUTE=3\nLOG_LEVEL=warn\n');
    child.kill('SIGHUP');
    await waitForLog('configuration reloaded');
    // Four requests trip a limit of 3 even if the window restarted meanwhile (a loaded machine can delay the reload,
    // or Redis can time out and hand the count to the in-memory insurance limiter); at 1000 none would.
    const after: number[] = [];
    for (let i = 0; i < 4; i += 1) after.push(await get());
    expect(after).toContain(429);
    // At warn, the access log (info) is gone: the new level is in force too.
    const before = stdout.split('"msg":"request"').length;
    await get();
    expect(stdout.split('"msg":"request"').length).toBe(before);

    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    expect(code).toBe(0);
  }, 90_000);
});
