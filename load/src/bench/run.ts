import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';

import { removeDirectory } from '@slipway/pipelines/platform/accounts';
import { PlatformError } from '@slipway/pipelines/platform/errors';
import { APP_DATABASE, LOCAL_HOST, localPaths, platformScope } from '@slipway/pipelines/platform/local';
import { repoRoot } from '@slipway/pipelines/platform/paths';
import { freePort } from '@slipway/pipelines/platform/ports';
import { consoleProgress, seconds } from '@slipway/pipelines/platform/progress';
import { AlreadyRunning, claimState, Supervisor, type ServiceDefinition } from '@slipway/pipelines/platform/supervisor';
import { RESULTS_DIR } from './check.js';
import { runScenario } from '../engine/run.js';
import type { Seeded } from '../engine/session.js';
import { vegetaPath, vegetaVersion } from '../engine/vegeta.js';
import { soak } from '../scenarios/soak.js';
import { runMetrics, type RunMetrics } from './metrics.js';
import { benchScenario, type BenchMeasurement } from './scenarios.js';
import {
  BENCH_ROWS,
  formatMisses,
  formatRatio,
  formatTable,
  judge,
  ratioOf,
  summarise,
  TARGETS,
  type BenchRow,
  type RowSummary,
  type RunRecord,
} from './report.js';
import { rssGrowth, sampleMaxRss } from './rss.js';
import { clientAddress, seedCachedRead, signIn, type SeedAccount } from './seed-account.js';
import {
  bareServerService,
  benchAppEnv,
  benchDataServices,
  builtAppService,
  builtWorkerService,
  expressServerService,
} from './services.js';
import { settingsOrReport } from '../engine/settings.js';
import { INVOICE_WORKERS, measureInvoices, seedInvoiceOrders } from './invoices.js';
import { benchSettings, type BenchSettings } from './settings.js';
import { median } from './stats.js';

// SLIPWAY_SCOPE moves the run to .local/<scope>, so a test's run never meets a developer's `npm run bench`.
const SCOPE = process.env.SLIPWAY_SCOPE === undefined ? 'bench' : platformScope(process.env);
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
  for (const entry of ['postgres', 'redis', 'state.json']) rmSync(join(dir, entry), { recursive: true, force: true });
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

function machine(vegeta: string): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryMb: Math.round(os.totalmem() / 1024 / 1024),
    loadAverageAtStart: os.loadavg(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    vegeta,
  };
}

