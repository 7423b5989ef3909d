import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { configVariables } from '@slipway/app/config';
import { SLO_ANALYSIS_QUERIES, forCanary } from '@slipway/monitoring/slo';
import { adminPasswordFile, LOCAL_ADMIN_EMAIL, LOCAL_HOST, localPaths, localPlatform } from '../../platform/local.js';
import { repoRoot } from '../../platform/paths.js';
import { freePort } from '../../platform/ports.js';
import { isAlive, stopProcessGroup } from '../../platform/processes.js';
import type { Progress } from '../../platform/progress.js';
import { applySplit, type NginxService, type UpstreamServer } from '../../platform/services/nginx.js';
import { LOCAL_STORE_CREDENTIALS } from '../../platform/services/object-store.js';
import {
  EXTRA_JOBS,
  LOCAL_NAMESPACE,
  type PrometheusService,
  writeAppTargets,
  writeJobTargets,
} from '../../platform/services/prometheus.js';
import { isRecordedAlive, readState } from '../../platform/supervisor.js';
import { run } from '../exec.js';
import { EXIT, ReleaseError, type ExitCode } from '../errors.js';
import { GATE_SCENARIO, type AnalysisGate, type ReleasePlan } from '../plan.js';
import { SOURCE_DIGEST } from '../release-record.js';
import type { AppServiceDefinition } from '../../platform/services/app.js';
import type { GateResult, ReleaseEvidence, ReleaseRecord, StageRecord, VersionSeries } from '../release-record.js';
import { evidenceDir } from '../images.js';
import { verifyImage } from '../verify.js';
import { runForExit, startContainer } from '../container.js';
import { ArgoMetrics, CONTROLLER_NAMESPACE, type AnalysisPhase } from './argo-metrics.js';
import { type ReleaseProfile, scaledPauses } from './profile.js';
import {
  claimRelease,
  readRecord,
  readRunning,
  readStable,
  releaseId,
  releaseLock,
  type RunningRelease,
  saveRecord,
  saveStable,
  type StableVersion,
  takeControl,
  updateRunning,
} from './store.js';
import { ALLOW_BREAKING_FLAG, checkMigrations, migrationEnvironment } from './migrations.js';
import { releaseContainerPrefix } from './shutdown.js';
import { BackgroundTraffic } from './traffic.js';

/** How long the executor's Argo Rollouts metrics outlive the verdict: two local scrape intervals and a margin. */
const ARGO_LINGER_MS = 5_000;

/** The pod name of the platform's own app in Prometheus (services/prometheus.ts gives it the source hash). */
const SOURCE_POD = 'erp-api-source-0';

export interface DeployOptions {
  /** `registry/repository@sha256:…`. */
  readonly reference: string;
  readonly scope: string;
  readonly plan: ReleasePlan;
  readonly profile: ReleaseProfile;
  readonly publicKey: string;
  readonly mainRef: string;
  readonly env: NodeJS.ProcessEnv;
  readonly progress: Progress;
  /** Applies migrations that break the stable version instead of refusing them; the record keeps that it did. */
  readonly allowBreakingMigrations?: boolean;
}

/** Why a release stops before 100 %: the reason goes into the record as it is. */
class ReleaseFailed extends Error {
  constructor(
    readonly reason: string,
    readonly refused = false,
  ) {
    super(reason);
  }
}

const podTemplateHash = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 10);

/** The local platform's pieces the executor drives, from the same definitions `npm start` runs. */
function platformParts(env: NodeJS.ProcessEnv, scope: string) {
  const services = localPlatform(env, scope);
  const nginx = services.find((s) => s.name === 'nginx') as NginxService | undefined;
  const prometheus = services.find((s) => s.name === 'prometheus') as PrometheusService | undefined;
  const app = services.find((s): s is AppServiceDefinition => s.name === 'app');
  const state = readState(localPaths(scope).stateFile);
  if (!nginx || !prometheus || !app || !state || !isAlive(state.supervisorPid)) {
    throw new ReleaseError(
      `the local platform (scope ${scope}) is not running`,
      'start it first: npm start (with the same SLIPWAY_* port variables as this command)',
      EXIT.missing,
    );
  }
  return { nginx, prometheus, app };
}

