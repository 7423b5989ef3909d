import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { removeDirectory } from '../../../pipelines/src/platform/accounts.js';
import { PlatformError } from '../../../pipelines/src/platform/errors.js';
import { APP_DATABASE, LOCAL_HOST, localPaths } from '../../../pipelines/src/platform/local.js';
import { repoRoot } from '../../../pipelines/src/platform/paths.js';
import { freePort } from '../../../pipelines/src/platform/ports.js';
import { consoleProgress, seconds } from '../../../pipelines/src/platform/progress.js';
import { postgresService } from '../../../pipelines/src/platform/services/postgres.js';
import { redisService } from '../../../pipelines/src/platform/services/redis.js';
import { AlreadyRunning, claimState, Supervisor } from '../../../pipelines/src/platform/supervisor.js';
import { toolPath } from '../../../pipelines/src/platform/tools.js';
import { k6Version, runK6 } from './k6.js';
import type { RunMetrics } from './k6-summary.js';
import {
  appToBare,
  formatRatio,
  formatTable,
  summarise,
  type RunRecord,
  type TargetName,
  type TargetSummary,
} from './report.js';
import { sampleMaxRss } from './rss.js';
import { bareServerService, builtAppService } from './services.js';
import { BenchInputError, benchSettings, type BenchSettings } from './settings.js';

const SCOPE = 'bench';
const RESULTS_DIR = fileURLToPath(new URL('../../results/', import.meta.url));
const EXIT_USAGE = 64;
const EXIT_INTERRUPTED = 130;
const BUILD_OUTPUT_TAIL_LINES = 30;

/** Ctrl-C or a termination signal arrived; everything started is being stopped. */
class Interrupted extends Error {
  override readonly name = 'Interrupted';
}

const progress = consoleProgress;
const shown = (path: string): string => relative(repoRoot, path);

/** Removes what a run leaves in its scope: the data always, the logs unless they are kept to read after a failure. */
function removeScopeData(dir: string, keepLogs: boolean): void {
  // the data folders may be links to a folder the service account owns under the system temp dir
  removeDirectory(join(dir, 'postgres', 'data'));
  removeDirectory(join(dir, 'redis', 'data'));
  if (!keepLogs) {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  for (const entry of ['postgres', 'redis', 'k6', 'state.json'])
    rmSync(join(dir, entry), { recursive: true, force: true });
}

/** `npm run build -w app`: the production build the app service runs. */
function buildApp(signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    // Its own process group, so stopping it also stops the tsc that npm started.
    const child = spawn('npm', ['run', 'build', '-w', 'app'], {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const onAbort = (): void => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    };
    signal.addEventListener('abort', onAbort, { once: true });
    child.once('error', (error) =>
      reject(new PlatformError(`could not run npm: ${error.message}`, 'run the benchmark through npm run bench')),
    );
    child.once('close', (code) => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) reject(signal.reason as Error);
      else if (code === 0) resolve();
      else {
        const tail = output.trimEnd().split('\n').slice(-BUILD_OUTPUT_TAIL_LINES).join('\n');
        reject(
          new PlatformError(
            `npm run build -w app failed (exit ${String(code)}):\n${tail}`,
            'fix the errors above, then check with: npm run build -w app',
          ),
        );
      }
    });
  });
}

interface Target {
  readonly name: TargetName;
  readonly url: string;
  readonly pid: number;
  readonly description: string;
}

function machine(k6: string): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryMb: Math.round(os.totalmem() / 1024 / 1024),
    loadAverageAtStart: os.loadavg(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    k6,
  };
}

/** ISO 8601 basic format (20250102T030405Z): sortable, and without the colons some tools refuse in file names. */
function fileStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