/** ISO 8601 basic format (20250102T030405Z): sortable, and without the colons some tools refuse in file names. */
function fileStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** load/results, or BENCH_RESULTS_DIR (a test's temporary folder). */
function writeResults(content: Record<string, unknown>, startedAt: Date): string {
  const requested = process.env.BENCH_RESULTS_DIR;
  const dir = requested === undefined || requested === '' ? RESULTS_DIR : requested;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${fileStamp(startedAt)}.json`);
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
  return file;
}

/** One run the benchmark makes: which row it feeds, against which process, with which settings. */
interface Measurement {
  readonly row: BenchRow;
  readonly description: string;
  readonly url: string;
  /** The process whose RSS is sampled: the app, or the reference server of a closed reference row. */
  readonly pid: number;
  /** The benchmark's own measurement, or the soak scenario. */
  readonly measurement: BenchMeasurement | 'soak';
  readonly durationMs: number;
  /** What the progress line says is asked for. */
  readonly asked: string;
}

interface Stack {
  readonly appUrl: string;
  readonly appPid: number;
  readonly references: readonly { row: BenchRow; url: string; pid: number; description: string }[];
  readonly account: SeedAccount;
  readonly productId: string;
  readonly orderProductIds: readonly string[];
  /** The invoice row's: the worker processes and one order per job of the bulk. */
  readonly databaseUrl: string;
  readonly workerPids: readonly number[];
  readonly invoiceOrderIds: readonly string[];
}

/** The runs of one round, in the order of the table; soak is separate (it runs once). */
function roundOf(settings: BenchSettings, stack: Stack): Measurement[] {
  const { appUrl, appPid, productId } = stack;
  const durationMs = settings.duration.ms;
  const open = (row: 'cached-read' | 'orders' | 'logins', rate: number, description: string): Measurement => ({
    row,
    description,
    url: appUrl,
    pid: appPid,
    measurement: row === 'cached-read' ? { kind: row, rate, durationMs, productId } : { kind: row, rate, durationMs },
    durationMs,
    asked: `${rate}/s`,
  });
  const closed = (row: BenchRow, url: string, pid: number, description: string): Measurement => ({
    row,
    description,
    url,
    pid,
    measurement: { kind: 'closed', workers: settings.vus, durationMs: settings.closedDuration.ms, productId },
    durationMs: settings.closedDuration.ms,
    asked: `${settings.vus} workers`,
  });
  const round: Measurement[] = [];
  for (const scenario of settings.scenarios) {
    if (scenario === 'cached-read') {
      round.push(open('cached-read', settings.rates.cachedRead, 'open model: GET /api/v1/products/:id, cached'));
    } else if (scenario === 'orders') {
      round.push(open('orders', settings.rates.orders, 'open model: POST /api/v1/orders of one item'));
    } else if (scenario === 'logins') {
      round.push(open('logins', settings.rates.logins, 'open model: POST /api/v1/auth/login, one address each'));
    } else if (scenario === 'bare') {
      // Alternating targets within a round spreads slow drift of the machine (heat, neighbours) over all three.
      round.push(
        closed('closed-app', appUrl, appPid, `closed model, ${settings.vus} workers: the app's cached product read`),
        ...stack.references.map((reference) =>
          closed(reference.row, reference.url, reference.pid, reference.description),
        ),
      );
    }
  }
  return round;
}

function soakOf(settings: BenchSettings, stack: Stack): Measurement {
  return {
    row: 'soak',
    description: `the production-like mix (load/src/scenarios/soak.ts) at ${settings.rates.soak}/s`,
    url: stack.appUrl,
    pid: stack.appPid,
    measurement: 'soak',
    durationMs: settings.soakDuration.ms,
    asked: `${settings.rates.soak}/s`,
  };
}

let signIns = 0;

/** A fresh token each run, from an address of its own: access tokens live 15 minutes, a whole benchmark is longer. */
async function freshToken(stack: Stack): Promise<string> {
  signIns += 1;
  return signIn(stack.appUrl, stack.account, clientAddress(2 ** 23 + signIns));
}

const SETTLE_PROBE_INTERVAL_MS = 500;
const SETTLE_QUIET_MS = 20;
const SETTLE_QUIET_PROBES = 3;
const SETTLE_LIMIT_MS = 120_000;

/** Waits until `url` answers three probes in a row within 20 ms (at most two minutes). */
async function settle(url: string, signal: AbortSignal): Promise<{ waitedMs: number; quiet: boolean }> {
  const started = Date.now();
  let quietInRow = 0;
  while (Date.now() - started < SETTLE_LIMIT_MS) {
    signal.throwIfAborted();
    const probe = performance.now();
    try {
      const response = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(5_000) });
      await response.arrayBuffer();
      quietInRow = performance.now() - probe <= SETTLE_QUIET_MS ? quietInRow + 1 : 0;
    } catch {
      quietInRow = 0;
    }
    if (quietInRow >= SETTLE_QUIET_PROBES) return { waitedMs: Date.now() - started, quiet: true };
    await new Promise((resolve) => setTimeout(resolve, SETTLE_PROBE_INTERVAL_MS));
  }
  return { waitedMs: Date.now() - started, quiet: false };
}

/** An overloaded run leaves the target working off its backlog: the next run starts on a quiet target. */
async function settleBefore(label: string, url: string, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  const settled = await settle(url, signal);
  if (settled.waitedMs > SETTLE_QUIET_PROBES * SETTLE_PROBE_INTERVAL_MS) {
    progress.ok(
      `${label}: waited ${seconds(settled.waitedMs)} for ${url} to settle (${settled.quiet ? 'quiet' : 'still slow, measuring anyway'})`,
    );
  }
}