/**
 * Stops the app `npm start` runs from source once a promoted container serves in its place: nginx has drained it, and
 * its supervisor, which reads the saved stable version, takes the exit for a retirement rather than restarting it.
 */
async function stopSourceApp(scope: string, progress: Progress): Promise<void> {
  const source = readState(localPaths(scope).stateFile)?.services.find((service) => service.name === 'app');
  if (source === undefined || !isRecordedAlive(source)) return;
  const { forced } = await stopProcessGroup(source.pid, 'SIGTERM', 15_000);
  progress.ok(
    `the previous stable, the platform's own app (pid ${String(source.pid)}), drained and stopped${forced ? ' (killed after 15 s)' : ''}`,
  );
}

/**
 * The canary's environment: the variables the app's config schema reads (app/src/config.ts, the source infra's pod
 * environment is split from), valued as the platform's app is, plus its own address. Refuses when one it requires
 * is missing.
 */
export function canaryEnvironment(appEnv: Readonly<Record<string, string>>, port: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of configVariables) {
    const value = appEnv[variable.name];
    if (value !== undefined) env[variable.name] = value;
  }
  const missing = configVariables.filter(
    (v) => v.required && env[v.name] === undefined && !(v.name === 'JWT_SECRET' && env.JWT_SECRETS !== undefined),
  );
  if (missing.length > 0) {
    throw new ReleaseError(
      `the canary's environment lacks what the app requires: ${missing.map((v) => v.name).join(', ')}`,
      'start the platform with npm start, which makes them',
      EXIT.failed,
    );
  }
  // the image's own NODE_ENV (production), as the pods run it
  return { ...env, NODE_ENV: 'production', HOST: LOCAL_HOST, PORT: String(port) };
}

async function answers(url: string, timeoutMs = 1_000): Promise<number> {
  return fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    .then(async (response) => {
      await response.arrayBuffer();
      return response.status;
    })
    .catch(() => 0);
}

async function containerExit(name: string): Promise<string> {
  const inspected = await run('podman', ['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', name]);
  return inspected.code === 0 ? inspected.stdout.trim() : 'gone';
}

