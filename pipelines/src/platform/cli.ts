import { relative } from 'node:path';

import { stopPlatform, stopReleaseContainers } from '../release/canary/shutdown.js';
import { PlatformError } from './errors.js';
import {
  adminPasswordFile,
  LOCAL_ADMIN_EMAIL,
  LOCAL_APP_LIMITS,
  localPaths,
  localPlatform,
  platformScope,
  RUNNING_FOOTER,
} from './local.js';
import { repoRoot } from './paths.js';
import { waitForExit } from './processes.js';
import { consoleProgress, seconds } from './progress.js';
import {
  AlreadyRunning,
  claimState,
  DEFAULT_RESTART_POLICY,
  isRecordedAlive,
  isSupervisorAlive,
  readPidFiles,
  readState,
  stopRecorded,
  Supervisor,
  type ServiceRecord,
} from './supervisor.js';

const USAGE = 'usage: platform <start|stop|status>  (npm start, npm stop, npm run status)';

function serviceTable(services: readonly ServiceRecord[]): string {
  const width = Math.max(...services.map((s) => s.name.length));
  return services.map((s) => `  ${s.name.padEnd(width)}  ${s.url}  (log: ${relative(repoRoot, s.log)})\n`).join('');
}

/** How to try the API: where its docs are and how the local administrator signs in (the password stays in its file). */
function tryIt(services: readonly ServiceRecord[], scope: string): string {
  // the front door when it runs, as people reach the app in the cluster through the ingress
  const app = services.find((s) => s.name === 'nginx') ?? services.find((s) => s.name === 'app');
  if (app === undefined) return '';
  const passwordFile = relative(repoRoot, adminPasswordFile(scope));
  return (
    `Try it:\n` +
    `  API docs (Swagger UI)  ${app.url}/api/docs\n` +
    `  administrator          ${LOCAL_ADMIN_EMAIL}, password in ${passwordFile}\n` +
    `  sign in                curl -s ${app.url}/api/v1/auth/login -H 'Content-Type: application/json' \\\n` +
    `                           -d "{\\"email\\":\\"${LOCAL_ADMIN_EMAIL}\\",\\"password\\":\\"$(cat ${passwordFile})\\"}"\n` +
    `  limits                 ${limitsNote()}\n\n`
  );
}

/** Which per-client limits the app runs with: lifted by default, since every local client is 127.0.0.1. */
function limitsNote(): string {
  const limit = process.env.RATE_LIMIT_PER_MINUTE ?? LOCAL_APP_LIMITS.RATE_LIMIT_PER_MINUTE;
  const proxy = process.env.TRUST_PROXY ?? LOCAL_APP_LIMITS.TRUST_PROXY;
  const why =
    limit === LOCAL_APP_LIMITS.RATE_LIMIT_PER_MINUTE
      ? ' (every local client is 127.0.0.1; RATE_LIMIT_PER_MINUTE=100 npm start for the production limit)'
      : '';
  return `RATE_LIMIT_PER_MINUTE=${limit} TRUST_PROXY=${proxy}${why}`;
}

