/* eslint-disable security/detect-non-literal-fs-filename -- paths are the test run folder under .local/test, built by the tests */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { processStartTime } from '@slipway/pipelines/platform/processes';
import { freePort } from './net.js';
import { claimRunFolder } from './run-folder.js';
import { statusOf, waitFor } from './server-process.js';
import type { Exit } from './server-process.js';

const NGINX = '/usr/sbin/nginx';

export interface NginxOptions {
  /** Folder for the config, pid, logs and temp files; created if missing. */
  readonly dir: string;
  /** Upstream `host:port`s, round-robin. */
  readonly upstreams: readonly string[];
  /** A run folder's state file to record nginx in, so the harness's sweep stops it if the worker dies. */
  readonly stateFile?: string;
}

/** A real nginx load balancer in front of the given upstreams, as the cluster's ingress stands in front of pods. */
export interface Nginx {
  readonly url: string;
  /** nginx's error log so far, for failure messages. */
  errorLog(): string;
  /** Stops nginx (SIGQUIT, then SIGKILL) and waits for it to exit; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * The ingress settings that make a rolling restart invisible to clients: retry an idempotent request on the next
 * upstream on a connection error, a timeout or a 503, fail over fast on a refused connection, and keep
 * connections to the upstreams alive. `X-Upstream-Addr` tells the test which instance answered.
 */
function configuration(dir: string, port: number, upstreams: readonly string[]): string {
  const path = (name: string): string => join(dir, name);
  return `daemon off;
master_process off;
worker_processes 1;
pid ${path('nginx.pid')};
error_log ${path('error.log')} warn;
events { worker_connections 512; }
http {
  access_log ${path('access.log')};
  client_body_temp_path ${path('client_body_temp')};
  proxy_temp_path ${path('proxy_temp')};
  fastcgi_temp_path ${path('fastcgi_temp')};
  uwsgi_temp_path ${path('uwsgi_temp')};
  scgi_temp_path ${path('scgi_temp')};
  upstream erp_api {
${upstreams.map((address) => `    server ${address} max_fails=1 fail_timeout=10s;`).join('\n')}
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://erp_api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_connect_timeout 250ms;
      proxy_read_timeout 10s;
      proxy_next_upstream error timeout http_503;
      proxy_next_upstream_tries 3;
      proxy_next_upstream_timeout 5s;
      add_header X-Upstream-Addr $upstream_addr always;
    }
  }
}
`;
}

/** Starts nginx in the foreground with everything it writes under `dir`, and waits until it proxies /health/live. */
export async function startNginx({ dir, upstreams, stateFile }: NginxOptions): Promise<Nginx> {
  if (stateFile !== undefined) claimRunFolder(stateFile);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, configuration(dir, port, upstreams));
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(NGINX, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    // Its own process group, so the sweep's group kill reaches it and nothing else.
    detached: true,
  });
  if (stateFile !== undefined && child.pid !== undefined) {
    claimRunFolder(stateFile, [
      {
        name: 'nginx',
        pid: child.pid,
        startTime: processStartTime(child.pid) ?? 'unknown',
        restarts: 0,
        command: NGINX,
        url,
        stopSignal: 'SIGQUIT',
        stopTimeoutMs: 5_000,
        log: join(dir, 'error.log'),
      },
    ]);
  }
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let exit: Exit | undefined;
  void exited.then((value) => (exit = value));
  const errorLog = (): string => {
    const file = join(dir, 'error.log');
    return `${stderr}${existsSync(file) ? readFileSync(file, 'utf8') : ''}`;
  };
  const stop = async (): Promise<void> => {
    if (exit) return;
    child.kill('SIGQUIT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    if (stateFile !== undefined) claimRunFolder(stateFile, []);
  };
  try {
    await waitFor('nginx to proxy /health/live', async () => {
      if (exit) throw new Error(`nginx exited at start (${JSON.stringify(exit)}): ${errorLog()}`);
      return (await statusOf(`${url}/health/live`)) === 200 ? true : undefined;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, errorLog, stop };
}