/** One Prometheus instant query: the first sample's value, or undefined when the result is empty. */
async function instant(prometheusUrl: string, query: string): Promise<number | undefined> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`, {
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await response.json()) as {
    status: string;
    error?: string;
    data?: { result: { value: [number, string] }[] };
  };
  if (body.status !== 'success')
    throw new Error(`Prometheus refused ${query}: ${body.error ?? String(response.status)}`);
  const value = body.data?.result[0]?.value[1];
  return value === undefined ? undefined : Number(value);
}

interface Versions {
  readonly canary: VersionSeries & { readonly address: string };
  readonly stable: StableVersion;
}

/** The plan's SLO query on the canary's own series, compared with the same query on the stable's. */
async function sloGate(
  prometheusUrl: string,
  sli: 'availability' | 'latency',
  versions: Versions,
): Promise<GateResult> {
  const startedAt = new Date().toISOString();
  const query = SLO_ANALYSIS_QUERIES[sli];
  let canary: number | undefined;
  // the canary's first scrapes may still be missing; Argo would count an empty result inconclusive
  for (let attempt = 0; attempt < 10 && canary === undefined; attempt += 1) {
    canary = await instant(prometheusUrl, forCanary(query, LOCAL_NAMESPACE, versions.canary.podTemplateHash));
    if (canary === undefined || Number.isNaN(canary)) {
      canary = undefined;
      await sleep(1_000);
    }
  }
  const stable = await instant(prometheusUrl, forCanary(query, LOCAL_NAMESPACE, versions.stable.podTemplateHash));
  const numbers: Record<string, number> = { threshold: query.threshold };
  if (canary !== undefined) numbers.canaryGoodRatio = canary;
  if (stable !== undefined && !Number.isNaN(stable)) numbers.stableGoodRatio = stable;
  const finishedAt = new Date().toISOString();
  if (canary === undefined) {
    return {
      kind: 'slo',
      name: sli,
      verdict: 'inconclusive',
      startedAt,
      finishedAt,
      numbers,
      detail: `no canary series for ${sli} in Prometheus`,
    };
  }
  const passed = query.comparison === 'atLeast' ? canary >= query.threshold : canary <= query.threshold;
  const stableText =
    numbers.stableGoodRatio === undefined ? 'no stable series' : `stable ${numbers.stableGoodRatio.toFixed(4)}`;
  return {
    kind: 'slo',
    name: sli,
    verdict: passed ? 'passed' : 'failed',
    startedAt,
    finishedAt,
    numbers,
    detail: `canary ${sli} good ratio ${canary.toFixed(4)} ${passed ? '≥' : '<'} ${String(query.threshold)} (${stableText})`,
  };
}

/** The verdict line the gate prints last (`PASSED|FAILED|INCONCLUSIVE (exit n): reason`), else its last line. */
function gateReason(output: string): string {
  const lines = output.trim().split('\n');
  return lines.findLast((line) => /^(PASS|FAIL|INCONCLUSIVE)\w* \(exit \d\)/.test(line)) ?? lines.at(-1) ?? '';
}

/**
 * The load gate (load/src/cli.ts canary-gate) against the canary, with the stable's address to compare its p99
 * with; without `stable`, a warm-up run whose verdict is not used.
 */
function loadGate(
  canaryAddress: string,
  stableAddress: string | undefined,
  profile: ReleaseProfile,
  scope: string,
  env: NodeJS.ProcessEnv,
  cancel: AbortSignal,
): Promise<GateResult> {
  const startedAt = new Date().toISOString();
  const password = readFileSync(adminPasswordFile(scope), 'utf8').trim();
  const summaryDir = mkdtempSync(join(tmpdir(), 'slipway-gate-'));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, GATE_SCENARIO.entryPath), GATE_SCENARIO.scenario],
    {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: env.PATH ?? '',
        ...profile.gateEnv,
        [GATE_SCENARIO.targetUrlVariable]: `http://${canaryAddress}`,
        ...(stableAddress === undefined ? {} : { [GATE_SCENARIO.stableUrlVariable]: `http://${stableAddress}` }),
        [GATE_SCENARIO.timeoutVariable]: String(GATE_SCENARIO.timeoutSeconds),
        SEED_EMAIL: LOCAL_ADMIN_EMAIL,
        SEED_PASSWORD: password,
        SUMMARY_DIR: summaryDir,
      },
    },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const onCancel = (): void => {
    if (child.pid !== undefined) void stopProcessGroup(child.pid, 'SIGTERM', 2_000);
  };
  cancel.addEventListener('abort', onCancel, { once: true });
  return new Promise((resolve) => {
    child.once('close', (code) => {
      cancel.removeEventListener('abort', onCancel);
      const verdict =
        code === GATE_SCENARIO.exitCodes.passed
          ? 'passed'
          : code === GATE_SCENARIO.exitCodes.thresholdsFailed
            ? 'failed'
            : 'inconclusive';
      const numbers: Record<string, number> = { exitCode: code ?? -1 };
      try {
        const summary = JSON.parse(readFileSync(join(summaryDir, `${GATE_SCENARIO.scenario}.json`), 'utf8')) as {
          canary?: { p99Ms?: number; requests?: number; errorRate?: number };
          stable?: { p99Ms?: number } | null;
        };
        if (summary.canary?.p99Ms !== undefined) numbers.canaryP99Ms = summary.canary.p99Ms;
        if (summary.canary?.requests !== undefined) numbers.requests = summary.canary.requests;
        if (summary.canary?.errorRate !== undefined) numbers.canaryErrorRatio = summary.canary.errorRate;
        if (summary.stable?.p99Ms !== undefined) numbers.stableP99Ms = summary.stable.p99Ms;
      } catch {
        // nothing was measured (unreachable, not seeded): the reason says why
      }
      rmSync(summaryDir, { recursive: true, force: true });
      resolve({
        kind: 'load',
        name: 'gate',
        verdict,
        startedAt,
        finishedAt: new Date().toISOString(),
        numbers,
        detail: gateReason(output),
      });
    });
  });
}

