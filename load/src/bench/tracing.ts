/**
 * `npm run bench:tracing -w load`: does a tracing backend that is down slow the app? The production build with
 * OTEL_EXPORTER_OTLP_ENDPOINT pointing at a local Jaeger serves the cached product read at a fixed rate (Vegeta,
 * open model) while Jaeger is running, stopped (nothing listens: exports are refused) and frozen (SIGSTOP: exports
 * hang until the exporter's timeout). Conditions alternate within each round; the table shows medians over rounds.
 * Target: p99 with Jaeger stopped within 10 % of p99 with it running.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { removeDirectory } from '@slipway/pipelines/platform/accounts';
import { PlatformError } from '@slipway/pipelines/platform/errors';
import { APP_DATABASE, LOCAL_HOST, localPaths } from '@slipway/pipelines/platform/local';
import { repoRoot } from '@slipway/pipelines/platform/paths';
import { freePort } from '@slipway/pipelines/platform/ports';
import { isAlive } from '@slipway/pipelines/platform/processes';
import { consoleProgress as progress } from '@slipway/pipelines/platform/progress';
import { jaegerService } from '@slipway/pipelines/platform/services/jaeger';
import { claimState, Supervisor } from '@slipway/pipelines/platform/supervisor';
import { runScenario } from '../engine/run.js';
import { parseDuration, ScenarioInputError, settingsOrReport, wholeNumber } from '../engine/settings.js';
import { vegetaPath } from '../engine/vegeta.js';
import { runMetrics, type RunMetrics } from './metrics.js';
import { benchScenario } from './scenarios.js';
import { clientAddress, seedCachedRead, signIn } from './seed-account.js';
import { benchAppEnv, benchDataServices, BUILT_APP_ENTRY, builtAppService } from './services.js';
import { median } from './stats.js';

const SCOPE = 'bench-tracing';
const CONDITIONS = ['running', 'stopped', 'frozen'] as const;
type Condition = (typeof CONDITIONS)[number];
/** The target: p99 with the backend stopped at most this much above p99 with it running. */
const MAX_P99_RATIO = 1.1;
const BUILT_INSTRUMENT_ENTRY = join(repoRoot, 'app', 'dist', 'instrument.js');

interface Settings {
  readonly runs: number;
  readonly rate: number;
  readonly durationMs: number;
}

function settingsOf(env: NodeJS.ProcessEnv): Settings {
  const runs = wholeNumber(env, 'BENCH_RUNS', 5, 100);
  const rate = wholeNumber(env, 'BENCH_READ_RATE', 150, 100_000);
  const raw = env.BENCH_DURATION ?? '';
  const durationMs = raw === '' ? 15_000 : parseDuration(raw);
  if (durationMs === undefined || durationMs < 1_000) {
    throw new ScenarioInputError('BENCH_DURATION', raw, 'a duration of 1s or more, such as 20s or 1m (default 15s)');
  }
  return { runs, rate, durationMs };
}

