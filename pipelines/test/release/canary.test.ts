import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, relative } from 'node:path';

import { Client } from 'pg';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { removeDirectory } from '../../src/platform/accounts.js';
import { latestBackupId } from '@slipway/app/backup/catalogue';
import { BackupStore } from '@slipway/app/backup/store';
import { ALL_PORT_VARIABLES, LOCAL_BACKUP_BUCKET, localPaths, localPlatform } from '../../src/platform/local.js';
import { freePort } from '../../src/platform/ports.js';
import { LOCAL_STORE_CREDENTIALS } from '../../src/platform/services/object-store.js';
import { localDir, repoRoot } from '../../src/platform/paths.js';
import { freePlatformPorts } from '../platform-env.js';
import { silentProgress, type Progress } from '../../src/platform/progress.js';
import { notifications } from '../../src/platform/services/alert-receiver.js';
import type { AppServiceDefinition } from '../../src/platform/services/app.js';
import { appliedSplit } from '../../src/platform/services/nginx.js';
import { previewDashboards } from '../../src/preview/dashboards.js';
import { Supervisor } from '../../src/platform/supervisor.js';
import { buildBase } from '../../src/release/base.js';
import { deploy, type DeployOptions } from '../../src/release/canary/executor.js';
import { PROFILES } from '../../src/release/canary/profile.js';
import { releaseContainerPrefix, stopPlatform } from '../../src/release/canary/shutdown.js';
import { listRecords, readRecord, readRunning, readStable } from '../../src/release/canary/store.js';
import { ensureSigningKey, type SigningKey } from '../../src/release/cosign.js';
import { run, runOk } from '../../src/release/exec.js';
import { appImage, buildImage, evidenceDir, type BuiltImage, type ImageDefinition } from '../../src/release/images.js';
import { RELEASE_PLAN } from '../../src/release/plan.js';
import { pushImage } from '../../src/release/registry.js';
import type { ReleaseRecord } from '../../src/release/release-record.js';
import { signAndAttest } from '../../src/release/sign.js';
import { waitUntil } from '../../src/testing/wait.js';
import { fixturesDir } from './support.js';

// Real podman, buildah, cosign, nginx, Prometheus: the first app image build takes minutes on two cores.
const SLOW = 15 * 60_000;
const HOST = '127.0.0.1';
const FAULTS = ['errors', 'slow', 'never-ready', 'crash'] as const;
type Fault = (typeof FAULTS)[number];

const scope = `canary-${String(process.pid)}`;
const fixtureDir = join(localDir, 'test', `run-${String(process.pid)}-canary-fixtures`);
let env: NodeJS.ProcessEnv;
let supervisor: Supervisor;
let key: SigningKey;
let registry: string;
let app: BuiltImage;
let goodReference: string;
const faultReference: Partial<Record<Fault, string>> = {};
let unsignedReference: string;
let breakingMigrationReference: string;
const durations: string[] = [];

const lines: string[] = [];
const progress: Progress = {
  step: (m) => lines.push(`▸ ${m}`),
  ok: (m) => lines.push(`✓ ${m}`),
  warn: (m) => lines.push(`! ${m}`),
};

/**
 * A bad release: the real erp-api image plus one small layer, test/fixtures/canary/fault.js preloaded, which
 * makes the server misbehave as `fault` says. Built, pushed and signed by the pipeline like any release.
 */
function faultImage(fault: Fault, base: BuiltImage): ImageDefinition {
  const dir = join(fixtureDir, fault);
  return {
    name: `slipway-fixtures/erp-api-${fault}`,
    dockerfile: relative(repoRoot, join(dir, 'Dockerfile')),
    versionFrom: 'app/package.json',
    sbomNodeModules: () => [],
    context: () =>
      Promise.resolve({
        key: `${fault}-${base.digest}-${createHash('sha256')
          .update(readFileSync(join(fixturesDir, 'canary', 'fault.js')))
          .digest('hex')}`,
        write: () => Promise.resolve(dir),
      }),
  };
}

