import { chownSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { ownedDirectory, serviceAccount } from '../accounts.js';
import { PlatformError } from '../errors.js';
import type { Progress } from '../progress.js';
import type { RunAs, ServiceDefinition } from '../supervisor.js';
import { httpProbe } from './local-service.js';

export const NGINX = '/usr/sbin/nginx';

/** One version behind the front door and its share of requests. */
export interface UpstreamServer {
  /** `host:port` of the version. */
  readonly address: string;
  /** Relative weight (nginx's weighted round-robin); a version with weight 0 is left out of the upstream. */
  readonly weight: number;
}

/** What the front door sends where, as `GET /-/traffic` reports it once nginx runs it. */
export interface TrafficSplit {
  /** Rises by one with each change, so a caller knows when nginx applied its own. */
  readonly generation: number;
  readonly servers: readonly UpstreamServer[];
}

export interface NginxOptions {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
  /** The versions that take requests from the first start (the platform's app). */
  readonly servers: readonly UpstreamServer[];
}

export interface NginxService extends ServiceDefinition {
  /** Folder holding nginx.conf and the split file; known after prepare(). */
  readonly configDir: () => string;
}

/**
 * The front door, as ingress-nginx is in the cluster: retries an idempotent request on the next version when one
 * refuses or drops the connection, keeps connections to the versions alive, and tells which version answered in
 * `X-Upstream-Addr`. One worker, so the weighted round-robin splits requests exactly.
 */
function mainConfig(dir: string, host: string, port: number): string {
  const path = (name: string): string => join(dir, name);
  return `daemon off;
master_process on;
worker_processes 1;
pid ${path('nginx.pid')};
error_log ${path('error.log')} warn;
events { worker_connections 1024; }
http {
  access_log ${path('access.log')};
  client_body_temp_path ${path('client_body_temp')};
  proxy_temp_path ${path('proxy_temp')};
  fastcgi_temp_path ${path('fastcgi_temp')};
  uwsgi_temp_path ${path('uwsgi_temp')};
  scgi_temp_path ${path('scgi_temp')};
  include ${path('split.conf')};
  server {
    listen ${host}:${port};
    # a reload closes idle client connections; a client that sends on one as it closes loses that request, so the
    # front door keeps none and a weight change drops nothing
    keepalive_timeout 0;
    include ${path('split-location.conf')};
    location / {
      proxy_pass http://erp_api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_connect_timeout 250ms;
      proxy_read_timeout 30s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
      proxy_next_upstream_timeout 5s;
      add_header X-Upstream-Addr $upstream_addr always;
    }
  }
}
`;
}

function validSplit(split: TrafficSplit): void {
  const live = split.servers.filter((server) => server.weight > 0);
  const wrong = split.servers.find(
    (server) => !Number.isInteger(server.weight) || server.weight < 0 || !/^[\w.-]+:\d{1,5}$/.test(server.address),
  );
  if (wrong !== undefined || live.length === 0) {
    throw new PlatformError(
      wrong === undefined
        ? `traffic split ${JSON.stringify(split.servers)} sends requests nowhere`
        : `upstream ${JSON.stringify(wrong)} is not host:port with a whole weight of 0 or more`,
      'give at least one version a positive whole weight, addresses as 127.0.0.1:<port>',
    );
  }
}

/** Writes the split nginx reads on its next reload; each file is replaced in one rename. */
function writeSplit(dir: string, split: TrafficSplit, runAs: RunAs | undefined): void {
  validSplit(split);
  const live = split.servers.filter((server) => server.weight > 0);
  const upstream = `upstream erp_api {\n${live.map((s) => `  server ${s.address} weight=${String(s.weight)} max_fails=0;`).join('\n')}\n  keepalive 16;\n}\n`;
  const body = JSON.stringify(split).replaceAll("'", '');
  const location = `location = /-/traffic {\n  default_type application/json;\n  return 200 '${body}';\n}\n`;
  for (const [name, text] of [
    ['split.conf', upstream],
    ['split-location.conf', location],
    ['split.json', `${JSON.stringify(split, null, 2)}\n`],
  ] as const) {
    const tmp = join(dir, `${name}.tmp`);
    writeFileSync(tmp, text, { mode: 0o644 });
    if (runAs) chownSync(tmp, runAs.uid, runAs.gid);
    renameSync(tmp, join(dir, name));
  }
}

/** The split written last (what nginx runs once its reload finished). */
export function readSplit(dir: string): TrafficSplit {
  return JSON.parse(readFileSync(join(dir, 'split.json'), 'utf8')) as TrafficSplit;
}

/** nginx workers of this master that still accept connections (one that drains calls itself "shutting down"). */
function acceptingWorkers(master: number): number {
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent !== master) continue;
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (title.includes('worker process') && !title.includes('shutting down')) count += 1;
    } catch {
      // the process ended while we looked
    }
  }
  return count;
}