async function start(): Promise<number> {
  const scope = platformScope(process.env);
  const { stateFile, logDir } = localPaths(scope);
  try {
    await claimState(stateFile, consoleProgress);
  } catch (error) {
    if (!(error instanceof AlreadyRunning)) throw error;
    process.stdout.write(
      `Slipway is already running (pid ${error.state.supervisorPid}, since ${error.state.startedAt}):\n` +
        `${serviceTable(error.state.services)}Stop it with: npm stop\n`,
    );
    return 0;
  }

  const began = Date.now();
  const definitions = localPlatform(process.env, scope);
  const supervisor = new Supervisor(stateFile, logDir, consoleProgress);
  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      process.stdout.write(`\n${reason}: stopping the platform\n`);
      await stopPlatform(supervisor, scope, consoleProgress);
    })();
    return stopping;
  };

  const finished = new Promise<number>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => void shutdown(signal).then(() => resolve(0)));
    }
    // as a cluster would: a service that dies comes back after a back-off, and npm run status counts it
    supervisor.restartPolicy = DEFAULT_RESTART_POLICY;
    supervisor.onUnexpectedExit = (name, code, signal, log) => {
      consoleProgress.warn(
        `${name} exited unexpectedly (code ${String(code)}, signal ${String(signal)}); see ${relative(repoRoot, log)}`,
      );
    };
    supervisor.onRestart = (name, restarts, delayMs) => {
      if (delayMs === undefined) consoleProgress.ok(`${name} is back (restart ${restarts})`);
      else consoleProgress.step(`restarting ${name} in ${seconds(delayMs)} (restart ${restarts})`);
    };
  });

  try {
    for (const definition of definitions) {
      if (stopping) break;
      await supervisor.start(definition);
    }
  } catch (error) {
    await shutdown('start-up failed');
    throw error;
  }
  if (!stopping) {
    // one write, so whoever watches the output sees the whole table at once
    const elapsed = seconds(Date.now() - began);
    process.stdout.write(
      `\nSlipway is running (${elapsed}):\n${serviceTable(supervisor.services)}\n${tryIt(supervisor.services, scope)}${RUNNING_FOOTER}\n`,
    );
  }
  return finished;
}

async function stop(): Promise<number> {
  const scope = platformScope(process.env);
  const { stateFile } = localPaths(scope);
  const state = readState(stateFile);
  if (!state) {
    process.stdout.write('Slipway is not running.\n');
    return 0;
  }
  if (isSupervisorAlive(state)) {
    consoleProgress.step(`asking the supervisor (pid ${state.supervisorPid}) to stop`);
    process.kill(state.supervisorPid, 'SIGTERM');
    const longest = Math.max(10_000, ...state.services.map((s) => s.stopTimeoutMs));
    if (!(await waitForExit(state.supervisorPid, longest * state.services.length + 5_000))) {
      consoleProgress.warn(`the supervisor did not exit; stopping its services directly`);
    }
  }
  // Whatever is still recorded (a supervisor that died or hung) is stopped here.
  const recorded = [...(readState(stateFile)?.services ?? state.services), ...readPidFiles(stateFile)];
  await stopRecorded(stateFile, consoleProgress);
  await stopReleaseContainers(scope, consoleProgress);
  const left = recorded.filter(isRecordedAlive);
  if (left.length > 0) {
    throw new PlatformError(
      `still running after stop: ${left.map((s) => `${s.name} (pid ${s.pid})`).join(', ')}`,
      `kill them by hand: kill -9 ${left.map((s) => s.pid).join(' ')}`,
    );
  }
  process.stdout.write('Slipway is stopped.\n');
  return 0;
}

function status(): number {
  const { stateFile } = localPaths(platformScope(process.env));
  const state = readState(stateFile);
  if (!state) {
    process.stdout.write('Slipway is not running.\n');
    return 0;
  }
  const alive = isSupervisorAlive(state);
  process.stdout.write(
    `Supervisor pid ${state.supervisorPid} (${alive ? 'running' : 'gone'}), started ${state.startedAt}\n`,
  );
  for (const service of state.services) {
    const up = isRecordedAlive(service);
    const condition = service.restarting === true ? 'restarting' : up ? 'running' : 'stopped';
    process.stdout.write(
      `  ${service.name.padEnd(10)} ${condition.padEnd(10)}  pid ${service.pid}  restarts ${service.restarts}  ${service.url}\n`,
    );
  }
  return alive ? 0 : 1;
}

async function main(argv: readonly string[]): Promise<number> {
  const command = argv[0];
  switch (command) {
    case 'start':
      return start();
    case 'stop':
      return stop();
    case 'status':
      return status();
    default:
      process.stderr.write(
        `${command === undefined ? 'no command given' : `unknown command '${command}'`}\n${USAGE}\n`,
      );
      return 64;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `${error instanceof PlatformError ? error.format() : String(error instanceof Error ? error.stack : error)}\n`,
    );
    process.exit(1);
  },
);