/**
 * What the release shipped, from the files build and scan wrote for this digest (.local/release/evidence/); absent
 * when the image was built elsewhere. The signer is the key verify checked the signature and attestations with.
 */
function localEvidence(reference: string, digest: string, publicKey: string): ReleaseEvidence | undefined {
  const repository = reference.slice(reference.indexOf('/') + 1, reference.indexOf('@'));
  const dir = evidenceDir(repository, digest);
  try {
    const bom = JSON.parse(readFileSync(join(dir, 'sbom.cdx.json'), 'utf8')) as { components?: unknown[] };
    const scan = JSON.parse(readFileSync(join(dir, 'scan-predicate.json'), 'utf8')) as {
      verdict: string;
      findings: readonly { id?: string; target?: string; disposition?: string; exception?: string }[];
    };
    return {
      image: reference,
      digest,
      signerIdentity: publicKey,
      sbom: { format: 'CycloneDX', packages: bom.components?.length ?? 0 },
      scan: {
        verdict: scan.verdict,
        findings: scan.findings.length,
        exceptions: scan.findings
          .filter((finding) => finding.disposition === 'excepted')
          .map((finding) => `${finding.id ?? '?'} on ${finding.target ?? '?'} (exception ${finding.exception ?? '?'})`),
      },
    };
  } catch {
    return undefined;
  }
}

/** The live state of one release while its executor runs. */
class Release {
  record: ReleaseRecord;
  readonly stages: StageRecord[] = [];
  private readonly began = Date.now();
  trafficStartedAt: number | undefined;
  splitChanges: { from: number; to: number }[] = [];

  constructor(
    private readonly scope: string,
    record: ReleaseRecord,
  ) {
    this.record = record;
    saveRecord(scope, record);
  }

  update(change: Partial<ReleaseRecord>): void {
    this.record = { ...this.record, ...change, stages: [...this.stages] };
    saveRecord(this.scope, this.record);
  }

  elapsed(): number {
    return (Date.now() - this.began) / 1000;
  }
}

/** Sets which versions Prometheus scrapes, with the pod and hash labels the SLO queries select. */
function scrape(
  prometheus: PrometheusService,
  versions: readonly { address: string; pod: string; podTemplateHash: string }[],
): void {
  writeAppTargets(prometheus.targetsDir, versions);
}

const splitOf = (stable: StableVersion, canaryAddress: string | undefined, weight: number): UpstreamServer[] =>
  canaryAddress === undefined || weight === 0
    ? [{ address: stable.address, weight: 100 }]
    : weight >= 100
      ? [{ address: canaryAddress, weight: 100 }]
      : [
          { address: stable.address, weight: 100 - weight },
          { address: canaryAddress, weight },
        ];

/** Puts every request on the stable version, stops the canary and clears the lock: what abort and the guard do. */
export async function restoreStable(scope: string, reason: string): Promise<ReleaseRecord | undefined> {
  const running = readRunning(scope);
  if (running === undefined) return undefined;
  await applySplit(running.nginxDir, running.frontDoorUrl, splitOf(running.stable, undefined, 0));
  writeAppTargets(running.prometheusTargetsDir, [running.stable]);
  await run('podman', ['--runtime', 'runc', 'stop', '--time', '5', running.canaryContainer]);
  const record = readRecord(scope, running.id);
  releaseLock(scope);
  if (record?.outcome !== 'running') return record;
  const finished: ReleaseRecord = { ...record, outcome: 'rolled-back', reason, finishedAt: new Date().toISOString() };
  saveRecord(scope, finished);
  return finished;
}

/**
 * `npm run release -- deploy <digest>`: verify, migrate, start the canary, then the plan's stages under the profile,
 * with background traffic through the front door; any failed gate puts all traffic back on stable at once.
 */