async function buildFault(fault: Fault): Promise<BuiltImage> {
  const dir = join(fixtureDir, fault);
  mkdirSync(dir, { recursive: true });
  cpSync(join(fixturesDir, 'canary', 'fault.js'), join(dir, 'fault.js'));
  writeFileSync(
    join(dir, 'Dockerfile'),
    [
      'ARG BASE_IMAGE',
      `FROM localhost/${app.name}:${app.tag}`,
      'COPY fault.js /srv/fault/fault.js',
      `ENV FAULT=${fault} CRASH_AFTER_MS=1000 NODE_OPTIONS="--require /srv/fault/fault.js"`,
      '',
    ].join('\n'),
  );
  const base = await buildBase(silentProgress);
  return buildOnce(() => buildImage(faultImage(fault, app), base, silentProgress));
}

/** A migration the stable version cannot run against while it shares the database with the canary. */
const BREAKING_MIGRATION = 'ALTER TABLE products RENAME COLUMN sku TO stock_code;\n';

/** A release whose image carries one more migration, a breaking one: the real app image plus that file. */
async function buildBreakingMigration(): Promise<BuiltImage> {
  const dir = join(fixtureDir, 'breaking-migration');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '0099_rename_sku.sql'), BREAKING_MIGRATION);
  writeFileSync(
    join(dir, 'Dockerfile'),
    [
      'ARG BASE_IMAGE',
      `FROM localhost/${app.name}:${app.tag}`,
      'COPY 0099_rename_sku.sql /srv/erp-api/app/migrations/0099_rename_sku.sql',
      '',
    ].join('\n'),
  );
  const base = await buildBase(silentProgress);
  const definition: ImageDefinition = {
    name: 'slipway-fixtures/erp-api-breaking-migration',
    dockerfile: relative(repoRoot, join(dir, 'Dockerfile')),
    versionFrom: 'app/package.json',
    sbomNodeModules: () => [],
    context: () =>
      Promise.resolve({
        key: `breaking-migration-${app.digest}-${createHash('sha256').update(BREAKING_MIGRATION).digest('hex')}`,
        write: () => Promise.resolve(dir),
      }),
  };
  return buildOnce(() => buildImage(definition, base, silentProgress));
}

/**
 * test/release/pipeline.test.ts may build the same app image in another worker at the same moment; the one that
 * finishes second finds the cache filled under it and fails, and its retry takes the finished build.
 */
async function buildOnce(build: () => Promise<BuiltImage>): Promise<BuiltImage> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await build();
    } catch (error) {
      if (attempt === 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 15_000));
    }
  }
}

const passingScan = (digest: string) => ({
  verdict: 'pass' as const,
  scannedAt: new Date().toISOString(),
  digest,
  counts: {},
  findings: [],
});

async function sign(image: BuiltImage, target: string): Promise<string> {
  // what scan leaves beside the SBOM, for the release record's evidence
  writeFileSync(
    join(evidenceDir(image.name, image.digest), 'scan-predicate.json'),
    `${JSON.stringify(passingScan(image.digest))}\n`,
  );
  return signAndAttest(
    image,
    {
      registry,
      key,
      scan: passingScan(image.digest),
      root: repoRoot,
      repository: 'https://github.com/slipway/slipway',
      builderId: 'https://slipway.dev/builders/test',
      target,
    },
    silentProgress,
  );
}

function options(reference: string): DeployOptions {
  return {
    reference,
    scope,
    plan: RELEASE_PLAN,
    profile: PROFILES.test ?? { name: 'test', pauseFactor: 0, gateEnv: {}, readySeconds: 20, trafficRate: 20 },
    publicKey: key.publicKey,
    // the branch under test is not merged yet; its own HEAD stands for main here
    mainRef: 'HEAD',
    env,
    progress,
  };
}

async function timed(name: string, reference: string): Promise<ReleaseRecord> {
  const began = Date.now();
  lines.length = 0;
  const { record } = await deploy(options(reference));
  durations.push(
    `${name}: ${((Date.now() - began) / 1000).toFixed(1)} s (${record.outcome}, timings ${JSON.stringify(record.timings)})`,
  );
  return record;
}