/** What the running nginx at `url` applies now. */
export async function appliedSplit(url: string): Promise<TrafficSplit> {
  const response = await fetch(`${url}/-/traffic`, { signal: AbortSignal.timeout(2_000) });
  if (response.status !== 200) throw new Error(`GET ${url}/-/traffic answered ${response.status}`);
  return (await response.json()) as TrafficSplit;
}

/**
 * Moves the front door's traffic: writes the new split and reloads nginx (SIGHUP: new workers take new connections,
 * the old ones finish the requests they hold, so nothing is dropped), then waits until nginx answers with it.
 * @returns when nginx applied it.
 */
export async function applySplit(
  dir: string,
  url: string,
  servers: readonly UpstreamServer[],
  timeoutMs = 10_000,
): Promise<{ split: TrafficSplit; appliedAt: Date }> {
  const split: TrafficSplit = { generation: readSplit(dir).generation + 1, servers };
  const master = Number(readFileSync(join(dir, 'nginx.pid'), 'utf8').trim());
  const runAs = serviceAccount('www-data', 'nginx');
  writeSplit(dir, split, runAs);
  process.kill(master, 'SIGHUP');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const applied = await appliedSplit(url).catch(() => undefined);
    // until the old worker says it is shutting down it still accepts connections, with the old split
    if (
      applied?.generation === split.generation &&
      JSON.stringify(applied.servers) === JSON.stringify(servers) &&
      acceptingWorkers(master) === 1
    )
      return { split, appliedAt: new Date() };
    if (Date.now() > deadline) {
      throw new PlatformError(
        `nginx did not apply traffic split ${String(split.generation)} (${JSON.stringify(servers)}) within ${String(timeoutMs / 1000)} s; it answers ${JSON.stringify(await appliedSplit(url).catch((error: unknown) => String(error)))}`,
        `read ${join(dir, 'error.log')}`,
      );
    }
    await sleep(20);
  }
}

/** Debian's nginx as the platform's front door (127.0.0.1:8080 by default), in front of the app's versions. */
export function nginxService(options: NginxOptions): NginxService {
  const { host, port } = options;
  const url = `http://${host}:${port}`;
  const runAs = serviceAccount('www-data', 'nginx');
  let dir = options.dir;
  return {
    name: 'nginx',
    host,
    port,
    portEnv: options.portEnv,
    url,
    configDir: () => dir,
    command: NGINX,
    get args() {
      return ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')];
    },
    cwd: '/',
    ...(runAs ? { runAs } : {}),
    // graceful: the workers finish the requests they hold
    stopSignal: 'SIGQUIT',
    stopTimeoutMs: 10_000,
    prepare(progress: Progress): Promise<void> {
      dir = ownedDirectory(options.dir, runAs, progress);
      writeFileSync(join(dir, 'nginx.conf'), mainConfig(dir, host, port), { mode: 0o644 });
      writeSplit(dir, { generation: 1, servers: options.servers }, runAs);
      return Promise.resolve();
    },
    probe: httpProbe(url, '/health/live', '/health/live through nginx'),
  };
}