export async function deploy(options: DeployOptions): Promise<{ code: ExitCode; record: ReleaseRecord }> {
  const { scope, plan, profile, progress, env } = options;
  const { nginx, prometheus, app } = platformParts(env, scope);
  const digest = /@(sha256:[0-9a-f]{64})$/.exec(options.reference)?.[1];
  if (digest === undefined) {
    throw new ReleaseError(
      `${options.reference} is not an image reference by digest`,
      'deploy <registry>/<repository>@sha256:<digest>, as npm run release -- sign printed it',
      EXIT.usage,
    );
  }
  const source: StableVersion = {
    address: `${app.host}:${String(app.port)}`,
    pod: SOURCE_POD,
    podTemplateHash: 'source',
  };
  const recorded = readStable(scope);
  // a promoted container does not outlive a restart of the machine or a podman stop: then the platform's app serves
  const recordedRuns =
    recorded?.container !== undefined && (await containerExit(recorded.container)).startsWith('running');
  if (recorded !== undefined && !recordedRuns)
    progress.warn(
      `the last promoted version (${recorded.container ?? '?'}) no longer runs: stable is the platform's app`,
    );
  const stable: StableVersion = recorded !== undefined && recordedRuns ? recorded : source;
  const hash = podTemplateHash(digest);
  const canaryPort = await freePort(LOCAL_HOST);
  const canaryAddress = `${LOCAL_HOST}:${String(canaryPort)}`;
  const id = releaseId(new Date(), digest);
  const containerName = `${releaseContainerPrefix(scope)}${hash}`;
  const nginxDir = nginx.configDir();
  const running: RunningRelease = {
    id,
    executorPid: process.pid,
    canaryContainer: containerName,
    nginxDir,
    frontDoorUrl: nginx.url,
    prometheusTargetsDir: prometheus.targetsDir,
    stable,
  };
  claimRelease(scope, running);
  const versions: Versions = {
    canary: { digest, namespace: LOCAL_NAMESPACE, podTemplateHash: hash, address: canaryAddress },
    stable,
  };
  const release = new Release(scope, {
    schemaVersion: 1,
    id,
    plan: plan.name,
    profile: profile.name,
    canary: { digest, namespace: LOCAL_NAMESPACE, podTemplateHash: hash },
    stable: {
      digest: stable.digest ?? SOURCE_DIGEST,
      namespace: LOCAL_NAMESPACE,
      podTemplateHash: stable.podTemplateHash,
    },
    startedAt: new Date().toISOString(),
    outcome: 'running',
    stages: [],
    timings: {},
    prometheusUrl: prometheus.url,
  });
  progress.step(`release ${id}: ${options.reference} (plan ${plan.name}, profile ${profile.name})`);
  const guard = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./guard.ts', import.meta.url)), scope, String(process.pid)],
    {
      cwd: repoRoot,
      detached: true,
      stdio: 'ignore',
      env: { ...env, SLIPWAY_SCOPE: scope },
    },
  );
  guard.unref();
  updateRunning(scope, { ...running, ...(guard.pid === undefined ? {} : { guardPid: guard.pid }) });

  const argo = new ArgoMetrics(LOCAL_NAMESPACE, 'erp-api');
  const metricsAddress = await argo.listen(LOCAL_HOST);
  writeJobTargets(prometheus.targetsDir, EXTRA_JOBS[0], [
    { address: metricsAddress, labels: { namespace: CONTROLLER_NAMESPACE } },
  ]);
  const traffic = new BackgroundTraffic(nginx.url, profile.trafficRate);
  let canaryStarted = false;
  // set from signal handlers and the control file, read by the stage loop
  const flags: { interrupted?: string; promoteNow: boolean } = { promoteNow: false };
  const onSignal = (signal: NodeJS.Signals): void => {
    flags.interrupted = `the executor got ${signal}: release aborted`;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const check = async (): Promise<void> => {
    if (flags.interrupted !== undefined) throw new ReleaseFailed(flags.interrupted);
    const control = takeControl(scope);
    if (control === 'abort') throw new ReleaseFailed('aborted by an operator (npm run release -- abort)');
    if (control === 'promote') flags.promoteNow = true;
    if (canaryStarted && (await answers(`http://${canaryAddress}/health/live`)) === 0) {
      const again = await answers(`http://${canaryAddress}/health/live`, 2_000);
      if (again === 0)
        throw new ReleaseFailed(`the canary stopped answering (container ${await containerExit(containerName)})`);
    }
  };

  try {
    // 1. nothing runs or takes traffic before verify passes
    progress.step('verify: signature, attestations, scan and provenance');
    const verification = await verifyImage({
      reference: options.reference,
      expectedDigest: digest,
      signer: { kind: 'key', publicKey: options.publicKey },
      root: repoRoot,
      mainRef: options.mainRef,
    });
    if (!verification.ok) {
      const failed = verification.checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.detail}`);
      throw new ReleaseFailed(`verify refused ${digest}: ${failed.join('; ')}`, true);
    }
    const evidence = localEvidence(options.reference, digest, options.publicKey);
    if (evidence === undefined)
      progress.warn(`no SBOM and scan files of ${digest} in this checkout: the record carries no evidence`);
    else release.update({ evidence });
    progress.ok('verify: pass');

    // the canary and stable share the database: a migration stable cannot run against is refused before anything runs
    progress.step('migrations: which are pending, and whether the stable version survives them');
    const migrations = await checkMigrations(
      options.reference,
      migrationEnvironment(app, canaryEnvironment(app.env ?? {}, canaryPort)),
      options.allowBreakingMigrations === true,
    );
    if (migrations.check !== undefined) release.update({ migrations: migrations.check });
    if (migrations.refusal !== undefined) throw new ReleaseFailed(migrations.refusal, true);
    if (migrations.check?.overridden === true)
      progress.warn(
        `migrations: applying ${String(migrations.check.breaking.length)} statement(s) that break the stable version (${ALLOW_BREAKING_FLAG})`,
      );
    else
      progress.ok(
        `migrations: ${String(migrations.check?.pending.length ?? 0)} pending, none breaks the stable version`,
      );
    const migrateFlags = migrations.check?.overridden === true ? ['--allow-destructive'] : [];

    // 2. backup, then migrations, before the canary shares the database with stable
    const appEnv = canaryEnvironment(app.env ?? {}, canaryPort);
    // as the database owner (it reads every table), into the platform's object store with its keys
    const backupEnv = {
      ...appEnv,
      ...(app.migration === undefined ? {} : { DATABASE_URL: app.migration.ownerDatabaseUrl }),
      ...LOCAL_STORE_CREDENTIALS,
    };
    const backup = await runForExit({ reference: options.reference, env: backupEnv, args: ['backup'] });
    if (backup.code !== 0)
      throw new ReleaseFailed(
        `backup before migrating failed: the image's backup command exited ${String(backup.code)} (${backup.output.trim().split('\n').at(-1) ?? ''}); nothing was migrated`,
      );
    progress.ok(`backup taken: ${/^backup\s+(\S+)/m.exec(backup.output)?.[1] ?? 'see the backup command output'}`);
    // as the database owner, who also gives the app's least-privilege role its password, as npm start migrates
    const migrationEnv = migrationEnvironment(app, appEnv);
    const migrate = await runForExit({
      reference: options.reference,
      env: migrationEnv,
      args: ['migrate', 'up', ...migrateFlags],
    });
    if (migrate.code !== 0)
      throw new ReleaseFailed(
        `migrations failed (exit ${String(migrate.code)}): ${migrate.output.trim().split('\n').slice(-3).join(' ')}`,
      );
    progress.ok('migrations applied');

    // 3. the canary, as the pods run: uid 10001, read-only root, no capabilities
    await startContainer({ reference: options.reference, env: appEnv, name: containerName });
    canaryStarted = true;
    const readyBy = Date.now() + profile.readySeconds * 1000;
    while ((await answers(`http://${canaryAddress}/health/ready`)) !== 200) {
      if (flags.interrupted !== undefined) throw new ReleaseFailed(flags.interrupted);
      const state = await containerExit(containerName);
      if (!state.startsWith('running'))
        throw new ReleaseFailed(`the canary exited before it was ready (container ${state})`);
      if (Date.now() > readyBy)
        throw new ReleaseFailed(
          `the canary never became ready: /health/ready did not answer 200 within ${String(profile.readySeconds)} s`,
        );
      await sleep(250);
    }
    progress.ok(`canary ready at http://${canaryAddress}`);
    // a new process is cold (JIT, connection pools): in the cluster minutes at a small weight warm it before the
    // first analysis; a rehearsal's short pauses do not, so the gate's own mix runs once first, without a verdict
    progress.step('warm-up: the load gate scenario once against the canary (no verdict)');
    await loadGate(canaryAddress, undefined, profile, scope, env, new AbortController().signal);
    await check();
    scrape(prometheus, [stable, { address: canaryAddress, pod: `erp-api-${hash}-0`, podTemplateHash: hash }]);
    traffic.start();

    // 4. the stages
    const pauses = scaledPauses(plan, profile);
    for (const [index, stage] of plan.stages.entries()) {
      const startedAt = new Date().toISOString();
      const before = Date.now();
      const { appliedAt } = await applySplit(nginxDir, nginx.url, splitOf(stable, canaryAddress, stage.weight));
      release.splitChanges.push({ from: before, to: appliedAt.getTime() + 1_000 });
      release.trafficStartedAt ??= appliedAt.getTime();
      const stageRecord: StageRecord = {
        index: index + 1,
        weight: stage.weight,
        startedAt,
        weightAppliedAt: appliedAt.toISOString(),
        gates: [],
      };
      release.stages.push(stageRecord);
      release.update({});
      progress.step(
        `stage ${String(index + 1)}/${String(plan.stages.length)}: ${String(stage.weight)} % to the canary, pause ${String(pauses[index] ?? 0)} s`,
      );
      const pauseEnd = Date.now() + (pauses[index] ?? 0) * 1000;
      while (Date.now() < pauseEnd && !flags.promoteNow) {
        await check();
        await sleep(500);
      }
      if (stage.gates.length > 0 && !flags.promoteNow) {
        const run = `erp-api-${hash}-${String(index + 1)}`;
        const phases: Record<string, AnalysisPhase> = Object.fromEntries(
          stage.gates.map((g) => [gateName(g), 'Running']),
        );
        argo.setAnalysisRun(run, 'Running', phases);
        const gates = await runGates(stage.gates, versions, prometheus.url, profile, scope, env, check);
        for (const gate of gates)
          phases[gate.name] =
            gate.verdict === 'passed' ? 'Successful' : gate.verdict === 'failed' ? 'Failed' : 'Inconclusive';
        const failed = gates.find((g) => g.verdict !== 'passed');
        argo.setAnalysisRun(
          run,
          failed === undefined ? 'Successful' : failed.verdict === 'failed' ? 'Failed' : 'Inconclusive',
          phases,
        );
        release.stages[index] = { ...stageRecord, gates, finishedAt: new Date().toISOString() };
        release.update({});
        for (const gate of gates)
          progress[gate.verdict === 'passed' ? 'ok' : 'warn'](
            `${gate.kind} ${gate.name}: ${gate.verdict}: ${gate.detail}`,
          );
        if (failed !== undefined)
          throw new ReleaseFailed(
            `stage ${String(index + 1)} (${String(stage.weight)} %): ${failed.kind} gate ${failed.name} ${failed.verdict}: ${failed.detail}`,
          );
      } else {
        release.stages[index] = { ...stageRecord, finishedAt: new Date().toISOString() };
        release.update({});
      }
      await check();
    }
    if (flags.promoteNow) {
      const before = Date.now();
      const { appliedAt } = await applySplit(nginxDir, nginx.url, splitOf(stable, canaryAddress, 100));
      release.splitChanges.push({ from: before, to: appliedAt.getTime() + 1_000 });
    }

    // 5. promoted: the canary is stable; the old version drains (nginx finished its requests on reload) and stops
    const promoted: StableVersion = {
      address: canaryAddress,
      pod: `erp-api-${hash}-0`,
      podTemplateHash: hash,
      digest,
      container: containerName,
    };
    saveStable(scope, promoted);
    scrape(prometheus, [promoted]);
    if (stable.container !== undefined)
      await run('podman', ['--runtime', 'runc', 'stop', '--time', '10', stable.container]);
    else await stopSourceApp(scope, progress);
    argo.setRollout('Healthy');
    await traffic.stop();
    release.update({
      outcome: 'promoted',
      finishedAt: new Date().toISOString(),
      timings: timings(release, traffic),
    });
    progress.ok(`release ${id} promoted in ${release.elapsed().toFixed(1)} s`);
    return { code: EXIT.ok, record: release.record };
  } catch (error) {
    if (!(error instanceof ReleaseFailed)) {
      await rollBack(release, error instanceof Error ? error.message : String(error));
      throw error;
    }
    const failedAt = Date.now();
    if (error.refused) {
      await traffic.stop();
      release.update({
        outcome: 'refused',
        reason: error.reason,
        finishedAt: new Date().toISOString(),
        timings: { totalSeconds: release.elapsed() },
      });
      progress.warn(`release ${id} refused: ${error.reason}`);
      return { code: EXIT.refused, record: release.record };
    }
    argo.setRollout('Degraded');
    const restoredAt = await rollBack(release, error.reason);
    await traffic.stop();
    release.update({
      outcome: 'rolled-back',
      reason: error.reason,
      finishedAt: new Date().toISOString(),
      timings: {
        ...timings(release, traffic),
        ...(release.trafficStartedAt === undefined
          ? {}
          : { failedVerdictAfterTrafficSeconds: (failedAt - release.trafficStartedAt) / 1000 }),
        ...(restoredAt === undefined ? {} : { rollbackSeconds: (restoredAt - failedAt) / 1000 }),
      },
    });
    progress.warn(`release ${id} rolled back: ${error.reason}`);
    return { code: EXIT.refused, record: release.record };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // two more scrapes, so Prometheus keeps the verdict's phases (the CanaryAnalysisFailed alert reads them)
    await sleep(ARGO_LINGER_MS);
    await argo.close();
    writeJobTargets(prometheus.targetsDir, EXTRA_JOBS[0], []);
    releaseLock(scope);
    if (guard.pid !== undefined && isAlive(guard.pid)) process.kill(guard.pid, 'SIGTERM');
  }

  async function rollBack(current: Release, reason: string): Promise<number | undefined> {
    let restoredAt: number | undefined;
    if (current.trafficStartedAt !== undefined) {
      const before = Date.now();
      const { appliedAt } = await applySplit(nginxDir, nginx.url, splitOf(stable, undefined, 0));
      current.splitChanges.push({ from: before, to: appliedAt.getTime() + 1_000 });
      restoredAt = appliedAt.getTime();
    }
    scrape(prometheus, [stable]);
    if (canaryStarted) await run('podman', ['--runtime', 'runc', 'stop', '--time', '5', containerName]);
    progress.warn(`all traffic on stable (${stable.address}); canary stopped: ${reason}`);
    return restoredAt;
  }
}

