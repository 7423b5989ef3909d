import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';

import { scopeDir } from '../../src/platform/paths.js';
import { freePort } from '../../src/platform/ports.js';
import { silentProgress } from '../../src/platform/progress.js';
import { Supervisor } from '../../src/platform/supervisor.js';
import { runOk } from '../../src/release/exec.js';
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

interface Manifest {
  layers: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
}

/**
 * Rewrites one attestation in the registry the way an attacker with push rights would: the statement's predicate
 * changes, its DSSE signature stays. cosign must then refuse it.
 */
export async function alterAttestation(
  registry: string,
  repository: string,
  digest: string,
  predicateType: string,
): Promise<void> {
  const base = `http://${registry}/v2/${repository}`;
  const tag = `${digest.replace(':', '-')}.att`;
  const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json' };
  const manifestResponse = await fetch(`${base}/manifests/${tag}`, { headers: accept });
  const mediaType = manifestResponse.headers.get('content-type') ?? 'application/vnd.oci.image.manifest.v1+json';
  const manifest = (await manifestResponse.json()) as Manifest;
  const layer = manifest.layers.find((l) => l.annotations?.predicateType === predicateType);
  if (!layer) throw new Error(`no ${predicateType} layer in ${repository}:${tag}`);
  const envelope = (await (await fetch(`${base}/blobs/${layer.digest}`)).json()) as { payload: string };
  const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as {
    predicate: Record<string, unknown>;
  };
  statement.predicate.findings = [];
  statement.predicate.counts = { critical: 0, altered: 1 };
  envelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  const body = Buffer.from(JSON.stringify(envelope));
  const newDigest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const upload = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
  const location = new URL(upload.headers.get('location') ?? '', `http://${registry}`);
  location.searchParams.set('digest', newDigest);
  const put = await fetch(location, { method: 'PUT', body, headers: { 'Content-Type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`blob upload answered ${String(put.status)}`);
  layer.digest = newDigest;
  layer.size = body.length;
  const saved = await fetch(`${base}/manifests/${tag}`, {
    method: 'PUT',
    body: JSON.stringify(manifest),
    headers: { 'Content-Type': mediaType },
  });
  if (saved.status !== 201) throw new Error(`manifest upload answered ${String(saved.status)}: ${await saved.text()}`);
}

/**
 * A local OSV database in osv-scanner's offline layout (<dir>/osv-scanner/<ecosystem>/all.zip) from the advisory
 * records under test/fixtures/osv/<ecosystem>/; ecosystems without records get an empty archive.
 */
export async function fixtureOsvDatabase(dir: string): Promise<string> {
  const fixtures = join(fixturesDir, 'osv');
  for (const ecosystem of ['npm', 'Debian']) {
    const target = join(dir, 'osv-scanner', ecosystem);
    mkdirSync(target, { recursive: true });
    const records = existsSync(join(fixtures, ecosystem)) ? readdirSync(join(fixtures, ecosystem)) : [];
    if (records.length === 0) {
      // the end-of-central-directory record alone: a valid zip with no entries
      writeFileSync(join(target, 'all.zip'), Buffer.concat([Buffer.from('PK\x05\x06'), Buffer.alloc(18)]));
      continue;
    }
    await runOk(
      'zip',
      ['-q', '-X', '-j', join(target, 'all.zip'), ...records.map((r) => join(fixtures, ecosystem, r))],
      'zipping the OSV fixture',
    );
  }
  return dir;
}

export const fixturesDir = fileURLToPath(new URL('../fixtures', import.meta.url));