function writeResults(content: Record<string, unknown>, startedAt: Date): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${fileStamp(startedAt)}.json`);
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
  return file;
}

async function measure(
  settings: BenchSettings,
  targets: readonly Target[],
  k6: string,
  k6Dir: string,
  logFile: string,
  signal: AbortSignal,
): Promise<RunRecord[]> {
  const records: RunRecord[] = [];
  for (let run = 1; run <= settings.runs; run++) {
    // Alternating targets spreads slow drift of the machine (heat, neighbours) over both.
    for (const target of targets) {
      signal.throwIfAborted();
      const label = `${target.name} run ${run}/${settings.runs}`;
      progress.step(`${label}: ${settings.vus} VUs for ${settings.duration} against ${target.url}`);
      const startedAt = new Date().toISOString();
      const sampler = sampleMaxRss(target.pid);
      let metrics: RunMetrics;
      let maxRssMb: number | undefined;
      try {
        metrics = await runK6({
          k6,
          targetUrl: target.url,
          vus: settings.vus,
          duration: settings.duration,
          durationMs: settings.durationMs,
          summaryPath: join(k6Dir, `${target.name}-${run}.json`),
          logFile,
          signal,
        });
      } finally {
        maxRssMb = sampler.stop();
      }
      records.push({ target: target.name, run, startedAt, metrics, maxRssMb });
      progress.ok(
        `${label}: ${metrics.rps.toFixed(0)} req/s, p50 ${metrics.p50Ms.toFixed(2)} ms, p99 ${metrics.p99Ms.toFixed(2)} ms, ` +
          `${metrics.failed} of ${metrics.requests} failed` +
          (maxRssMb === undefined ? '' : `, max RSS ${maxRssMb.toFixed(1)} MB`),
      );
    }
  }
  return records;
}

async function main(): Promise<number> {
  let settings: BenchSettings;
  try {
    settings = benchSettings(process.env);
  } catch (error) {
    if (!(error instanceof BenchInputError)) throw error;
    process.stderr.write(`error: ${error.message}\n`);
    return EXIT_USAGE;
  }
  const k6 = toolPath('k6');
  const version = await k6Version(k6);
  const startedAt = new Date();

  const { dir, stateFile, logDir } = localPaths(SCOPE);
  try {
    await claimState(stateFile, progress);
  } catch (error) {
    if (!(error instanceof AlreadyRunning)) throw error;
    throw new PlatformError(
      `another benchmark is running (pid ${error.state.supervisorPid}, since ${error.state.startedAt})`,
      `wait for it to finish, or stop it with: kill ${error.state.supervisorPid}`,
    );
  }
  removeScopeData(dir, false);
  const k6Dir = join(dir, 'k6');
  mkdirSync(k6Dir, { recursive: true });

  const aborter = new AbortController();
  const { signal } = aborter;
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(name, () => {
      if (signal.aborted) return;
      process.stdout.write(`\n${name}: stopping everything the benchmark started\n`);
      aborter.abort(new Interrupted(`interrupted by ${name}`));
    });
  }
  const supervisor = new Supervisor(stateFile, logDir, progress);
  supervisor.onUnexpectedExit = (name, code, exitSignal, log) =>
    aborter.abort(
      new PlatformError(
        `${name} exited during the benchmark (code ${String(code)}, signal ${String(exitSignal)})`,
        `read ${shown(log)}`,
      ),
    );

  let keepLogs = false;
  let report = '';
  try {
    const began = Date.now();
    progress.step('building the app for production (npm run build -w app)');
    await buildApp(signal);
    progress.ok(`app built (${seconds(Date.now() - began)})`);

    const postgres = postgresService({
      dir: join(dir, 'postgres'),
      host: LOCAL_HOST,
      port: await freePort(LOCAL_HOST),
      portEnv: 'none (the benchmark picks a free port)',
      databases: [APP_DATABASE],
      disposable: true,
      fresh: true,
    });
    const redis = redisService({
      dir: join(dir, 'redis'),
      host: LOCAL_HOST,
      port: await freePort(LOCAL_HOST),
      portEnv: 'none (the benchmark picks a free port)',
      disposable: true,
      fresh: true,
    });
    const app = builtAppService({
      host: LOCAL_HOST,
      port: await freePort(LOCAL_HOST),
      env: {
        NODE_ENV: 'production',
        APP_ENV: 'prod',
        LOG_LEVEL: 'warn',
        SHUTDOWN_DRAIN_MS: '0',
        DATABASE_URL: postgres.connectionString(APP_DATABASE),
        REDIS_URL: redis.connectionUrl,
        // throwaway secrets: the bench scope and its data are removed after the run
        JWT_SECRETS: randomBytes(48).toString('base64url'),
        PASSWORD_PEPPER: randomBytes(32).toString('base64url'),
      },
    });
    const bare = bareServerService(await freePort(LOCAL_HOST));
    for (const definition of [postgres, redis, app, bare]) {
      signal.throwIfAborted();
      await supervisor.start(definition);
    }
    signal.throwIfAborted();

    const pidOf = (name: string): number => {
      const pid = supervisor.services.find((service) => service.name === name)?.pid;
      if (pid === undefined) throw new Error(`${name} is not among the started services`);
      return pid;
    };
    const targets: Target[] = [
      {
        name: 'app',
        url: `${app.url}/health/live`,
        pid: pidOf('app'),
        description: 'erp-api production build (node app/dist/server.js), GET /health/live',
      },
      {
        name: 'bare',
        url: `${bare.url}/health/live`,
        pid: pidOf('bare'),
        description: 'bare node:http server with the same body and content-type (load/src/bench/bare-server.ts)',
      },
    ];
    const records = await measure(settings, targets, k6, k6Dir, join(logDir, 'k6.log'), signal);

    const summaries: TargetSummary[] = targets.map((target) => summarise(target.name, records));
    const [appSummary, bareSummary] = summaries;
    if (appSummary === undefined || bareSummary === undefined) throw new Error('a target has no summary');
    const ratio = appToBare(appSummary, bareSummary);
    const finishedAt = new Date();
    const file = writeResults(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        command: 'npm run bench',
        settings: {
          runs: settings.runs,
          vus: settings.vus,
          duration: settings.duration,
          model: 'closed: k6 constant-vus, keep-alive connections, one request per iteration',
        },
        machine: machine(version),
        targets: Object.fromEntries(
          targets.map((target, i) => [
            target.name,
            {
              description: target.description,
              summary: summaries[i],
              runs: records.filter((record) => record.target === target.name),
            },
          ]),
        ),
        ratioAppToBare: ratio,
      },
      startedAt,
    );

    report = [
      `${settings.runs} runs per target, ${settings.vus} VUs, ${settings.duration} each; medians over runs`,
      '',
      formatTable(summaries),
      '',
      formatRatio(ratio),
      `k6 shares this machine's ${os.cpus().length} CPUs with the targets: compare the rows, not the absolute numbers`,
      `results: ${shown(file)}`,
    ].join('\n');
  } catch (error) {
    // A failure's logs explain it; an interrupted run's explain nothing.
    keepLogs = !(error instanceof Interrupted);
    throw error;
  } finally {
    // Runs on success, failure and Ctrl-C alike; further signals are ignored until it is done.
    try {
      await supervisor.stopAll();
    } finally {
      removeScopeData(dir, keepLogs);
      if (keepLogs && existsSync(logDir) && readdirSync(logDir).length > 0)
        progress.warn(`logs of this run are kept in ${shown(logDir)}`);
    }
  }
  // After the teardown lines, so the table is the last thing on screen.
  process.stdout.write(`\n${report}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof Interrupted) {
      process.stderr.write(`${error.message}; nothing was recorded\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    process.stderr.write(
      `${error instanceof PlatformError ? error.format() : String(error instanceof Error ? error.stack : error)}\n`,
    );
    process.exit(1);
  },
);