function gateName(gate: AnalysisGate): string {
  return gate.kind === 'load' ? 'gate' : gate.slo;
}

/** Runs a stage's gates side by side; the first failure cancels the rest (no need to wait for a verdict already lost). */
async function runGates(
  gates: readonly AnalysisGate[],
  versions: Versions,
  prometheusUrl: string,
  profile: ReleaseProfile,
  scope: string,
  env: NodeJS.ProcessEnv,
  check: () => Promise<void>,
): Promise<GateResult[]> {
  const cancel = new AbortController();
  const results: GateResult[] = [];
  const pending = gates.map(async (gate) => {
    const result =
      gate.kind === 'load'
        ? await loadGate(versions.canary.address, versions.stable.address, profile, scope, env, cancel.signal)
        : await sloGate(prometheusUrl, gate.slo, versions);
    results.push(result);
    if (result.verdict !== 'passed') cancel.abort();
  });
  const state = { settled: false };
  const all = Promise.all(pending).finally(() => (state.settled = true));
  // the canary may crash or an operator abort while the gates run
  while (!state.settled && !cancel.signal.aborted) {
    try {
      await check();
    } catch (error) {
      cancel.abort();
      await all;
      throw error;
    }
    await Promise.race([all, sleep(500)]);
  }
  if (!state.settled) await Promise.race([all, sleep(3_000)]);
  return results;
}

function timings(release: Release, traffic: BackgroundTraffic): ReleaseRecord['timings'] {
  const dropped = release.splitChanges.reduce((sum, change) => sum + traffic.failedBetween(change.from, change.to), 0);
  return { totalSeconds: release.elapsed(), droppedRequests: dropped };
}