async function measureOne(
  measurement: Measurement,
  label: string,
  settings: BenchSettings,
  stack: Stack,
  vegeta: string,
  signal: AbortSignal,
): Promise<RunRecord> {
  await settleBefore(label, measurement.url, signal);
  const token = await freshToken(stack);
  const seeded: Seeded = {
    seed: {
      baseUrl: measurement.url,
      email: stack.account.email,
      password: stack.account.password,
      productIds: measurement.row === 'orders' ? stack.orderProductIds : [stack.productId],
      orderId: '',
      addressBase: Math.floor(Math.random() * 2 ** 22),
    },
    token,
  };
  progress.step(
    `${label}: ${measurement.asked} for ${Math.round(measurement.durationMs / 1000)} s against ${measurement.url}`,
  );
  const startedAt = new Date().toISOString();
  // the soak's growth needs enough samples in each fifth: about 100 over the run, at most one a second
  const intervalMs = measurement.row === 'soak' ? Math.min(1_000, Math.max(50, measurement.durationMs / 100)) : 200;
  const sampler = sampleMaxRss(measurement.pid, intervalMs);
  let metrics: RunMetrics;
  let maxRssMb: number | undefined;
  try {
    const scenario =
      measurement.measurement === 'soak'
        ? soak({ SOAK_RATE: String(settings.rates.soak), SOAK_DURATION: settings.soakDuration.text })
        : benchScenario(measurement.measurement);
    metrics = runMetrics(await runScenario({ scenario, targetUrl: measurement.url, seeded, vegeta, signal }));
  } finally {
    maxRssMb = sampler.stop();
  }
  const growth = measurement.row === 'soak' ? rssGrowth(sampler.samples()) : undefined;
  progress.ok(
    `${label}: ${metrics.rps.toFixed(0)} req/s, p50 ${metrics.p50Ms.toFixed(2)} ms, p99 ${metrics.p99Ms.toFixed(2)} ms, ` +
      `${metrics.failed} of ${metrics.requests} failed, ${metrics.unsent} unsent, generator ${metrics.generatorCpuPercent.toFixed(1)} % CPU` +
      (maxRssMb === undefined ? '' : `, max RSS ${maxRssMb.toFixed(1)} MB`) +
      (growth === undefined ? '' : `, RSS growth ${(growth * 100).toFixed(2)} %`),
  );
  return {
    row: measurement.row,
    run: 0,
    startedAt,
    metrics,
    maxRssMb,
    ...(growth === undefined ? {} : { rssGrowth: growth }),
  };
}

const INVOICE_DESCRIPTION = `${INVOICE_WORKERS} worker processes: invoice PDFs stored per second from a bulk of enqueues; enqueue → PDF stored at half that rate`;

async function measureInvoiceRun(
  label: string,
  settings: BenchSettings,
  stack: Stack,
  vegeta: string,
  signal: AbortSignal,
): Promise<RunRecord> {
  await settleBefore(label, stack.appUrl, signal);
  const token = await freshToken(stack);
  const startedAt = new Date().toISOString();
  const run = await measureInvoices({
    label,
    appUrl: stack.appUrl,
    appPid: stack.appPid,
    workerPids: stack.workerPids,
    databaseUrl: stack.databaseUrl,
    account: stack.account,
    token,
    orderIds: stack.invoiceOrderIds,
    settings: settings.invoices,
    vegeta,
    progress,
    signal,
  });
  return { row: 'invoices', run: 0, startedAt, metrics: run.metrics, maxRssMb: run.maxRssMb, invoices: run.findings };
}

