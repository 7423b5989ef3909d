import { join } from 'node:path';

import pg from 'pg';

import { scopeDir } from '../../src/platform/paths.js';
import { freePort } from '../../src/platform/ports.js';
import { silentProgress } from '../../src/platform/progress.js';
import { Supervisor } from '../../src/platform/supervisor.js';
import { registryService } from '../../src/release/registry.js';

/** A real registry of this test file's own, on a free loopback port, removed with the returned stop(). */
export async function startRegistry(label: string): Promise<{ address: string; stop: () => Promise<void> }> {
  const dir = join(scopeDir('test'), `run-${String(process.pid)}-registry-${label}`);
  const supervisor = new Supervisor(join(dir, 'state.json'), join(dir, 'logs'), silentProgress);
  const host = '127.0.0.1';
  const port = await freePort(host);
  await supervisor.start(registryService({ dir, host, port, portEnv: 'none (tests pick a free port)' }));
  return { address: `${host}:${String(port)}`, stop: () => supervisor.stopAll() };
}

/** A fresh database on the harness's PostgreSQL for one test file; returns its URL. */
export async function freshDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