/** The platform's backup store, as the image's backup command reaches it. */
function platformStore(): BackupStore {
  return new BackupStore({
    bucket: LOCAL_BACKUP_BUCKET,
    prefix: '',
    endpoint: `http://${HOST}:${env.SLIPWAY_OBJECT_STORE_PORT ?? ''}`,
    forcePathStyle: true,
    kmsKeyId: undefined,
    region: 'us-east-1',
    credentials: {
      accessKeyId: LOCAL_STORE_CREDENTIALS.AWS_ACCESS_KEY_ID,
      secretAccessKey: LOCAL_STORE_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
    },
  });
}

/** `npm run release -- <args>` in a process of its own, on this test's platform. */
function releaseCli(args: readonly string[]): ReturnType<typeof spawn> {
  return spawn(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'pipelines', 'src', 'release', 'cli.ts'), ...args],
    {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

function finished(child: ReturnType<typeof spawn>): Promise<{ code: number | null; output: string }> {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, output })));
}

/** What the running release's record says, for a wait's failure message. */
function runningState(): string {
  const running = readRunning(scope);
  if (running === undefined) return 'no release running';
  const record = readRecord(scope, running.id);
  return `release ${running.id}: ${record?.outcome ?? 'no record'}, stages ${JSON.stringify(record?.stages.map((s) => [s.weight, s.weightAppliedAt]) ?? [])}`;
}

/** Waits until the running release has moved traffic to its canary; returns its id. */
async function weightApplied(child: ReturnType<typeof spawn>): Promise<string> {
  // verify, backup, migrate and the canary's start come first; the local profile gives readiness alone 60 s
  return waitUntil(
    "the running release's first stage to move traffic to its canary",
    () => {
      const running = readRunning(scope);
      const record = running ? readRecord(scope, running.id) : undefined;
      if (running && record?.stages[0]?.weightAppliedAt !== undefined) return running.id;
      if (child.exitCode !== null) throw new Error(`the executor exited with ${String(child.exitCode)}`);
      return undefined;
    },
    { timeoutMs: 180_000, intervalMs: 200, seen: runningState },
  );
}

const frontDoor = (): string => `http://${HOST}:${env.SLIPWAY_NGINX_PORT ?? ''}`;

/** The front door sends everything to the stable version, and the canary container is gone. */
async function expectOnStable(record: ReleaseRecord): Promise<void> {
  const stable = readStable(scope);
  const split = await appliedSplit(frontDoor());
  expect(split.servers).toEqual([{ address: stable?.address ?? `${HOST}:${env.PORT ?? ''}`, weight: 100 }]);
  const container = await run('podman', [
    'container',
    'exists',
    `slipway-${scope}-canary-${record.canary.podTemplateHash}`,
  ]);
  expect(container.code, 'the canary container is still there').not.toBe(0);
  expect(readRunning(scope)).toBeUndefined();
  expect(readRecord(scope, record.id)).toEqual(record);
}

beforeAll(async () => {
  env = {
    ...process.env,
    SLIPWAY_SCOPE: scope,
    ...(await freePlatformPorts()),
  };
  // the platform's own limits (LOCAL_APP_LIMITS), as a rehearsal from the README runs: no variable of the caller's
  delete env.RATE_LIMIT_PER_MINUTE;
  delete env.TRUST_PROXY;
  registry = `${HOST}:${env.SLIPWAY_REGISTRY_PORT ?? ''}`;
  const { stateFile, logDir } = localPaths(scope);
  supervisor = new Supervisor(stateFile, logDir, silentProgress);
  for (const service of localPlatform(env, scope)) await supervisor.start(service);
  key = await ensureSigningKey();
  const base = await buildBase(silentProgress);
  app = await buildOnce(() => buildImage(appImage, base, silentProgress));
  // the fixtures start FROM the app image in buildah's storage; a cached build may have left only its OCI layout
  if ((await run('buildah', ['inspect', `localhost/${app.name}:${app.tag}`])).code !== 0) {
    await runOk(
      'skopeo',
      ['copy', '--quiet', `oci:${app.layout}:${app.tag}`, `containers-storage:localhost/${app.name}:${app.tag}`],
      'loading the app image into buildah',
    );
  }
  goodReference = await sign(app, 'slipway/erp-api');
  for (const fault of FAULTS)
    faultReference[fault] = await sign(await buildFault(fault), `slipway-fixtures/erp-api-${fault}`);
  unsignedReference = await pushImage(app, registry, 'unsigned/erp-api');
  breakingMigrationReference = await sign(
    await buildBreakingMigration(),
    'slipway-fixtures/erp-api-breaking-migration',
  );
}, SLOW);