/** The invoice row's cost per invoice and the rates it ran at, medians over its runs; nothing without the row. */
function invoiceLines(records: readonly RunRecord[]): string[] {
  const findings = records.flatMap((record) => (record.invoices === undefined ? [] : [record.invoices]));
  if (findings.length === 0) return [];
  const of = (pick: (f: (typeof findings)[number]) => number): string => median(findings.map(pick)).toFixed(1);
  return [
    `invoices (medians over runs): bulk of ${findings[0]?.bulk.asked ?? 0} enqueued at ${of((f) => f.bulk.enqueueRps)}/s; ` +
      `latency at ${of((f) => f.latency.rate)}/s: p50 ${of((f) => f.latency.p50Ms)} ms, p90 ${of((f) => f.latency.p90Ms)} ms, ` +
      `p99 ${of((f) => f.latency.p99Ms)} ms; CPU per invoice: ${INVOICE_WORKERS} workers ${of((f) => f.cpuMsPerInvoice.workers)} ms, ` +
      `API ${of((f) => f.cpuMsPerInvoice.api)} ms per enqueue`,
  ];
}

async function measure(
  settings: BenchSettings,
  stack: Stack,
  vegeta: string,
  signal: AbortSignal,
): Promise<{ records: RunRecord[]; descriptions: Map<BenchRow, string> }> {
  const records: RunRecord[] = [];
  const descriptions = new Map<BenchRow, string>();
  const round = roundOf(settings, stack);
  const invoices = settings.scenarios.includes('invoices');
  for (let run = 1; run <= settings.runs && (round.length > 0 || invoices); run++) {
    for (const measurement of round) {
      descriptions.set(measurement.row, measurement.description);
      const record = await measureOne(
        measurement,
        `${measurement.row} run ${run}/${settings.runs}`,
        settings,
        stack,
        vegeta,
        signal,
      );
      records.push({ ...record, run });
    }
    if (invoices) {
      descriptions.set('invoices', INVOICE_DESCRIPTION);
      const record = await measureInvoiceRun(`invoices run ${run}/${settings.runs}`, settings, stack, vegeta, signal);
      records.push({ ...record, run });
    }
  }
  if (settings.scenarios.includes('soak')) {
    const soakRun = soakOf(settings, stack);
    descriptions.set('soak', soakRun.description);
    records.push({ ...(await measureOne(soakRun, 'soak (one run)', settings, stack, vegeta, signal)), run: 1 });
  }
  return { records, descriptions };
}