function buildApp(): void {
  progress.step('building the app for production (npm run build -w app)');
  const result = spawnSync('npm', ['run', 'build', '-w', 'app'], { cwd: repoRoot, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new PlatformError(
      `npm run build -w app failed (exit ${String(result.status)}):\n${result.stdout}${result.stderr}`,
      'fix the errors above, then check with: npm run build -w app',
    );
  }
}

const fixed = (value: number): string => value.toFixed(2);

async function main(): Promise<number> {
  const settings = settingsOrReport(() => settingsOf(process.env));
  if (settings === undefined) return 64;
  const vegeta = vegetaPath();
  const { dir, stateFile, logDir } = localPaths(SCOPE);
  await claimState(stateFile, progress);
  const supervisor = new Supervisor(stateFile, logDir, progress);
  // Ctrl-C stops what the run started, not only this process
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    process.once(name, () => {
      process.stdout.write(`\n${name}: stopping everything the benchmark started\n`);
      void supervisor.stopAll().finally(() => process.exit(130));
    });
  }
  // this run stops Jaeger on purpose; any other service leaving ends it
  let failure: Error | undefined;
  supervisor.onUnexpectedExit = (name, code) => {
    if (name !== 'jaeger') failure = new Error(`${name} exited during the benchmark (code ${String(code)})`);
  };
  try {
    buildApp();
    const { postgres, redis } = await benchDataServices(dir);
    const jaeger = jaegerService({
      dir: join(dir, 'jaeger'),
      host: LOCAL_HOST,
      port: await freePort(),
      portEnv: 'none',
      otlpPort: await freePort(),
      otlpPortEnv: 'none',
      grpcPort: await freePort(),
      grpcPortEnv: 'none',
    });
    const databaseUrl = postgres.connectionString(APP_DATABASE);
    const built = builtAppService({
      host: LOCAL_HOST,
      port: await freePort(),
      env: { ...benchAppEnv(databaseUrl, redis.connectionUrl), OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint },
    });
    // as the image starts it: instrument.js before server.js
    const app = { ...built, args: ['--import', pathToFileURL(BUILT_INSTRUMENT_ENTRY).href, BUILT_APP_ENTRY] };
    for (const definition of [postgres, redis, jaeger, app]) await supervisor.start(definition);
    const jaegerPid = (): number => {
      const pid = supervisor.services.filter((s) => s.name === 'jaeger').at(-1)?.pid;
      if (pid === undefined) throw new Error('jaeger is not among the started services');
      return pid;
    };

    const seeded = await seedCachedRead(app.url, databaseUrl);
    progress.ok(`seeded product ${seeded.productId}; ${settings.runs} rounds of ${CONDITIONS.join(', ')}`);

    let state: Condition = 'running';
    const enter = async (condition: Condition): Promise<void> => {
      if (state === 'frozen') process.kill(jaegerPid(), 'SIGCONT');
      if (state === 'stopped' && condition !== 'stopped') await supervisor.start(jaeger);
      if (condition === 'stopped' && state !== 'stopped') {
        const pid = jaegerPid();
        process.kill(pid, 'SIGTERM');
        while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (condition === 'frozen') process.kill(jaegerPid(), 'SIGSTOP');
      state = condition;
    };

    const results = new Map<Condition, RunMetrics[]>(CONDITIONS.map((c) => [c, []]));
    let signIns = 0;
    for (let round = 1; round <= settings.runs; round++) {
      for (const condition of CONDITIONS) {
        await enter(condition);
        if (failure !== undefined) throw failure;
        signIns += 1;
        const token = await signIn(app.url, seeded.account, clientAddress(2 ** 23 + signIns));
        progress.step(`round ${round}/${settings.runs}, Jaeger ${condition}: ${settings.rate}/s cached reads`);
        const metrics = runMetrics(
          await runScenario({
            scenario: benchScenario({
              kind: 'cached-read',
              rate: settings.rate,
              durationMs: settings.durationMs,
              productId: seeded.productId,
            }),
            targetUrl: app.url,
            seeded: {
              seed: {
                baseUrl: app.url,
                email: seeded.account.email,
                password: seeded.account.password,
                productIds: [seeded.productId],
                orderId: '',
                addressBase: Math.floor(Math.random() * 2 ** 22),
              },
              token,
            },
            vegeta,
            signal: AbortSignal.timeout(settings.durationMs + 60_000),
          }),
        );
        results.get(condition)?.push(metrics);
        progress.ok(
          `p50 ${fixed(metrics.p50Ms)} ms, p99 ${fixed(metrics.p99Ms)} ms, ${metrics.failed} of ${metrics.requests} failed`,
        );
      }
    }
    await enter('running');

    const p99 = (condition: Condition): number => median((results.get(condition) ?? []).map((m) => m.p99Ms));
    const lines = [
      '',
      `cached read, ${settings.rate}/s for ${settings.durationMs / 1000} s, ${settings.runs} rounds; medians over rounds`,
      '| Jaeger  | p50 ms | p99 ms | p99 / running | failed |',
      '| ------- | -----: | -----: | ------------: | -----: |',
      ...CONDITIONS.map((condition) => {
        const runs = results.get(condition) ?? [];
        const failed = runs.reduce((sum, m) => sum + m.failed, 0);
        return `| ${condition.padEnd(7)} | ${fixed(median(runs.map((m) => m.p50Ms))).padStart(6)} | ${fixed(p99(condition)).padStart(6)} | ${(p99(condition) / p99('running')).toFixed(3).padStart(13)} | ${String(failed).padStart(6)} |`;
      }),
      '',
    ];
    process.stdout.write(lines.join('\n'));
    const ratio = p99('stopped') / p99('running');
    const failedAny = [...results.values()].flat().some((m) => m.failed > 0);
    const met = ratio <= MAX_P99_RATIO && !failedAny;
    process.stdout.write(
      `${met ? 'met' : 'missed'}: p99 with Jaeger stopped is ${ratio.toFixed(3)} × p99 with it running (target ≤ ${MAX_P99_RATIO}), ${failedAny ? 'some' : 'no'} requests failed\n`,
    );
    return met ? 0 : 1;
  } finally {
    await supervisor.stopAll();
    removeDirectory(join(dir, 'postgres', 'data'));
    removeDirectory(join(dir, 'redis', 'data'));
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