afterAll(async () => {
  const stable = readStable(scope);
  if (stable?.container !== undefined)
    await run('podman', ['--runtime', 'runc', 'stop', '--time', '2', stable.container]);
  await supervisor.stopAll();
  const { dir } = localPaths(scope);
  removeDirectory(join(dir, 'postgres', 'data'));
  removeDirectory(join(dir, 'redis', 'data'));
  rmSync(dir, { recursive: true, force: true });
  rmSync(fixtureDir, { recursive: true, force: true });
  process.stdout.write(`canary test durations:\n  ${durations.join('\n  ')}\n`);
}, 120_000);

describe('npm run release -- deploy: the canary executor on the local platform', () => {
  it(
    'refuses an unsigned image before anything runs or any traffic moves',
    async () => {
      const before = await appliedSplit(frontDoor());
      const record = await timed('unsigned', unsignedReference);
      expect(record.outcome).toBe('refused');
      expect(record.reason).toMatch(/verify refused .*signature/);
      expect(record.stages).toEqual([]);
      expect((await appliedSplit(frontDoor())).generation).toBe(before.generation);
      await expectOnStable(record);
    },
    SLOW,
  );

  it(
    'refuses a migration that breaks the stable version sharing the database, before it migrates or moves traffic',
    async () => {
      const before = await appliedSplit(frontDoor());
      const record = await timed('breaking migration', breakingMigrationReference);
      expect(record.outcome, lines.join('\n')).toBe('refused');
      expect(record.reason).toContain(
        'migration would break the stable version, which shares the database with the canary: 0099_rename_sku.sql: "ALTER TABLE products RENAME COLUMN sku TO stock_code"',
      );
      expect(record.reason).toContain('--allow-breaking-migrations');
      expect(record.migrations).toMatchObject({ pending: ['0099_rename_sku.sql'], overridden: false });
      expect(record.migrations?.breaking).toHaveLength(1);
      expect(record.stages).toEqual([]);
      expect((await appliedSplit(frontDoor())).generation).toBe(before.generation);
      // nothing migrated: the column stable reads is still there
      const owner = localPlatform(env, scope).find((service) => service.name === 'app') as AppServiceDefinition;
      const client = new Client({ connectionString: owner.migration?.ownerDatabaseUrl ?? '' });
      await client.connect();
      try {
        const { rows } = await client.query(
          "SELECT column_name FROM information_schema.columns WHERE table_name = 'products' AND column_name IN ('sku', 'stock_code')",
        );
        expect(rows).toEqual([{ column_name: 'sku' }]);
      } finally {
        await client.end();
      }
      await expectOnStable(record);
    },
    SLOW,
  );

  it(
    'takes a good signed build through every stage to 100 %, under traffic, without dropping a request',
    async () => {
      const record = await timed('good', goodReference);
      expect(record.outcome, `${record.reason ?? ''}\n${lines.join('\n')}`).toBe('promoted');
      expect(record.stages.map((s) => s.weight)).toEqual(RELEASE_PLAN.stages.map((s) => s.weight));
      for (const stage of record.stages.slice(0, -1)) {
        expect(stage.gates.map((g) => `${g.kind}:${g.name}:${g.verdict}`).sort()).toEqual([
          'load:gate:passed',
          'slo:availability:passed',
          'slo:latency:passed',
        ]);
      }
      expect(record.timings.droppedRequests).toBe(0);
      // the image's own pg_dump took a complete backup into the platform's store before migrating
      expect(lines.join('\n')).toMatch(/backup taken: \d{4}-\d{2}-\d{2}T/);
      expect(await latestBackupId(platformStore())).toBeDefined();
      expect(record.evidence?.sbom.packages).toBeGreaterThan(100);
      expect(record.evidence).toMatchObject({ digest: app.digest, scan: { verdict: 'pass', findings: 0 } });
      const stable = readStable(scope);
      expect(stable?.digest).toBe(app.digest);
      const split = await appliedSplit(frontDoor());
      const nginxDir = join(localPaths(scope).dir, 'nginx');
      expect(
        split.servers,
        `${JSON.stringify(record.stages.map((s) => [s.weight, s.weightAppliedAt]))}\n${readFileSync(join(nginxDir, 'split.json'), 'utf8')}\n${readFileSync(join(nginxDir, 'error.log'), 'utf8').slice(-3000)}`,
      ).toEqual([{ address: stable?.address, weight: 100 }]);
      // the executor's Argo Rollouts metrics reached Prometheus under the names and labels the dashboards query
      const prometheus = `http://${HOST}:${env.SLIPWAY_PROMETHEUS_PORT ?? ''}`;
      for (const query of [
        'max_over_time(rollout_info{name="erp-api",exported_namespace="local",phase="Progressing"}[10m]) == 1',
        'max_over_time(analysis_run_metric_phase{name=~"erp-api-.*",metric="availability",phase="Successful"}[10m]) == 1',
        'max_over_time(analysis_run_info{name=~"erp-api-.*",phase="Successful"}[10m]) == 1',
      ]) {
        const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(query)}`);
        const body = (await response.json()) as { data: { result: unknown[] } };
        expect(body.data.result.length, query).toBeGreaterThan(0);
      }
      const answer = await fetch(`${frontDoor()}/health/ready`);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-upstream-addr')).toBe(stable?.address);
      // the previous stable, the app npm start ran from source, drained and stopped, and its supervisor let it be
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const source = await fetch(`http://${HOST}:${env.PORT ?? ''}/health/live`).then(
        (response) => response.status,
        () => 'refused',
      );
      expect(source).toBe('refused');
      expect(lines.join('\n')).toMatch(/the previous stable, the platform's own app \(pid \d+\), drained and stopped/);
      // the dashboard preview over the release: Argo Rollouts' panels have data, none is cluster-only or no-release
      const { panels } = await previewDashboards({ prometheusUrl: prometheus, rangeSeconds: 600 });
      const argo = panels.filter((panel) => ['Analysis results', 'Rollout phase'].includes(panel.title));
      expect(argo.map((panel) => `${panel.title}: ${panel.status} ${panel.detail}`).sort()).toEqual([
        'Analysis results: data ',
        'Rollout phase: data ',
      ]);
    },
    SLOW,
  );

  it(
    'rolls back a canary answering 5 % 5xx at its first stage, fast, and refuses a second deploy meanwhile',
    async () => {
      const first = timed('5 % 5xx', faultReference.errors ?? '');
      let settled = false;
      void first.then(
        () => (settled = true),
        () => (settled = true),
      );
      // the executor claims the release before any slow step: only the stable container's check comes first
      await waitUntil(
        'the deploy to claim the release',
        async () => {
          if (readRunning(scope) !== undefined) return true;
          // a deploy that failed throws its own error here; one that ended says how
          if (settled) throw new Error(`the deploy ended ${(await first).outcome} before the test saw its claim`);
          return undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100, seen: runningState },
      );
      const running = readRunning(scope);
      await expect(deploy(options(goodReference))).rejects.toThrow(`release ${running?.id ?? '?'} is running`);
      const record = await first;
      expect(record.outcome).toBe('rolled-back');
      // whichever sees the errors first: the SLO query on the canary's series, the load gate's own error rate, or
      // the gate's seeding meeting one of the 500s (no verdict, which rolls back too)
      expect(record.reason).toMatch(
        /^stage 1 \(10 %\): (slo gate availability failed|load gate gate failed: .*http_req_failed rate<0\.001 \(measured 0\.0[45]\d*\)|load gate gate inconclusive: .*answered 500)/,
      );
      expect(record.timings.failedVerdictAfterTrafficSeconds).toBeLessThanOrEqual(60);
      expect(record.timings.rollbackSeconds).toBeLessThanOrEqual(10);
      await expectOnStable(record);
    },
    SLOW,
  );

  it(
    'rolls back a canary adding 400 ms at its first stage, on its latency',
    async () => {
      const record = await timed('400 ms', faultReference.slow ?? '');
      expect(record.outcome).toBe('rolled-back');
      // whichever sees the delay first: the latency SLO on the canary's series, or the gate's p99 against stable's
      expect(record.reason).toMatch(/^stage 1 \(10 %\): (slo gate latency failed|load gate gate failed: .*p99)/);
      await expectOnStable(record);
    },
    SLOW,
  );

  it(
    'Alertmanager delivers CanaryAnalysisFailed for the failed analysis runs to the local receiver',
    async () => {
      const began = Date.now();
      // the runs whose gates failed, named as the executor and the platform's Argo Rollouts history export them
      const failedRuns = listRecords(scope).flatMap((record) =>
        record.stages
          .filter((stage) => stage.gates.some((gate) => gate.verdict === 'failed'))
          .map((stage) => `erp-api-${record.canary.podTemplateHash}-${String(stage.index)}`),
      );
      expect(failedRuns.length).toBeGreaterThan(0);
      const receiverUrl = `http://${HOST}:${env.SLIPWAY_ALERT_RECEIVER_PORT ?? ''}`;
      let received: string[] = [];
      // Prometheus evaluates every 2 s; the ticket route waits 30 s (group_wait) before its first notification
      const delivered = await waitUntil(
        `a firing CanaryAnalysisFailed for ${failedRuns.join(', ')} at the ticket receiver`,
        async () => {
          const alerts = (await notifications(receiverUrl, 'ticket')).flatMap(
            (notification) => notification.payload.alerts ?? [],
          );
          received = alerts.map(
            (alert) => `${alert.labels.alertname ?? '?'} ${alert.labels.name ?? ''} ${alert.status}`,
          );
          return alerts.find(
            (alert) =>
              alert.labels.alertname === 'CanaryAnalysisFailed' &&
              failedRuns.includes(alert.labels.name ?? '') &&
              alert.status === 'firing',
          );
        },
        {
          timeoutMs: 90_000,
          intervalMs: 1_000,
          seen: () => `the ticket route received: ${received.join('; ') || 'nothing'}`,
        },
      );
      expect(delivered.labels).toMatchObject({ phase: 'Failed', severity: 'warning', service: 'erp-api' });
      durations.push(
        `CanaryAnalysisFailed delivered: ${((Date.now() - began) / 1000).toFixed(1)} s after the check began`,
      );
    },
    SLOW,
  );

  it(
    'stops before migrating when the backup fails, and leaves stable serving',
    async () => {
      const before = await appliedSplit(frontDoor());
      const nowhere = await freePort();
      lines.length = 0;
      const { record } = await deploy({
        ...options(faultReference.slow ?? ''),
        // the image's backup gets a store address nothing listens on
        env: { ...env, SLIPWAY_OBJECT_STORE_PORT: String(nowhere) },
      });
      expect(record.outcome).not.toBe('promoted');
      expect(record.reason).toMatch(/^backup before migrating failed: the image's backup command exited 1 /);
      expect(record.stages).toEqual([]);
      expect((await appliedSplit(frontDoor())).generation).toBe(before.generation);
      await expectOnStable(record);
    },
    SLOW,
  );

  it(
    'rolls back a canary that never becomes ready, before it takes any traffic',
    async () => {
      const before = await appliedSplit(frontDoor());
      const record = await timed('never ready', faultReference['never-ready'] ?? '');
      expect(record.outcome).toBe('rolled-back');
      expect(record.reason).toMatch(/never became ready/);
      expect(record.stages).toEqual([]);
      expect((await appliedSplit(frontDoor())).generation).toBe(before.generation);
      await expectOnStable(record);
    },
    SLOW,
  );

  it(
    'rolls back a canary that crashes a second after it starts taking traffic',
    async () => {
      const record = await timed('crash', faultReference.crash ?? '');
      expect(record.outcome).toBe('rolled-back');
      expect(record.reason).toMatch(/the canary (stopped answering|exited)/);
      await expectOnStable(record);
    },
    SLOW,
  );

  it(
    'leaves traffic on stable when the executor is killed mid-release (its guard restores it)',
    async () => {
      const began = Date.now();
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(repoRoot, 'pipelines', 'src', 'release', 'cli.ts'),
          'deploy',
          faultReference.slow ?? '',
          '--profile',
          'local',
          '--main-ref',
          'HEAD',
        ],
        { cwd: repoRoot, env, stdio: 'ignore' },
      );
      const id = await weightApplied(child);
      expect((await appliedSplit(frontDoor())).servers).toHaveLength(2);
      child.kill('SIGKILL');
      // the guard restores stable as soon as it sees the executor gone: a split, a canary stop (5 s) and the lock
      await waitUntil(
        'the guard to restore stable after the executor was killed',
        () => readRunning(scope) === undefined,
        { timeoutMs: 15_000, intervalMs: 100, seen: runningState },
      );
      const record = readRecord(scope, id);
      expect(record?.outcome).toBe('rolled-back');
      expect(record?.reason).toMatch(/died mid-release/);
      if (record) await expectOnStable(record);
      durations.push(`executor killed: ${((Date.now() - began) / 1000).toFixed(1)} s`);
      expect(existsSync(join(localPaths(scope).dir, 'releases'))).toBe(true);
    },
    SLOW,
  );

  it(
    'status names the stage, abort from another terminal puts all traffic back on stable',
    async () => {
      const began = Date.now();
      const child = releaseCli(['deploy', faultReference.slow ?? '', '--profile', 'local', '--main-ref', 'HEAD']);
      const deployed = finished(child);
      const id = await weightApplied(child);
      const status = await finished(releaseCli(['status']));
      expect(status.output).toContain(`release ${id}: running`);
      expect(status.output).toContain('stage   1 at 10 %');
      const abort = await finished(releaseCli(['abort']));
      expect(abort.code, abort.output).toBe(0);
      expect(abort.output).toContain(`${id}: rolled-back: aborted by an operator`);
      const { code, output } = await deployed;
      expect(code).toBe(1);
      // the deploy command leaves the release's HTML report beside its record
      const report = join(localPaths(scope).dir, 'releases', `${id}.html`);
      expect(output).toContain(`report: ${report}`);
      expect(readFileSync(report, 'utf8')).toContain('aborted by an operator');
      const record = readRecord(scope, id);
      if (record) await expectOnStable(record);
      durations.push(`abort: ${((Date.now() - began) / 1000).toFixed(1)} s`);
    },
    SLOW,
  );

  it(
    'promote from another terminal skips the remaining pauses and gates and makes the canary stable',
    async () => {
      const began = Date.now();
      const child = releaseCli(['deploy', faultReference.slow ?? '', '--profile', 'local', '--main-ref', 'HEAD']);
      const deployed = finished(child);
      const id = await weightApplied(child);
      const promote = await finished(releaseCli(['promote']));
      expect(promote.code, promote.output).toBe(0);
      expect(promote.output).toContain(`${id}: promoted`);
      expect((await deployed).code).toBe(0);
      const record = readRecord(scope, id);
      expect(record?.outcome).toBe('promoted');
      const stable = readStable(scope);
      expect(stable?.digest).toBe(record?.canary.digest);
      expect((await appliedSplit(frontDoor())).servers).toEqual([{ address: stable?.address, weight: 100 }]);
      durations.push(`promote: ${((Date.now() - began) / 1000).toFixed(1)} s`);
    },
    SLOW,
  );

  it(
    "npm stop's shutdown stops the promoted container too: no release container and no port is left",
    async () => {
      const stable = readStable(scope);
      expect(stable?.container).toBeDefined();
      expect((await run('podman', ['container', 'exists', stable?.container ?? ''])).code).toBe(0);
      await stopPlatform(supervisor, scope, silentProgress);
      const names = (await runOk('podman', ['ps', '--format', '{{.Names}}'], 'podman ps')).stdout.split('\n');
      expect(names.filter((name) => name.startsWith(releaseContainerPrefix(scope)))).toEqual([]);
      expect(readStable(scope)).toBeUndefined();
      const ports = [
        ...ALL_PORT_VARIABLES.map((variable) => Number(env[variable])),
        Number(stable?.address.split(':')[1]),
      ];
      const open: number[] = [];
      for (const port of ports) if (await listening(port)) open.push(port);
      expect(open).toEqual([]);
    },
    SLOW,
  );
});

/** Whether something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