async function main(): Promise<number> {
  const settings = settingsOrReport(() => benchSettings(process.env));
  if (settings === undefined) return EXIT_USAGE;
  const vegeta = vegetaPath();
  const version = `vegeta ${vegetaVersion(vegeta)}`;
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

    const { postgres, redis } = await benchDataServices(dir);
    const databaseUrl = postgres.connectionString(APP_DATABASE);
    const app = builtAppService({
      host: LOCAL_HOST,
      port: await freePort(LOCAL_HOST),
      env: {
        ...benchAppEnv(databaseUrl, redis.connectionUrl),
        // the invoice row's bulk is meant to queue beyond what the workers drain, not to meet the 429 backpressure
        JOB_QUEUE_LIMIT: '1000000',
      },
    });
    const invoices = settings.scenarios.includes('invoices');
    const workers: ServiceDefinition[] = [];
    // the same build and environment as the app, each with its own probe port
    for (let n = 1; invoices && n <= INVOICE_WORKERS; n++) {
      const concurrency = settings.invoices.concurrency;
      const env = { ...app.env, ...(concurrency === undefined ? {} : { JOB_CONCURRENCY: String(concurrency) }) };
      workers.push(builtWorkerService(`worker-${n}`, { host: LOCAL_HOST, port: await freePort(LOCAL_HOST), env }));
    }
    for (const definition of [postgres, redis, app, ...workers]) {
      signal.throwIfAborted();
      await supervisor.start(definition);
    }
    const pidOf = (name: string): number => {
      const pid = supervisor.services.find((service) => service.name === name)?.pid;
      if (pid === undefined) throw new Error(`${name} is not among the started services`);
      return pid;
    };

    progress.step('seeding: an admin account, the products to read and to order, the cached read');
    const seeded = await seedCachedRead(app.url, databaseUrl);
    progress.ok(
      `seeded product ${seeded.productId} (${Buffer.byteLength(seeded.response.body)} bytes cached read) and ${seeded.orderProductIds.length} products to order`,
    );
    let invoiceOrderIds: string[] = [];
    if (invoices) {
      progress.step(`seeding ${settings.invoices.jobs} orders for the invoice jobs`);
      const began = Date.now();
      const token = await signIn(app.url, seeded.account, clientAddress(2 ** 23 - 1));
      invoiceOrderIds = await seedInvoiceOrders(
        app.url,
        token,
        seeded.orderProductIds,
        settings.invoices.jobs,
        progress,
        signal,
      );
      progress.ok(`seeded ${invoiceOrderIds.length} orders (${seconds(Date.now() - began)})`);
    }
    const references: Stack['references'][number][] = [];
    if (settings.scenarios.includes('bare')) {
      const responseFile = join(dir, 'bare-response.json');
      writeFileSync(responseFile, JSON.stringify(seeded.response));
      const expressServer = expressServerService(await freePort(LOCAL_HOST), responseFile);
      const bare = bareServerService(await freePort(LOCAL_HOST), responseFile);
      await supervisor.start(expressServer);
      await supervisor.start(bare);
      references.push(
        {
          row: 'closed-express',
          url: expressServer.url,
          pid: pidOf('express'),
          description: `closed model, ${settings.vus} workers: Express 5 with one route and the same body (load/src/bench/express-server.ts)`,
        },
        {
          row: 'closed-bare',
          url: bare.url,
          pid: pidOf('bare'),
          description: `closed model, ${settings.vus} workers: bare node:http with the same body (load/src/bench/bare-server.ts)`,
        },
      );
    }
    signal.throwIfAborted();
    const stack: Stack = {
      appUrl: app.url,
      appPid: pidOf('app'),
      references,
      account: seeded.account,
      productId: seeded.productId,
      orderProductIds: seeded.orderProductIds,
      databaseUrl,
      workerPids: workers.map((worker) => pidOf(worker.name)),
      invoiceOrderIds,
    };
    const { records, descriptions } = await measure(settings, stack, vegeta, signal);

    const summaries = new Map<BenchRow, RowSummary>();
    for (const row of BENCH_ROWS) {
      const summary = summarise(row, records);
      if (summary !== undefined) summaries.set(row, summary);
    }
    const appClosed = summaries.get('closed-app');
    const expressSummary = summaries.get('closed-express');
    const bareSummary = summaries.get('closed-bare');
    const rows = [...summaries.values()].map((summary) => ({ summary, judgement: judge(summary, expressSummary) }));
    const judgements = rows.flatMap((row) => (row.judgement === undefined ? [] : [row.judgement]));
    const ratios =
      appClosed === undefined
        ? []
        : [expressSummary, bareSummary].flatMap((reference) =>
            reference === undefined ? [] : [ratioOf(appClosed, reference)],
          );
    const finishedAt = new Date();
    const file = writeResults(
      {
        format: 'slipway-bench/1',
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        command: 'npm run bench',
        settings,
        targets: TARGETS,
        machine: machine(version),
        scenarios: Object.fromEntries(
          rows.map(({ summary, judgement }) => [
            summary.row,
            {
              description: descriptions.get(summary.row) ?? '',
              summary,
              judgement: judgement ?? null,
              runs: records.filter((record) => record.row === summary.row),
            },
          ]),
        ),
        ratios,
      },
      startedAt,
    );
    const misses = formatMisses(judgements);
    report = [
      `${settings.runs} runs per scenario (soak: one), medians over runs; ${settings.scenarios.join(', ')}`,
      '',
      formatTable(rows),
      '',
      ...ratios.map(formatRatio),
      ...invoiceLines(records),
      misses.length === 0
        ? `every target met (${judgements.length} judged)`
        : `targets missed:\n  ${misses.join('\n  ')}`,
      `the generator (Vegeta and this process) shares this machine's ${os.cpus().length} CPUs with the targets: compare the rows, not the absolute numbers`,
      `results: ${shown(file)}; compare with the baseline: npm run bench:check`,
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
